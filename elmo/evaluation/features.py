"""Frozen features of a model, seen through its *views*: every layer and the average mix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from elmo.inference.embedder import Embedder

__all__ = ["AVERAGE", "view_names", "view_vectors", "word_vectors"]

AVERAGE = "average"


def view_names(num_layers: int) -> list[str]:
    """``["layer 0", ..., "layer L-1", "average"]``."""
    return [f"layer {k}" for k in range(num_layers)] + [AVERAGE]


def view_vectors(array: np.ndarray, view: str) -> np.ndarray:
    """``[L, ...]`` → ``[...]`` for a view (the average mix: the mean over layers)."""
    if view == AVERAGE:
        return array.mean(0)
    return array[int(view.removeprefix("layer "))]


def word_vectors(embedder: Embedder, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """``[L, n, 2D]`` per token list."""
    return embedder.embed_tokens([list(s) for s in sentences])
