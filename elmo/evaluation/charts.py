"""The probe chart: each probe task's accuracy per layer, the model beside its control, as a PNG.

One panel a task, since the tasks' scales differ (POS near 90 %, word sense near chance); in
each, a group of bars a view (layer 0 … average) with one bar a model, so that what pretraining
adds is the gap inside a group and what depth adds is the trend across groups.  Baselines are
dashed lines: a bar below its line is a probe that learned less than the trivial rule.
"""

from __future__ import annotations

import math

from elmo.evaluation.features import view_names
from elmo.evaluation.report import PROBE_TASKS, task_name
from elmo.evaluation.runner import EvalReport
from elmo.plots import new_figure, png_bytes

__all__ = ["probe_chart_png"]

_SIZE_IN = (12.0, 4.5)  # 1200 × 450 pixels whatever the number of tasks
_GROUP_WIDTH = 0.8  # of the unit between two views; the rest separates the groups


def probe_chart_png(report: EvalReport) -> bytes | None:
    """The chart as PNG bytes; None without matplotlib or when no probe task has results."""
    tasks = [t for t in PROBE_TASKS if any(t in m.results for m in report.models)]
    if not tasks:
        return None
    figure = new_figure(*_SIZE_IN)
    if figure is None:
        return None
    views = view_names(int(report.summary["layers"]))
    panels = figure.subplots(1, len(tasks), squeeze=False)[0]
    for axes, task in zip(panels, tasks, strict=True):
        models = [(m.label, m.results[task]) for m in report.models if task in m.results]
        width = _GROUP_WIDTH / len(models)
        values: list[float] = []
        for index, (label, result) in enumerate(models):
            offset = (index - (len(models) - 1) / 2) * width
            scores = [result.scores[v] for v in views]
            axes.bar([i + offset for i in range(len(views))], scores, width, label=label)
            values += scores
        baselines = models[0][1].baselines  # the same data for every model
        for name, value in baselines.items():
            axes.axhline(
                value, color="black", linestyle="--", linewidth=1, label=f"{name} {value:.1f}"
            )
            values.append(value)
        axes.set_ylim(_floor(values), 100)
        axes.set_xticks(range(len(views)), views)
        axes.set_title(task_name(task))
        axes.set_ylabel("accuracy % (test split)")
        axes.grid(True, axis="y", alpha=0.3)
        # under the panel: inside, it would hide the bars of some view whatever the corner
        axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2)
    return png_bytes(figure)


def _floor(values: list[float]) -> float:
    """The y axis starts a little under the lowest bar or line (at a multiple of 10), so that
    differences of a few points near chance stay visible."""
    return max(0.0, math.floor((min(values) - 5) / 10) * 10)
