"""``elmo task data``: the same splits from the pinned packages, readable by ``elmo task train``."""

import json

import pytest

from elmo.cli import main
from elmo.errors import InvalidInputError
from elmo.tasks import read_dataset
from elmo.tasks.datasets import write_task_data
from factories import FIXTURES

DATA = FIXTURES / "eval_data"


@pytest.mark.parametrize(
    "name, task, sizes", [("polarity", "classify", (20, 10, 10)), ("pos", "tag", (40, 8, 8))]
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


def test_the_command_writes_the_files_and_refuses_to_overwrite_without_force(tmp_path, capsys):
    argv = ["task", "data", "polarity", "--output", str(tmp_path), "--data-dir", str(DATA)]
    small = ["--offline", "--train", "10", "--valid", "5", "--test", "5"]
    assert main([*argv, *small]) == 0
    assert "train 10, valid 5, test 5 sentences" in capsys.readouterr().out
    assert main([*argv, *small]) == 2
    assert "holds task data already; pass --force" in capsys.readouterr().err
    assert main([*argv, *small, "--force", "--seed", "1"]) == 0
