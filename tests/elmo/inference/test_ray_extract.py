"""The Ray engine against ``elmo embed``'s own: same bits for every line, resumable shards."""

import json
import os
import sys

import numpy as np
import pytest

from elmo.cli import main
from elmo.inference.embedder import Embedder
from elmo.inference.extract import extract
from factories import ELMO_REFERENCE

SENTENCES = json.loads((ELMO_REFERENCE / "sentences.json").read_text(encoding="utf-8"))
MODEL = str(ELMO_REFERENCE)
# Ray's own deprecations (its DataContext warns about its own defaults, 2.60)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray\\..*")


@pytest.fixture(scope="module")
def cluster():
    """A local two-CPU cluster that every test of the module shares (starting one takes
    seconds)."""
    try:
        import ray
        import ray.data
    except ImportError:
        if os.environ.get("ELMO_REQUIRE_RAY") == "1":
            pytest.fail("ELMO_REQUIRE_RAY=1 but ray[data] is not importable")
        pytest.skip("ray[data] is not installed (pip install '.[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture
def source(tmp_path):
    """The reference sentences, raw text (tokenized with offsets), and an empty last line."""
    path = tmp_path / "in.txt"
    lines = [" ".join(s) for s in SENTENCES] + ["El gato, come."] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def embed_ray(source, out, *args: str) -> int:
    return main(
        ["embed", str(source), str(out), "--engine", "ray", "--model", MODEL, "--quiet", *args]
    )


def in_process(source, tmp_path, flag: str, *args: str) -> dict[str, np.ndarray]:
    """``elmo embed``'s arrays for each line, by line id."""
    out = tmp_path / f"expected{flag}.npz"
    layers = flag.lstrip("-")
    extract(Embedder.from_pretrained(ELMO_REFERENCE), source, out, layers, *args, progress=False)
    with np.load(out) as arrays:
        return {int(key): arrays[key] for key in arrays.files}


def read_back(out) -> dict[int, tuple[list[str], np.ndarray]]:
    from elmo.inference.ray_extract import iter_embeddings

    return {line: (tokens, vectors) for line, tokens, vectors in iter_embeddings(out)}


@pytest.mark.parametrize("flag", ["--all", "--top", "--average"])
def test_every_line_has_the_bits_of_elmo_embed(cluster, tmp_path, source, flag):
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    assert embed_ray(source, out, flag, "--shard-lines", "3", "--num-workers", "2") == 0
    expected = in_process(source, tmp_path, flag)
    got = read_back(out)
    assert sorted(got) == sorted(expected) == list(range(len(SENTENCES) + 2))
    for line, array in expected.items():
        assert got[line][1].dtype == np.float32 and np.array_equal(got[line][1], array), line
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["lines"] for s in manifest["shards"]] == [[0, 3], [3, 6], [6, 8]]
    assert manifest["settings"]["layers"] == flag.lstrip("-")
    rows = pq.read_table(out / "shard-00002.parquet").to_pylist()
    assert [r["line"] for r in rows] == [6, 7]
    comma = rows[0]  # raw text: tokenized here, with offsets into it
    assert comma["tokens"] == ["El", "gato", ",", "come", "."]
    assert [comma["text"][a:b] for a, b in comma["offsets"]] == comma["tokens"]
    assert rows[1]["tokens"] == [] and rows[1]["text"] == ""
    dim = 32
    assert manifest["vectors"]["shape"] == (
        [3, "tokens", dim] if flag == "--all" else ["tokens", dim]
    )


def test_jsonl_with_token_lists_and_pretokenized_text(cluster, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [
        json.dumps(SENTENCES[0]),
        json.dumps({"tokens": SENTENCES[1]}),
        json.dumps({"text": "Hola, mundo!"}),
        json.dumps(" ".join(SENTENCES[2])),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert embed_ray(source, out, "--shard-lines", "2") == 0
    expected = in_process(source, tmp_path, "--all")
    got = read_back(out)
    assert got[0][0] == SENTENCES[0] and got[2][0] == ["Hola", ",", "mundo", "!"]
    for line, array in expected.items():
        assert np.array_equal(got[line][1], array), line
    pretokenized = tmp_path / "words.txt"
    pretokenized.write_text("Hola, mundo!\n", encoding="utf-8")
    assert embed_ray(pretokenized, tmp_path / "words", "--pretokenized") == 0
    assert read_back(tmp_path / "words")[0][0] == ["Hola,", "mundo!"]


def test_a_rerun_recomputes_only_the_missing_shard_and_other_arguments_are_refused(
    cluster, tmp_path, source, capsys
):
    out = tmp_path / "out"
    assert embed_ray(source, out, "--shard-lines", "2") == 0
    files = sorted(out.glob("shard-*.parquet"))
    assert [f.name for f in files] == [f"shard-{i:05d}.parquet" for i in range(4)]
    before = {f.name: f.stat().st_mtime_ns for f in files}
    first = read_back(out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"] = [s for s in manifest["shards"] if s["file"] != "shard-00001.parquet"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "shard-00001.parquet").unlink()
    capsys.readouterr()
    assert embed_ray(source, out, "--shard-lines", "2", "--num-workers", "2") == 0
    assert "(1 shard(s) embedded now)" in capsys.readouterr().out
    after = {f.name: f.stat().st_mtime_ns for f in sorted(out.glob("shard-*.parquet"))}
    assert sorted(after) == sorted(before)
    assert [n for n in after if after[n] != before[n]] == ["shard-00001.parquet"]
    again = read_back(out)
    assert all(np.array_equal(again[k][1], first[k][1]) for k in first)
    assert embed_ray(source, out, "--shard-lines", "2") == 0  # all done: nothing runs
    assert "(0 shard(s) embedded now)" in capsys.readouterr().out

    assert embed_ray(source, out, "--shard-lines", "2", "--top") == 2
    err = capsys.readouterr().err
    assert err.startswith("elmo: error:") and 'layers: "all" then, "top" now' in err
    assert "--force" in err
    assert embed_ray(source, out, "--shard-lines", "3") == 2
    assert "shard_lines: 2 then, 3 now" in capsys.readouterr().err
    with source.open("a", encoding="utf-8") as handle:
        handle.write("one more line\n")
    assert embed_ray(source, out, "--shard-lines", "2") == 2
    assert "input.lines: 8 then, 9 now" in capsys.readouterr().err
    assert embed_ray(source, out, "--shard-lines", "3", "--top", "--force") == 0
    assert sorted(f.name for f in out.iterdir()) == [
        "manifest.json",
        *[f"shard-{i:05d}.parquet" for i in range(3)],
    ]


def test_a_bad_line_is_named_as_elmo_embed_names_it(cluster, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_bytes(b"good\nfine\n\xff\xfe bad\n")
    out = tmp_path / "out"
    assert embed_ray(source, out, "--shard-lines", "2") == 2
    assert "in.txt:3: not valid UTF-8" in capsys.readouterr().err
    listed = json.loads((out / "manifest.json").read_text())["shards"]
    assert all((out / s["file"]).is_file() for s in listed)  # only whole shards are listed
    assert not list(out.glob(".*"))  # no temporary file


def test_a_directory_of_other_files_is_not_taken_over(tmp_path, source, capsys):
    pytest.importorskip("ray.data")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert embed_ray(source, out) == 2
    assert "holds files but no manifest.json" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_without_ray_the_error_says_what_to_install(tmp_path, source, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    assert embed_ray(source, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.startswith("elmo: error:") and "pip install '.[ray]'" in err
    assert not (tmp_path / "out").exists()
