"""What the PNG charts of ``elmo train`` and ``elmo evaluate`` share.

matplotlib is an optional extra (``plots``): a chart is a convenience beside the numbers, so a
missing matplotlib skips it, says so once a process, and never fails a command.  Figures are
drawn on the Agg canvas directly (no pyplot: no global figure state, no GUI backend chosen from
the environment), at a fixed size and resolution and without the metadata that names the
matplotlib version, so that the same numbers give the same bytes: a regenerated chart shows up
in a diff only when what it shows changed.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "PLOTS_INSTALL", "new_figure", "png_bytes", "write_png"]

DPI = 100
PLOTS_INSTALL = "pip install 'elmo-service[plots]'"

logger = logging.getLogger(__name__)
_told_missing = False  # the notice is given once a process, not at every evaluation of a run


def new_figure(width_in: float, height_in: float) -> Figure | None:
    """An empty figure on its own Agg canvas, or None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        _tell_missing()
        return None
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG, the same bytes for the same drawing (no "Software" version stamp)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def write_png(path: Path, data: bytes) -> None:
    """Write atomically, so that a Markdown file never points at half an image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def _tell_missing() -> None:
    global _told_missing
    if not _told_missing:
        _told_missing = True
        logger.warning("matplotlib is not installed: no PNG charts (%s adds it)", PLOTS_INSTALL)
