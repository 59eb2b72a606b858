"""What a result depends on: the CPU, PyTorch's BLAS and threads, and whether this machine
keeps the platform property that batch invariance rests on (:func:`elmo.nn.tiles.check_rows`), and
so which tile sizes its products get.

``python -m elmo.machine`` prints it; CI prints it before the tests, so that a failure names
the machine it happened on.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

from elmo.nn.tiles import tiles_for

__all__ = ["cpu_model", "report"]

# (inner, outer) of the products of the published configurations and of models/default
CHECKED_SHAPES = ((80, 512), (128, 2048), (512, 128), (512, 1024), (512, 4096), (4096, 512))


def cpu_model() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""

    def field(name: str) -> str | None:
        match = re.search(rf"^{name}\s*:\s*(.+)$", text, re.MULTILINE)
        return match.group(1).strip() if match else None

    name = field("model name") or field("Hardware") or field("Model")
    if name is None:
        return platform.processor() or platform.machine()
    ids = [(key, field(key)) for key in ("vendor_id", "cpu family", "model", "stepping")]
    known = ", ".join(f"{key} {value}" for key, value in ids if value is not None)
    return f"{name} [{known}]" if known else name


def _blas() -> str:
    match = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return match.group(1) if match else "unknown"


def report() -> str:
    """A few lines: CPU, cores, torch and its BLAS, SIMD level, threads, the row check."""
    lines = [
        f"cpu: {cpu_model()} ({platform.machine()}, {os.cpu_count()} logical cores)",
        f"torch: {torch.__version__}, BLAS {_blas()}, "
        f"SIMD {torch.backends.cpu.get_cpu_capability()}, "
        f"threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()})",
    ]
    chosen = {  # an uninitialised weight of each shape: only its shape and dtype are read
        (inner, outer): tiles_for(torch.empty(inner, outer)) for inner, outer in CHECKED_SHAPES
    }
    described: dict[str, list[str]] = {}
    for shape, sizes in chosen.items():
        text = "none, multiplied plainly" if sizes is None else ", ".join(map(str, sizes))
        described.setdefault(text, []).append(f"({shape[0]}, {shape[1]})")
    lines.append(
        "row tiles: "
        + "; ".join(f"{' '.join(shapes)} weights: {text}" for text, shapes in described.items())
    )
    if any(sizes is None for sizes in chosen.values()):
        lines.append("row tiles: FAILED, some products run plainly (vectors depend on the batch)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
