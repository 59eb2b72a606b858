"""From a sentence's word vectors to what its answer keeps: layers, mix, pooling, normalisation.

The numerics are the library's (:mod:`elmo.inference.pooling`), so the service returns exactly what
``Embedder.embed`` would.  The OpenAI-compatible vector is defined here once: the mean over tokens
of the average of all layers, L2-normalised, which is also what the native route returns for
``mix="average", pooling="mean", normalize=true`` (:meth:`Shape.openai`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elmo import InvalidInputError, Mix, mix_layers, pool_sentence, word_vectors

__all__ = ["Refusal", "Shape", "l2_normalize", "shape_vectors"]


def l2_normalize(array: np.ndarray) -> np.ndarray:
    """Unit length along the last axis; a zero vector stays zero."""
    wide = array.astype(np.float64)  # squares of large float32 values overflow float32
    norm = np.linalg.norm(wide, axis=-1, keepdims=True)
    unit = np.divide(wide, norm, out=np.zeros_like(wide), where=norm > 0)
    return unit.astype(array.dtype)


def shape_vectors(
    words: np.ndarray,
    layers: tuple[int, ...],
    mix: Mix | None,
    pooling: str,
    normalize: bool,
) -> np.ndarray:
    """``[L, n, 2D]`` → the chosen layers (``[K, n, 2D]``) or their mix (``[n, 2D]``), pooled
    over tokens unless ``pooling == "none"``, optionally L2-normalised; float32."""
    vectors = words[list(layers)]
    if mix is not None:
        vectors = mix_layers(vectors, mix)
    if pooling != "none":
        vectors = pool_sentence(vectors, pooling)
    if normalize:
        vectors = l2_normalize(vectors)
    return np.ascontiguousarray(vectors, dtype=np.float32)


@dataclass(frozen=True)
class Refusal:
    """A sentence whose vectors cannot be given as asked (a mix that overflows float32)."""

    reason: str


@dataclass(frozen=True)
class Shape:
    """What a request keeps of each sentence's unit vectors ``[L, n_units, 2D]``.

    It is applied where the vectors are made (in the model's process) so that only what the
    answer needs travels to the server's process and waits there for the rest of its request:
    a 500-unit sentence's unit vectors from the default model are 6 MB, its pooled vector
    4 KB.  Moving and holding whole unit vectors made every answer that came out of the model
    with a large request's sentences wait behind them.
    """

    layers: tuple[int, ...]
    mix: Mix | None
    pooling: str
    normalize: bool
    unit_pooling: str

    @classmethod
    def openai(cls, num_layers: int, unit_pooling: str) -> Shape:
        """``/v1/embeddings``: the mean over tokens of the average of all layers, unit length."""
        mix = Mix.parse("average", num_layers)
        return cls(tuple(range(num_layers)), mix, "mean", True, unit_pooling)

    def __call__(
        self, unit_vectors: np.ndarray, word_units: tuple[int, ...] | None
    ) -> np.ndarray | Refusal:
        """A sentence's answer from its unit vectors (``word_units``: units per word, None
        when every word is one unit)."""
        return self.of_words(word_vectors(unit_vectors, word_units, self.unit_pooling))

    def of_words(self, words: np.ndarray) -> np.ndarray | Refusal:
        try:
            return shape_vectors(words, self.layers, self.mix, self.pooling, self.normalize)
        except InvalidInputError as exc:
            return Refusal(str(exc))
