"""Choosing, mixing and pooling the layers of one sentence's vectors (numpy, after the model).

A sentence's vectors are ``[L, n, 2D]``: layer 0 (context-free, the token vector twice), then
one layer per recurrent layer, each ``[forward; backward]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from elmo.errors import InvalidInputError

__all__ = [
    "FLOAT32_MAX",
    "SENTENCE_POOLING",
    "Mix",
    "check_sentence_pooling",
    "mix_layers",
    "pool_sentence",
    "resolve_layers",
]

SENTENCE_POOLING = ("mean", "max", "first_last")
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Mix:
    """A scalar mix: ``gamma * sum_k softmax(weights)_k * layer_k`` over the selected layers."""

    weights: tuple[float, ...]
    gamma: float = 1.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.gamma) or abs(self.gamma) > FLOAT32_MAX:
            raise InvalidInputError(
                f"mix gamma must be a finite float32 (|gamma| <= {FLOAT32_MAX:.4g}); "
                f"got {self.gamma!r}",
                field="mix.gamma",
            )
        weights = np.asarray(self.weights, dtype=np.float64)
        if np.isnan(weights).any() or np.isposinf(weights).any() or np.isneginf(weights).all():
            raise InvalidInputError(
                f"mix weights must be finite (-inf drops a layer, not all); got {self.weights!r}",
                field="mix.weights",
            )

    @classmethod
    def parse(cls, spec: object, num_layers: int) -> Mix | None:
        """``None``, ``"average"``, ``"top"``, a ``Mix``, or ``{"weights": [...], "gamma": g}``."""
        if spec is None or isinstance(spec, Mix):
            mix = spec
        elif spec == "average":
            mix = cls((0.0,) * num_layers)
        elif spec == "top":
            mix = cls((-np.inf,) * (num_layers - 1) + (0.0,))
        elif isinstance(spec, dict) and set(spec) <= {"weights", "gamma"} and "weights" in spec:
            mix = cls(tuple(float(w) for w in spec["weights"]), float(spec.get("gamma", 1.0)))
        else:
            raise InvalidInputError(
                "mix must be null, 'average', 'top' or {'weights': [...], 'gamma': g}; "
                f"got {spec!r}",
                field="mix",
            )
        if mix is not None and len(mix.weights) != num_layers:
            raise InvalidInputError(
                f"mix has {len(mix.weights)} weights for {num_layers} selected layers",
                field="mix.weights",
            )
        return mix

    def normalised(self) -> np.ndarray:
        w = np.asarray(self.weights, dtype=np.float64)
        w = np.exp(w - w.max())
        return (w / w.sum()).astype(np.float32)


def resolve_layers(layers: Sequence[int] | str, count: int) -> tuple[int, ...]:
    """Layer indices for ``layers`` (``"all"`` or indices in ``0..count-1``, in the order given)."""
    chosen = tuple(range(count)) if layers == "all" else layers
    if isinstance(chosen, str) or not isinstance(chosen, Sequence) or not chosen:
        raise InvalidInputError(
            f"layers must be 'all' or a non-empty list of indices; got {layers!r}", field="layers"
        )
    for i, k in enumerate(chosen):
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < count:
            raise InvalidInputError(
                f"layers must be indices in 0..{count - 1} (0: the context-free token layer); "
                f"layers[{i}] is {k!r}",
                field=f"layers[{i}]",
            )
    return tuple(cast("Sequence[int]", chosen))  # a non-empty sequence of checked ints


def mix_layers(vectors: np.ndarray, mix: Mix) -> np.ndarray:
    """``[K, n, 2D]`` → ``[n, 2D]``.  A gamma that takes a mixed value past float32's range is
    refused (the vectors would hold infinities, which JSON cannot carry)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mixed = mix.gamma * np.einsum("k,knd->nd", mix.normalised(), vectors)
    if not np.isfinite(mixed).all():
        raise InvalidInputError(
            f"mix gamma {mix.gamma:g} takes the mixed vectors past float32's range "
            f"(|value| <= {FLOAT32_MAX:.4g}); use a smaller gamma"
        )
    return mixed


def check_sentence_pooling(how: str | None) -> None:
    if how is not None and how not in SENTENCE_POOLING:
        raise InvalidInputError(f"sentence pooling must be one of {SENTENCE_POOLING}, got {how!r}")


def pool_sentence(vectors: np.ndarray, how: str) -> np.ndarray:
    """Pool over tokens: ``[..., n, 2D]`` → ``[..., 2D]``; an empty sentence gives zeros.

    ``first_last`` joins the forward half at the last token (it has read the whole sentence) with
    the backward half at the first token (likewise, from the right).
    """
    check_sentence_pooling(how)
    n, width = vectors.shape[-2], vectors.shape[-1]
    if n == 0:
        return np.zeros((*vectors.shape[:-2], width), dtype=np.float32)
    if how == "mean":  # summed in float64: a sum of float32 near their limit stays finite
        return vectors.mean(axis=-2, dtype=np.float64).astype(vectors.dtype)
    if how == "max":
        return vectors.max(axis=-2)
    half = width // 2
    return np.concatenate([vectors[..., -1, :half], vectors[..., 0, half:]], axis=-1)
