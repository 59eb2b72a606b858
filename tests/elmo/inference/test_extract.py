import json

import h5py
import numpy as np
import pytest

from elmo.cli import main
from elmo.inference.embedder import Embedder
from factories import ELMO_REFERENCE

SENTENCES = json.loads((ELMO_REFERENCE / "sentences.json").read_text(encoding="utf-8"))
MODEL = str(ELMO_REFERENCE)


@pytest.fixture(scope="module")
def expected():
    return Embedder.from_pretrained(ELMO_REFERENCE).embed_tokens(SENTENCES)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(" ".join(s) for s in SENTENCES) + "\n\n", encoding="utf-8")
    return path


def embed(*args: str) -> int:
    return main(["embed", *args, "--model", MODEL, "--quiet"])


def test_hdf5_all_layers_equals_the_embedder_with_allennlp_layout(tmp_path, source, expected):
    out = tmp_path / "out.hdf5"
    assert embed(str(source), str(out), "--all", "--pretokenized") == 0
    with h5py.File(out, "r") as handle:
        keys = sorted(k for k in handle if k != "sentence_to_index")
        assert keys == sorted(str(i) for i in range(len(SENTENCES) + 1))
        for i, array in enumerate(expected):
            data = handle[str(i)]
            assert data.dtype == np.float32 and data.shape == (3, len(SENTENCES[i]), 32)
            np.testing.assert_allclose(data[...], array, rtol=0, atol=1e-6)
        assert handle[str(len(SENTENCES))].shape == (3, 0, 32)  # the empty line
        index = json.loads(handle["sentence_to_index"][()])
    assert index[" ".join(SENTENCES[1])] == "1" and index[""] == str(len(SENTENCES))


@pytest.mark.parametrize(
    ("flag", "pick"), [("--top", lambda a: a[2]), ("--average", lambda a: a.mean(0))]
)
def test_top_and_average_give_one_vector_per_token(tmp_path, source, expected, flag, pick):
    out = tmp_path / "out.h5"
    assert embed(str(source), str(out), flag, "--pretokenized") == 0
    with h5py.File(out, "r") as handle:
        np.testing.assert_allclose(handle["0"][...], pick(expected[0]), rtol=1e-6, atol=1e-6)


def test_npz_round_trip(tmp_path, source, expected):
    out = tmp_path / "out.npz"
    assert embed(str(source), str(out), "--pretokenized") == 0
    with np.load(out) as arrays:
        assert sorted(arrays.files, key=int) == [str(i) for i in range(len(SENTENCES) + 1)]
        np.testing.assert_allclose(arrays["3"], expected[3], rtol=0, atol=1e-6)


def test_jsonl_input_and_output_round_trip(tmp_path, expected):
    source = tmp_path / "in.jsonl"
    lines = [
        json.dumps(" ".join(SENTENCES[0])),
        json.dumps(SENTENCES[1]),
        json.dumps({"tokens": SENTENCES[2]}),
        json.dumps({"text": "Hola!"}),
        json.dumps(""),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert embed(str(source), str(out)) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]
    assert records[3]["tokens"] == ["Hola", "!"]  # raw text is tokenized
    for i in range(3):
        assert records[i]["tokens"] == SENTENCES[i]
        assert records[i]["shape"] == list(expected[i].shape)
        np.testing.assert_allclose(np.array(records[i]["vectors"]), expected[i], rtol=0, atol=1e-6)
    empty = records[4]  # an empty line keeps its shape, as in HDF5 and NPZ
    assert empty["tokens"] == [] and empty["shape"] == [3, 0, 32]
    assert np.array(empty["vectors"], dtype=np.float32).reshape(empty["shape"]).shape == (3, 0, 32)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"good\n\xff\xfe bad\n", "in.txt", "in.txt:2: not valid UTF-8"),
        (b'"ok"\n{not json\n', "in.jsonl", "in.jsonl:2: not valid JSON"),
        (b'"ok"\n[1, 2]\n', "in.jsonl", "in.jsonl:2: expected a string"),
        (b'"ok"\n{"words": []}\n', "in.jsonl", "in.jsonl:2: expected a string"),
        (b'"ok"\n"x"\n"a \\ud800"\n', "in.jsonl", "in.jsonl:3: the line holds a lone surrogate"),
        (b'"ok"\n{"tokens": ["a", "\\udfff"]}\n', "in.jsonl", "in.jsonl:2: the line holds a lone"),
    ],
)
def test_bad_lines_are_named_and_leave_no_output(tmp_path, capsys, content, name, message):
    source = tmp_path / name
    source.write_bytes(content)
    out = tmp_path / "out.hdf5"
    assert embed(str(source), str(out)) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [source]  # neither OUTPUT nor a temporary file


def test_existing_output_missing_input_and_unknown_type_are_refused(tmp_path, source, capsys):
    out = tmp_path / "out.hdf5"
    out.write_text("keep me")
    assert embed(str(source), str(out)) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_text() == "keep me"
    assert embed(str(tmp_path / "missing.txt"), str(tmp_path / "o.hdf5")) == 2
    assert "missing.txt: no such file" in capsys.readouterr().err
    assert embed(str(source), str(tmp_path / "out.csv")) == 2
    assert "unknown output type" in capsys.readouterr().err
    assert embed(str(source), str(out), "--force", "--pretokenized") == 0


def test_without_model_the_default_is_used_and_its_absence_is_explained(
    tmp_path, source, capsys, monkeypatch
):
    monkeypatch.setenv("ELMO_MODELS_DIR", str(tmp_path / "models"))
    assert main(["embed", str(source), str(tmp_path / "o.hdf5"), "--quiet"]) == 2
    assert "default: neither a directory nor a model in" in capsys.readouterr().err


def test_an_output_in_a_missing_directory_is_refused_naming_it(tmp_path, source, capsys):
    assert embed(str(source), str(tmp_path / "nowhere" / "out.hdf5")) == 2
    assert f"the directory {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err


def test_partial_files_of_killed_runs_are_removed_and_a_running_ones_kept(tmp_path, source):
    import os

    out = tmp_path / "out.hdf5"
    dead = tmp_path / ".out.hdf5.tmp999999999"  # no such process
    alive = tmp_path / f".out.hdf5.tmp{os.getppid()}"  # the process that runs the tests' parent
    dead.write_text("left by kill -9")
    alive.write_text("being written")
    assert embed(str(source), str(out)) == 0
    assert out.exists() and not dead.exists() and alive.exists()
