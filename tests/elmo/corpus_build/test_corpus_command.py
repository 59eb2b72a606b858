"""``elmo corpus build`` through the real CLI, on a package already in the cache (no network)."""

import json

from elmo.cli import main

SOURCES = """
[corpus]
name = "tiny"

[[source]]
name = "english"
registry = "npm"
package = "tiny-docs"
version = "1.0.0"
licence = "CC0-1.0"
language = "en"
extractor = "plain"
include = ["package/*.txt"]
"""


def _cache_with_package(tmp_path):
    root = tmp_path / "cache" / "npm" / "tiny-docs-1.0.0"
    (root / "package").mkdir(parents=True)
    for i in range(5):
        text = f"This is the text of document number {i}. It has two sentences in it."
        (root / "package" / f"{i}.txt").write_text(text, encoding="utf-8")
    record = {"archive": "tiny-docs-1.0.0.tgz", "bytes": 1, "sha256": "00" * 32}
    (root / ".fetched.json").write_text(json.dumps(record), encoding="utf-8")
    return tmp_path / "cache"


def test_corpus_build_writes_the_corpus_and_prints_a_table(tmp_path, capsys):
    cache = _cache_with_package(tmp_path)
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES, encoding="utf-8")
    out = tmp_path / "out"
    code = main(
        ["corpus", "build", "--sources", str(sources), "--output", str(out), "--cache", str(cache)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "english" in printed and f"wrote {out}" in printed
    manifest = json.loads((out / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["words"]["en"]["all"] == 5 * 14
    assert manifest["sources"][0]["package"]["archive"] == "tiny-docs-1.0.0.tgz"


def test_a_bad_sources_file_is_one_error_line_naming_it(tmp_path, capsys):
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES.replace('language = "en"', 'language = "xx"'), encoding="utf-8")
    code = main(["corpus", "build", "--sources", str(sources), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"elmo: error: {sources}: source[0] (english).language")
    assert err.count("\n") == 1
