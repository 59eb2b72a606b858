"""``Embedder``: contextual vectors for token lists, as numpy arrays, from a model on disk.

It sorts sentences by length and batches them (an LSTM runs as many steps as the longest row),
runs under ``torch.inference_mode`` and returns each sentence's rows in input order.  Since
every sentence starts from the same state, a sentence gets the same vectors whatever it is
batched with.  The model is never mutated, so one ``Embedder`` may serve several threads (its
layer-0 cache, :mod:`elmo.nn.token_cache`, is thread-safe).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from elmo.config import ModelConfig
from elmo.errors import InvalidInputError
from elmo.inference.pooling import (
    Mix,
    check_sentence_pooling,
    mix_layers,
    pool_sentence,
    resolve_layers,
)
from elmo.io.bundle import load_model, load_tokenizer
from elmo.nn.bilm import BiLM
from elmo.nn.chars import sentence_char_ids, validate_sentences
from elmo.nn.tiles import kept_copies
from elmo.nn.token_cache import TokenCache
from elmo.tokenization import SentencePieceUnits, pre_tokenize

__all__ = [
    "DEFAULT_TOKEN_CACHE",
    "UNIT_POOLING",
    "Embedder",
    "Embedding",
    "PreparedSentence",
    "word_vectors",
]

UNIT_POOLING = ("mean", "first", "last")
DEFAULT_TOKEN_CACHE = 32_768  # units: the common words of a few languages' prose


@dataclass(frozen=True)
class Embedding:
    """One input's result.

    ``tokens``: the words; ``offsets``: their ``[start, end)`` character offsets in the input
    text (None for pre-tokenized input); ``vectors``: ``[K, n, 2D]`` for the chosen ``layers``,
    or ``[n, 2D]`` when a mix was asked for (``layers`` then names the mixed layers);
    ``sentence``: the pooled sentence vector (``[K, 2D]`` or ``[2D]``) when asked for.
    """

    tokens: list[str]
    offsets: list[tuple[int, int]] | None
    vectors: np.ndarray
    layers: tuple[int, ...]
    mixed: bool
    sentence: np.ndarray | None = None


@dataclass(frozen=True)
class PreparedSentence:
    """One sentence as the model reads it, so that a caller can batch sentences itself.

    A server that groups sentences of several requests into one forward pass prepares each
    request's sentences (:meth:`Embedder.prepare`), runs any mix of them through
    :meth:`Embedder.embed_prepared`, and turns each sentence's unit vectors back into word
    vectors with :meth:`word_vectors` (its own ``unit_pooling``).

    ``char_ids``: ``(n_units, 50)``; ``word_units``: how many units each word has (None when
    every word is one unit, as in word-level models).
    """

    char_ids: torch.Tensor
    word_units: tuple[int, ...] | None = None

    @property
    def num_units(self) -> int:
        """Time steps the biLM runs for this sentence: its cost in a batch."""
        return int(self.char_ids.shape[0])

    @property
    def num_words(self) -> int:
        return self.num_units if self.word_units is None else len(self.word_units)

    def word_vectors(self, unit_vectors: np.ndarray, unit_pooling: str = "mean") -> np.ndarray:
        """``[L, n_units, 2D]`` from :meth:`Embedder.embed_prepared` → ``[L, n_words, 2D]``."""
        return word_vectors(unit_vectors, self.word_units, unit_pooling)


class Embedder:
    """Feature extraction with a frozen biLM.

    On a CPU the row-major weight copies the products need are kept between calls
    (:func:`elmo.nn.tiles.kept_copies`): an in-place change of a parameter is seen by the next
    call, one made through ``.data`` only after :func:`elmo.nn.tiles.forget_copies`.

    Args:
        model: a loaded :class:`BiLM`; it is moved to ``device`` and put in eval mode.
        batch_size: sentences per forward pass.
        device: where the model runs (``"cpu"``, ``"cuda"``, ...).
        units: the sentencepiece units of a model trained here; None for word-level models.
        unit_pooling: how a word's piece vectors become its vector (``mean``, ``first``,
            ``last``); the default ``mean`` sees the whole word in both directions.
        token_cache: how many units' layer-0 vectors to keep across calls (real text repeats
            its words, and layer 0 is most of a small model's work); the vectors are the same
            with or without it.  None: ``DEFAULT_TOKEN_CACHE`` on a CPU, off on other devices
            (where layer 0 is cheap and the lookup needs the ids on the host); 0: off.
    """

    def __init__(
        self,
        model: BiLM,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        units: SentencePieceUnits | None = None,
        unit_pooling: str = "mean",
        token_cache: int | None = None,
    ):
        if unit_pooling not in UNIT_POOLING:
            raise InvalidInputError(f"unit_pooling must be one of {UNIT_POOLING}")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        if model.stateful:
            raise InvalidInputError("Embedder needs a stateless model (stateful=False)")
        try:
            self.device = torch.device(device)
        except RuntimeError as exc:
            raise InvalidInputError(f"device {device!r}: {exc}") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InvalidInputError(f"device {device!r}: no CUDA device is available")
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.units = units
        self.unit_pooling = unit_pooling
        self.unit_char_ids = units.unit_char_ids() if units is not None else None  # (V, 50)
        if token_cache is not None and token_cache < 0:
            raise InvalidInputError(f"token_cache must be >= 0 units, got {token_cache}")
        if token_cache is None:
            token_cache = DEFAULT_TOKEN_CACHE if self.device.type == "cpu" else 0
        self.token_cache = TokenCache(token_cache) if token_cache else None

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        token_cache: int | None = None,
    ) -> Embedder:
        """Load a bundle directory, or a directory holding ``options.json`` + ``weights.hdf5``."""
        units = load_tokenizer(path)
        return cls(load_model(path), batch_size, device, units=units, token_cache=token_cache)

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
        pooling = unit_pooling or self.unit_pooling
        if pooling not in UNIT_POOLING:
            raise InvalidInputError(f"unit_pooling must be one of {UNIT_POOLING}, got {pooling!r}")
        prepared = self.prepare(sentences)
        unit_vectors = self.embed_prepared(prepared)
        return [p.word_vectors(v, pooling) for p, v in zip(prepared, unit_vectors, strict=True)]

    def prepare(self, sentences: Sequence[Sequence[str]]) -> list[PreparedSentence]:
        """Validate token lists and turn each into the units the model reads (no model call).

        Raises :class:`InvalidInputError` naming the first bad sentence or token.
        """
        sentences = validate_sentences(sentences)
        if self.units is None:
            return [PreparedSentence(sentence_char_ids(s)) for s in sentences]
        prepared = []
        for sentence in sentences:
            pieces = self.units.encode_words(sentence)
            assert self.unit_char_ids is not None  # made with the units
            sizes = tuple(map(len, pieces))
            # an index tensor made from numpy: indexing with a Python list converts it slowly
            ids = np.fromiter(itertools.chain.from_iterable(pieces), np.int64, sum(sizes))
            prepared.append(PreparedSentence(self.unit_char_ids[torch.from_numpy(ids)], sizes))
        return prepared

    def warm_up(self) -> None:
        """Run two tiny sentences once: the first call of a process pays for memory and kernel
        choices that a server should pay before it says it is ready."""
        self.embed_prepared(self.prepare([["Warm", "up", "."], ["ok"]]))

    def embed_prepared(self, sentences: Sequence[PreparedSentence]) -> list[np.ndarray]:
        """Unit vectors ``[L, n_units, 2D]`` (float32) per prepared sentence, in input order.

        Sentences are sorted by length and run ``batch_size`` at a time; each one's vectors do
        not depend on the others.
        """
        return self._embed_sequences([s.char_ids for s in sentences])

    def embed(
        self,
        inputs: Sequence[str] | Sequence[Sequence[str]],
        layers: Sequence[int] | str = "all",
        mix: object = None,
        sentence_pooling: str | None = None,
        unit_pooling: str | None = None,
    ) -> list[Embedding]:
        """Typed results for raw strings (pre-tokenized here, with offsets) or token lists.

        ``layers``: indices or ``"all"``; ``mix``: None, ``"average"``, ``"top"`` or
        ``{"weights": [...], "gamma": g}`` over the chosen layers (softmax-normalised weights);
        ``sentence_pooling``: None, ``"mean"``, ``"max"`` or ``"first_last"``.
        """
        if isinstance(inputs, str):
            raise InvalidInputError("expected a list of texts or token lists, got one str")
        indices = resolve_layers(layers, self.num_layers)  # check every option before the model
        parsed = Mix.parse(mix, len(indices))
        check_sentence_pooling(sentence_pooling)
        raw = all(isinstance(item, str) for item in inputs)
        words = [pre_tokenize(t) for t in inputs if isinstance(t, str)] if raw else None
        token_lists = [[w.text for w in ws] for ws in words] if words is not None else inputs
        arrays = self.embed_tokens(token_lists, unit_pooling)  # validates token lists
        results = []
        for i, array in enumerate(arrays):
            chosen = array[list(indices)]  # (K, n, 2D)
            vectors = mix_layers(chosen, parsed) if parsed is not None else chosen
            results.append(
                Embedding(
                    tokens=list(token_lists[i]),
                    offsets=[(w.start, w.end) for w in words[i]] if words is not None else None,
                    vectors=vectors.astype(np.float32, copy=False),
                    layers=indices,
                    mixed=parsed is not None,
                    sentence=pool_sentence(vectors, sentence_pooling) if sentence_pooling else None,
                )
            )
        return results

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
            rows = [sequences[i] for i in chunk]
            char_ids = pad_sequence(rows, batch_first=True)  # (b, T, 50)
            with torch.inference_mode(), kept_copies():
                output = self.model(char_ids.to(self.device), self.token_cache)
                layers = output.layers.float().cpu().numpy()
            for row, i in enumerate(chunk):
                results[i] = layers[:, row, : len(sequences[i])].copy()  # (L, n, 2D)
        assert all(r is not None for r in results)  # every sentence is empty or in a chunk
        return cast("list[np.ndarray]", results)


def word_vectors(
    unit_vectors: np.ndarray, word_units: Sequence[int] | None, unit_pooling: str = "mean"
) -> np.ndarray:
    """``[L, n_units, 2D]`` → ``[L, n_words, 2D]``, ``word_units`` units per word (None: every
    word is one unit)."""
    if unit_pooling not in UNIT_POOLING:
        raise InvalidInputError(f"unit_pooling must be one of {UNIT_POOLING}, got {unit_pooling!r}")
    if word_units is None:
        return unit_vectors
    return _pool(unit_vectors, list(word_units), unit_pooling)


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
