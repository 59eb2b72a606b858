"""End to end on a tiny local "package": an injected fetch, never the network."""

import hashlib
import json

import pytest

from elmo.corpus_build.build import BuildError, build_corpus, output_files
from elmo.corpus_build.manifest import load_sources

ENGLISH_DOCS = [
    f"Document {i} talks about the river and the town. It was written by the clerk {i}.\n\n"
    f"The second paragraph of document {i} is here, and it is longer than the first one.\n\n"
    "This notice is printed on every page of the manual.\n\n"
    "Shared paragraph that appears in two sources and should be kept only once."
    for i in range(12)
]
SPANISH_PAGE = """<html><body>
<p>El documento {i} habla del río y de la ciudad. Lo escribió el secretario {i}.</p>
<p>Shared paragraph that appears in two sources and should be kept only once.</p>
<p>Este es un párrafo en español que está en la página {i} del manual.</p>
<p>x = f(y); z = g(w[0]);</p>
</body></html>"""

SOURCES = """
[corpus]
name = "tiny"
boilerplate_repeats = 5
drop = ['^Ignore me']

[split]
valid = 0.25
test = 0.25
salt = "test"

[[source]]
name = "english"
registry = "npm"
package = "tiny-docs"
version = "1.0.0"
licence = "CC0-1.0"
language = "en"
extractor = "plain"
include = ["package/docs/*.txt"]

[[source]]
name = "spanish"
registry = "npm"
package = "tiny-docs"
version = "1.0.0"
licence = "CC0-1.0"
language = "es"
extractor = "html"
include = ["package/es/*.html"]
"""


@pytest.fixture
def package(tmp_path):
    root = tmp_path / "package-root"
    (root / "package" / "docs").mkdir(parents=True)
    (root / "package" / "es").mkdir(parents=True)
    for i, text in enumerate(ENGLISH_DOCS):
        (root / "package" / "docs" / f"{i:02d}.txt").write_text(text, encoding="utf-8")
    for i in range(8):
        page = SPANISH_PAGE.replace("{i}", str(i))
        (root / "package" / "es" / f"{i}.html").write_text(page, encoding="utf-8")
    record = {"archive": "tiny-docs-1.0.0.tgz", "bytes": 123, "sha256": "ab" * 32}
    (root / ".fetched.json").write_text(json.dumps(record), encoding="utf-8")
    return root


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(SOURCES, encoding="utf-8")
    return load_sources(path)


def _fetcher(root, calls=None):
    def fetch(package, cache):
        if calls is not None:
            calls.append(package.key)
        return root

    return fetch


def _quiet(message):
    pass


def _build(spec, package, output, jobs=1, calls=None):
    return build_corpus(spec, output, jobs, _fetcher(package, calls), log=_quiet)


