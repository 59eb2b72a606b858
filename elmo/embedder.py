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

from elmo.bilm import BiLM
from elmo.bundle import load_model
from elmo.chars import batch_to_char_ids, validate_sentences
from elmo.config import ModelConfig
from elmo.errors import InvalidInputError

__all__ = ["Embedder"]


class Embedder:
    """Feature extraction with a frozen biLM.

    Args:
        model: a loaded :class:`BiLM`; it is put in eval mode.
        batch_size: sentences per forward pass.
        device: where the model runs (``"cpu"``, ``"cuda"``, ...).
    """

    def __init__(self, model: BiLM, batch_size: int = 64, device: str | torch.device = "cpu"):
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        if model.stateful:
            raise InvalidInputError("Embedder needs a stateless model (stateful=False)")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(
        cls, path: str | Path, batch_size: int = 64, device: str | torch.device = "cpu"
    ) -> Embedder:
        """Load a bundle directory, or a directory holding ``options.json`` + ``weights.hdf5``."""
        return cls(load_model(path), batch_size=batch_size, device=device)

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

    def embed_tokens(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """One float32 array ``[L, n_tokens, 2D]`` per sentence, in input order.

        An empty sentence gives an array with 0 tokens.  Tokens over 48 UTF-8 bytes are cut, as
        in the original model; empty or non-string tokens raise :class:`InvalidInputError`.
        """
        sentences = validate_sentences(sentences)
        results: list[np.ndarray | None] = [None] * len(sentences)
        order = sorted((i for i, s in enumerate(sentences) if s), key=lambda i: -len(sentences[i]))
        for i, sentence in enumerate(sentences):
            if not sentence:
                results[i] = np.zeros((self.num_layers, 0, self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            layers = self._run([sentences[i] for i in chunk])  # (L, b, T, 2D)
            for row, i in enumerate(chunk):
                results[i] = layers[:, row, : len(sentences[i])].copy()
        return results  # type: ignore[return-value]

    def _run(self, batch: list[list[str]]) -> np.ndarray:
        char_ids = batch_to_char_ids(batch).to(self.device)  # (b, T, 50)
        with torch.inference_mode():
            output = self.model(char_ids)
        return output.layers.float().cpu().numpy()
