"""The probe chart: per-layer accuracy of the model beside its control, a PNG next to the
Markdown report and linked from it, and skipped (said once) without matplotlib."""

import logging

from elmo.cli import main
from elmo.evaluation.charts import probe_chart_png
from elmo.evaluation.report import report_markdown
from elmo.evaluation.runner import EvalReport, EvalSizes, ModelResults
from elmo.evaluation.sources import EvalData
from elmo.evaluation.tasks import TaskResult
from elmo.plots import PLOTS_INSTALL
from factories import png_size, without_matplotlib

VIEWS = ("layer 0", "layer 1", "layer 2", "average")
LINK = "![Probe accuracy per layer](EVALUATION.png)"


def _result(task: str, scores: tuple[float, ...], baseline: float) -> TaskResult:
    return TaskResult(
        task, f"{task} probe", "accuracy", dict(zip(VIEWS, scores, strict=True)), {"rule": baseline}
    )


def _report(tasks: tuple[str, ...] = ("pos", "wsd", "polarity"), lift: float = 0.0) -> EvalReport:
    models = []
    for label, base in (("trained", 80.0 + lift), ("random init (control)", 60.0)):
        results = {t: _result(t, (base, base + 5, base + 8, base + 6), 50.0) for t in tasks}
        models.append(ModelResults(label, results))
    summary: dict[str, str | int] = {
        "cell": "lstm",
        "layers": 3,
        "dim": 12,
        "parameters": 1000,
        "tokenizer": "words",
    }
    return EvalReport(
        "tiny",
        "tiny",
        summary,
        EvalSizes.preset("quick"),
        EvalData(None, None, None, {}),
        models,
        1.0,
    )


def test_the_chart_is_a_1200_by_450_png_with_identical_bytes_for_identical_results():
    first = probe_chart_png(_report())
    assert first is not None and png_size(first) == (1200, 450)
    assert probe_chart_png(_report()) == first
    assert probe_chart_png(_report(lift=10.0)) != first  # the bars follow the scores
    one_task = probe_chart_png(_report(tasks=("pos",)))
    assert one_task is not None and png_size(one_task) == (1200, 450) and one_task != first


def test_a_report_without_probe_tasks_draws_no_chart():
    assert probe_chart_png(_report(tasks=())) is None


def test_the_markdown_links_the_chart_under_the_probe_table_only_when_it_was_drawn():
    linked = report_markdown(_report(), chart="EVALUATION.png")
    table_end = linked.index("| polarity | random init (control) |")
    assert LINK in linked and table_end < linked.index(LINK) < linked.index("- POS (Brown):")
    assert ".png" not in report_markdown(_report())
    assert report_markdown(_report(), chart="EVALUATION.png").replace(LINK + "\n\n", "") == (
        report_markdown(_report())
    )


def _evaluate(tmp_path, monkeypatch) -> int:
    """``elmo evaluate --output`` on the synthetic report: the command's writing, not the suite."""
    monkeypatch.setattr("elmo.evaluation.command.run_evaluation", lambda *a, **k: _report())
    argv = ["evaluate", "tiny", "--tasks", "pairs", "--offline", "--data-dir", str(tmp_path)]
    return main([*argv, "--output", str(tmp_path / "EVALUATION.md")])


def test_evaluate_writes_the_chart_next_to_the_markdown_and_links_it(tmp_path, monkeypatch):
    assert _evaluate(tmp_path, monkeypatch) == 0
    assert (tmp_path / "EVALUATION.png").read_bytes() == probe_chart_png(_report())
    assert LINK in (tmp_path / "EVALUATION.md").read_text(encoding="utf-8")
    assert (tmp_path / "EVALUATION.json").exists()


def test_without_matplotlib_evaluate_says_so_once_and_links_no_picture(
    tmp_path, monkeypatch, caplog
):
    without_matplotlib(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="elmo.plots"):
        assert _evaluate(tmp_path, monkeypatch) == 0
    notices = [r.getMessage() for r in caplog.records if PLOTS_INSTALL in r.getMessage()]
    assert len(notices) == 1
    markdown = (tmp_path / "EVALUATION.md").read_text(encoding="utf-8")
    assert "| POS (Brown) | trained |" in markdown and ".png" not in markdown
    assert not (tmp_path / "EVALUATION.png").exists()