def test_build_writes_every_split_file_and_a_manifest_that_matches_them(tmp_path, spec, package):
    calls = []
    result = _build(spec, package, tmp_path / "out", calls=calls)
    assert calls == ["npm/tiny-docs-1.0.0"]  # one package, fetched once for both sources
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted([*output_files(), "MANIFEST.json"])
    manifest = json.loads((out / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest == result.manifest
    for name, summary in manifest["files"].items():
        data = (out / name).read_bytes()
        assert summary["sha256"] == hashlib.sha256(data).hexdigest()
        assert summary["lines"] == data.count(b"\n") and summary["bytes"] == len(data)
    english, spanish = manifest["sources"]
    assert english["package"] == {
        "registry": "npm",
        "name": "tiny-docs",
        "version": "1.0.0",
        "archive": "tiny-docs-1.0.0.tgz",
        "bytes": 123,
        "sha256": "ab" * 32,
    }
    for split in ("train", "valid", "test"):
        words = english["words"][split] + spanish["words"][split]
        assert manifest["files"][f"{split}.txt"]["words"] == words
    for language, source in (("en", english), ("es", spanish)):
        assert manifest["files"][f"valid.{language}.txt"]["words"] == source["words"]["valid"]
        assert manifest["words"][language]["all"] == sum(source["words"].values())


def test_one_sentence_a_line_and_each_language_in_its_own_held_out_files(tmp_path, spec, package):
    _build(spec, package, tmp_path / "out")
    out = tmp_path / "out"
    train = (out / "train.txt").read_text(encoding="utf-8").splitlines()
    assert "It was written by the clerk 0." in train or "It was written by the clerk 0." in (
        (out / "valid.txt").read_text(encoding="utf-8") + (out / "test.txt").read_text("utf-8")
    )
    for split in ("valid", "test"):
        english = (out / f"{split}.en.txt").read_text(encoding="utf-8")
        spanish = (out / f"{split}.es.txt").read_text(encoding="utf-8")
        assert "río" not in english and "river" not in spanish
        mixed = (out / f"{split}.txt").read_text(encoding="utf-8")
        assert sorted(mixed.splitlines()) == sorted((english + spanish).splitlines())


def test_a_document_never_straddles_two_splits(tmp_path, spec, package):
    _build(spec, package, tmp_path / "out")
    where = {}
    for split in ("train", "valid", "test"):
        for line in (tmp_path / "out" / f"{split}.txt").read_text(encoding="utf-8").splitlines():
            for marker in ("clerk ", "document ", "Document ", "secretario ", "página "):
                if marker in line:
                    number = line.split(marker)[1].split()[0].strip(".")
                    where.setdefault((marker.strip().lower()[:3], number), set()).add(split)
    assert where and all(len(splits) == 1 for splits in where.values())
    assert {s for splits in where.values() for s in splits} == {"train", "valid", "test"}


def test_boilerplate_duplicates_code_and_other_languages_are_dropped_and_counted(
    tmp_path, spec, package
):
    manifest = _build(spec, package, tmp_path / "out").manifest
    everything = "".join(
        (tmp_path / "out" / f"{split}.txt").read_text(encoding="utf-8")
        for split in ("train", "valid", "test")
    )
    assert "This notice is printed" not in everything  # 12 copies in one source: boilerplate
    assert everything.count("Shared paragraph that appears") == 0  # boilerplate in english
    assert "x = f(y)" not in everything
    english, spanish = manifest["sources"]
    assert english["paragraphs"]["dropped"]["boilerplate"] == 24
    assert spanish["paragraphs"]["dropped"] == {"code": 8, "language:en": 8}
    assert spanish["documents"]["extracted"] == 8
    assert sum(spanish["paragraphs"]["kept"].values()) == 16


def test_duplicates_across_sources_keep_the_first_copy(tmp_path, package):
    overlapping = SOURCES.split("[[source]]")[0] + (
        """
[[source]]
name = "first"
registry = "npm"
package = "tiny-docs"
version = "1.0.0"
licence = "CC0-1.0"
language = "en"
extractor = "plain"
include = ["package/docs/0[0-2].txt"]

[[source]]
name = "second"
registry = "npm"
package = "tiny-docs"
version = "1.0.0"
licence = "CC0-1.0"
language = "en"
extractor = "plain"
include = ["package/docs/*.txt"]
"""
    )
    path = tmp_path / "overlap.toml"
    path.write_text(overlapping, encoding="utf-8")
    manifest = _build(load_sources(path), package, tmp_path / "out").manifest
    first, second = manifest["sources"]
    # within "first", the notice and the shared paragraph repeat 3 times (too few for
    # boilerplate); "second" repeats the 2 other paragraphs of those 3 documents
    assert first["paragraphs"]["dropped"] == {"duplicate": 4}
    assert second["paragraphs"]["dropped"] == {"boilerplate": 24, "duplicate": 6}
    assert sum(second["paragraphs"]["kept"].values()) == 2 * 9


def test_the_output_does_not_depend_on_the_number_of_jobs(tmp_path, spec, package):
    _build(spec, package, tmp_path / "one", jobs=1)
    _build(spec, package, tmp_path / "two", jobs=2)
    for name in [*output_files(), "MANIFEST.json"]:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_sentences_outside_the_length_limits_are_dropped_and_counted(tmp_path, package):
    path = tmp_path / "limits.toml"
    path.write_text(
        SOURCES.replace(
            "boilerplate_repeats = 5", "min_sentence_words = 5\nmax_sentence_words = 8"
        ),
        encoding="utf-8",
    )
    manifest = _build(load_sources(path), package, tmp_path / "out").manifest
    lines = "".join(
        (tmp_path / "out" / f"{split}.txt").read_text(encoding="utf-8")
        for split in ("train", "valid", "test")
    ).splitlines()
    assert lines and all(5 <= len(line.split()) <= 8 for line in lines)
    english = manifest["sources"][0]
    # "It was written by the clerk N." (7 words) stays; the 10-word first sentence and the
    # 16-word second paragraph go, the latter taking its whole paragraph with it
    assert english["sentences"]["dropped"] == {"long": 24}
    assert english["paragraphs"]["dropped"]["no_sentence"] == 12
    assert manifest["settings"]["min_sentence_words"] == 5


def test_a_rebuild_replaces_the_previous_output(tmp_path, spec, package):
    _build(spec, package, tmp_path / "out")
    first = (tmp_path / "out" / "MANIFEST.json").read_bytes()
    _build(spec, package, tmp_path / "out")
    assert (tmp_path / "out" / "MANIFEST.json").read_bytes() == first
    assert not (tmp_path / "out" / ".building").exists()


def test_symlinked_aliases_and_copies_of_a_document_are_read_once(tmp_path, spec, package):
    docs = package / "package" / "docs"
    (docs / "alias.txt").symlink_to(docs / "05.txt")  # a man page alias
    (docs / "zz-copy.txt").write_bytes((docs / "07.txt").read_bytes())  # a page in two sections
    manifest = _build(spec, package, tmp_path / "out").manifest
    english = manifest["sources"][0]
    assert english["files"] == 13 and english["documents"]["extracted"] == 13
    assert english["documents"]["duplicate"] == 1
    assert "duplicate" not in english["paragraphs"]["dropped"]


def test_an_include_that_matches_nothing_names_the_source(tmp_path, spec, package):
    for page in (package / "package" / "es").iterdir():
        page.unlink()
    with pytest.raises(BuildError, match="source spanish: include"):
        _build(spec, package, tmp_path / "out")
