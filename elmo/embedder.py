"""``Embedder``: contextual vectors for token lists, as numpy arrays, from a model on disk.

It sorts sentences by length and batches them (an LSTM runs as many steps as the longest row),
runs under ``torch.inference_mode`` and returns each sentence's rows in input order.  Since
every sentence starts from the same state, a sentence gets the same vectors whatever it is
batched with.  The model is never mutated, so one ``Embedder`` may serve several threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from elmo.bilm import BiLM
from elmo.bundle import load_model, load_tokenizer
from elmo.chars import MAX_CHARS, token_to_char_ids, validate_sentences
from elmo.config import ModelConfig
from elmo.errors import InvalidInputError
from elmo.tokenization import SentencePieceUnits

__all__ = ["UNIT_POOLING", "Embedder"]

UNIT_POOLING = ("mean", "first", "last")


class Embedder:
    """Feature extraction with a frozen biLM.

    Args:
        model: a loaded :class:`BiLM`; it is moved to ``device`` and put in eval mode.
        batch_size: sentences per forward pass.
        device: where the model runs (``"cpu"``, ``"cuda"``, ...).
        units: the sentencepiece units of a model trained here; None for word-level models.
        unit_pooling: how a word's piece vectors become its vector (``mean``, ``first``,
            ``last``); the default ``mean`` sees the whole word in both directions.
    """

    def __init__(
        self,
        model: BiLM,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        units: SentencePieceUnits | None = None,
        unit_pooling: str = "mean",
    ):
        if unit_pooling not in UNIT_POOLING:
            raise InvalidInputError(f"unit_pooling must be one of {UNIT_POOLING}")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        if model.stateful:
            raise InvalidInputError("Embedder needs a stateless model (stateful=False)")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.units = units
        self.unit_pooling = unit_pooling
        self.unit_char_ids = units.unit_char_ids() if units is not None else None  # (V, 50)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, batch_size: int = 64, device: str | torch.device = "cpu"
    ) -> Embedder:
        """Load a bundle directory, or a directory holding ``options.json`` + ``weights.hdf5``."""
        return cls(load_model(path), batch_size, device, units=load_tokenizer(path))

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def dim(self) -> int:
        """2D: the width of each layer's vectors."""
        return self.config.output_dim

    @property
    def num_layers(self) -> int:
        """L: layer 0 (context-free token vectors) plus one per recurrent layer."""
        return self.config.num_output_layers

    def embed_tokens(
        self, sentences: Sequence[Sequence[str]], unit_pooling: str | None = None
    ) -> list[np.ndarray]:
        """One float32 array ``[L, n_tokens, 2D]`` per sentence, in input order.

        For a sentencepiece model each word is encoded on its own and its pieces' vectors are
        pooled (``unit_pooling``: ``mean`` (default), ``first`` or ``last``).  An empty sentence
        gives an array with 0 tokens.  Tokens over 48 UTF-8 bytes are cut, as in the original
        model; empty or non-string tokens raise :class:`InvalidInputError`.
        """
        sentences = validate_sentences(sentences)
        pooling = unit_pooling or self.unit_pooling
        if pooling not in UNIT_POOLING:
            raise InvalidInputError(f"unit_pooling must be one of {UNIT_POOLING}, got {pooling!r}")
        if self.units is None:
            sequences = [self._word_char_ids(s) for s in sentences]
            return self._embed_sequences(sequences)
        pieces = [self.units.encode_words(s) for s in sentences]
        sequences = [self.unit_char_ids[[i for word in p for i in word]] for p in pieces]
        unit_vectors = self._embed_sequences(sequences)
        return [
            _pool(v, [len(w) for w in p], pooling)
            for v, p in zip(unit_vectors, pieces, strict=True)
        ]

    @staticmethod
    def _word_char_ids(sentence: list[str]) -> torch.Tensor:
        if not sentence:
            return torch.zeros(0, MAX_CHARS, dtype=torch.long)
        return torch.tensor([token_to_char_ids(t) for t in sentence])

    def _embed_sequences(self, sequences: list[torch.Tensor]) -> list[np.ndarray]:
        """Unit char ids (n_i, 50) per sentence → ``[L, n_i, 2D]`` per sentence."""
        results: list[np.ndarray | None] = [None] * len(sequences)
        order = sorted(
            (i for i, s in enumerate(sequences) if len(s)), key=lambda i: -len(sequences[i])
        )
        for i, sequence in enumerate(sequences):
            if not len(sequence):
                results[i] = np.zeros((self.num_layers, 0, self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            char_ids = pad_sequence([sequences[i] for i in chunk], batch_first=True)  # (b, T, 50)
            with torch.inference_mode():
                layers = self.model(char_ids.to(self.device)).layers.float().cpu().numpy()
            for row, i in enumerate(chunk):
                results[i] = layers[:, row, : len(sequences[i])].copy()  # (L, n, 2D)
        return results  # type: ignore[return-value]


def _pool(vectors: np.ndarray, sizes: list[int], pooling: str) -> np.ndarray:
    """Piece vectors ``[L, n_pieces, 2D]`` → word vectors ``[L, n_words, 2D]``."""
    ends = np.cumsum(np.asarray(sizes, dtype=np.int64))
    starts = ends - np.asarray(sizes, dtype=np.int64)
    if pooling == "first":
        return vectors[:, starts].copy()
    if pooling == "last":
        return vectors[:, ends - 1].copy()
    words = [vectors[:, a:b].mean(axis=1) for a, b in zip(starts, ends, strict=True)]
    return np.stack(words, axis=1) if words else vectors[:, :0].copy()
