"""The training curve: validation perplexity per direction against units seen, as a PNG.

Drawn from ``metrics.jsonl`` itself rather than from the loop's memory, so that a resumed run's
curve starts at its first evaluation, not at the resume, and so that the picture never shows a
point the metrics do not hold.  The y axis is logarithmic: perplexity falls by orders of
magnitude early and by percents late, and both should stay readable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from elmo.plots import new_figure, png_bytes, write_png

__all__ = ["CURVE_FILE", "read_metrics", "training_curve_png", "write_training_curve"]

CURVE_FILE = "training_curve.png"
_SIZE_IN = (8.0, 4.5)  # 800 × 450 pixels
_DIRECTIONS = (("valid_ppl_forward", "forward", "o"), ("valid_ppl_backward", "backward", "s"))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (none if the run has not evaluated yet)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def training_curve_png(records: Sequence[Mapping[str, Any]]) -> bytes | None:
    """The curve as PNG bytes; None without matplotlib or without a point to draw."""
    series = {key: _points(records, key) for key, _, _ in _DIRECTIONS}
    if not any(series.values()):
        return None
    figure = new_figure(*_SIZE_IN)
    if figure is None:
        return None
    axes = figure.add_subplot()
    for key, label, marker in _DIRECTIONS:
        points = series[key]
        if points:
            axes.plot(*zip(*points, strict=True), marker=marker, markersize=4, label=label)
    from matplotlib.ticker import EngFormatter, LogFormatter  # present: the figure is

    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(LogFormatter())  # plain numbers, not powers of ten
    axes.yaxis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.5)))
    axes.xaxis.set_major_formatter(EngFormatter())  # 1.5 M rather than 1500000
    axes.set_xlabel("units seen (incl. sentence boundaries)")
    axes.set_ylabel("validation perplexity per unit")
    axes.set_title("Validation perplexity per direction")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return png_bytes(figure)


def write_training_curve(metrics_path: Path, *targets: Path) -> bool:
    """Draw ``metrics_path`` into every target path; False (nothing written) if it cannot be
    drawn, so that a caller links the picture only when it exists."""
    data = training_curve_png(read_metrics(metrics_path))
    if data is None:
        return False
    for target in targets:
        write_png(target, data)
    return True


def _points(records: Sequence[Mapping[str, Any]], key: str) -> list[tuple[float, float]]:
    """(units seen, perplexity) of the records that hold a finite one: a diverged evaluation
    (NaN or infinity in the JSON) has no place on a log axis."""
    points = []
    for record in records:
        x, y = record.get("tokens"), record.get(key)
        if isinstance(x, int | float) and isinstance(y, int | float) and math.isfinite(y) and y > 0:
            points.append((float(x), float(y)))
    return points
