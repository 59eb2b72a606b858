"""Frozen features of a model, seen through its *views*: every layer and the average mix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from elmo.inference.embedder import Embedder

__all__ = ["AVERAGE", "PROGRESS_CHUNK", "view_names", "view_vectors", "word_vectors"]

AVERAGE = "average"
PROGRESS_CHUNK = 256  # sentences between two updates of a progress bar


def view_names(num_layers: int) -> list[str]:
    """``["layer 0", ..., "layer L-1", "average"]``."""
    return [f"layer {k}" for k in range(num_layers)] + [AVERAGE]


def view_vectors(array: np.ndarray, view: str) -> np.ndarray:
    """``[L, ...]`` → ``[...]`` for a view (the average mix: the mean over layers)."""
    if view == AVERAGE:
        return array.mean(0)
    return array[int(view.removeprefix("layer "))]


def word_vectors(
    embedder: Embedder, sentences: Sequence[Sequence[str]], progress: tqdm | None = None
) -> list[np.ndarray]:
    """``[L, n, 2D]`` per token list.

    With ``progress``, the sentences are embedded in chunks and counted on the bar as they go:
    a probe's data take minutes on a CPU, and a silent command looks hung.  Chunking changes no
    vector (a row's result does not depend on the rows batched with it).
    """
    lists = [list(s) for s in sentences]
    if progress is None:
        return embedder.embed_tokens(lists)
    progress.total = (progress.total or 0) + len(lists)
    progress.refresh()
    arrays: list[np.ndarray] = []
    for start in range(0, len(lists), PROGRESS_CHUNK):
        chunk = lists[start : start + PROGRESS_CHUNK]
        arrays += embedder.embed_tokens(chunk)
        progress.update(len(chunk))
    return arrays
