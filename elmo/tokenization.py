"""From text to units: a Unicode-aware pre-tokenizer and sentencepiece units.

The public unit of output is the *word*: a token of the pre-tokenizer (with its character offsets
into the input text) or a token the caller gave.  Models trained here read sentencepiece pieces:
every word is encoded on its own, so pieces never cross words, and the char-CNN reads each
piece's characters (byte-fallback pieces ``<0xNN>`` read as that byte).  Original-format models
read words directly (:class:`WordUnits`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from elmo.errors import InvalidInputError, WeightFileError
from elmo.nn.chars import (
    BOS_TOKEN,
    EOS_TOKEN,
    MAX_CHARS,
    bytes_to_char_ids,
    check_text,
    token_to_char_ids,
)

__all__ = ["SentencePieceUnits", "Word", "pre_tokenize", "train_sentencepiece"]

# A word: letters/digits/underscore (any script) with combining marks, optionally joined by
# apostrophes, hyphens or dots ("don't", "out-of-vocabulary", "3.14159"); any other non-space
# character is a token of its own (punctuation, symbols, emoji).
_MARKS = "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f\u0900-\u0903\u093a-\u094f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"  # noqa: E501
_WORD = rf"[\w{_MARKS}]+"
_TOKEN = re.compile(rf"{_WORD}(?:['’\-.]{_WORD})*|[^\s{_MARKS}][{_MARKS}]*")


@dataclass(frozen=True)
class Word:
    """A token of the input text: its string and ``[start, end)`` character offsets."""

    text: str
    start: int
    end: int


def pre_tokenize(text: str) -> list[Word]:
    """Split raw text into words and punctuation, keeping character offsets."""
    if not isinstance(text, str):
        raise InvalidInputError(f"expected text as str, got {type(text).__name__}")
    check_text(text, "the text")
    return [Word(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def train_sentencepiece(
    lines: Iterable[str],
    vocab_size: int,
    character_coverage: float = 0.9995,
    max_sentences: int = 2_000_000,
    seed_sentencepiece_size: int = 1_000_000,
) -> bytes:
    """Train a unigram sentencepiece model on pre-tokenized lines; returns the serialized model.

    Byte fallback is on (no ``<unk>`` ever reaches the LM), ids 0/1/2 are ``<unk>``, ``<S>`` and
    ``</S>``, and the vocabulary may come out smaller than ``vocab_size`` on tiny corpora.
    """
    import sentencepiece as spm

    words = (" ".join(w.text for w in pre_tokenize(line)) for line in lines)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=(line for line in words if line),
            model_writer=model,
            vocab_size=vocab_size,
            model_type="unigram",
            byte_fallback=True,
            character_coverage=character_coverage,
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            seed_sentencepiece_size=seed_sentencepiece_size,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            bos_piece=BOS_TOKEN,
            eos_piece=EOS_TOKEN,
            hard_vocab_limit=False,
            num_threads=2,
            minloglevel=2,
        )
    except RuntimeError as exc:
        raise InvalidInputError(f"sentencepiece training failed: {exc}") from None
    return model.getvalue()


class SentencePieceUnits:
    """Words → sentencepiece unit ids, and the char ids of every unit of the vocabulary."""

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece as spm

        self.model_proto = model_proto
        self.processor = spm.SentencePieceProcessor()
        try:
            self.processor.LoadFromSerializedProto(model_proto)
        except RuntimeError as exc:
            raise WeightFileError(f"not a sentencepiece model: {exc}") from None
        if self.processor.id_to_piece(self.bos_id) != BOS_TOKEN:
            raise WeightFileError(f"sentencepiece model lacks {BOS_TOKEN} as its bos piece")

    @classmethod
    def load(cls, path: str | Path) -> SentencePieceUnits:
        try:
            return cls(Path(path).read_bytes())
        except OSError as exc:
            raise WeightFileError(f"{path}: cannot read tokenizer: {exc}") from None
        except WeightFileError as exc:
            raise WeightFileError(f"{path}: {exc}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.model_proto)

    @property
    def vocab_size(self) -> int:
        return self.processor.get_piece_size()

    @property
    def bos_id(self) -> int:
        return self.processor.bos_id()

    @property
    def eos_id(self) -> int:
        return self.processor.eos_id()

    def encode_words(self, words: Sequence[str]) -> list[list[int]]:
        """Unit ids of each word, encoded on its own; never empty for a non-empty word (one
        that normalisation erases, such as U+FEFF, becomes its UTF-8 byte pieces)."""
        if not words:
            return []
        encoded = self.processor.encode(list(words))
        return [ids or self._byte_pieces(w) for ids, w in zip(encoded, words, strict=True)]

    def _byte_pieces(self, word: str) -> list[int]:
        return [self.processor.piece_to_id(f"<0x{b:02X}>") for b in word.encode("utf-8")]

    def unit_char_ids(self) -> torch.Tensor:
        """``(V, 50)`` char ids of every unit; boundary units get the sentence-boundary ids."""
        rows = []
        for i in range(self.vocab_size):
            piece = self.processor.id_to_piece(i)
            if self.processor.is_byte(i):
                rows.append(bytes_to_char_ids(bytes([int(piece[3:5], 16)])))
            else:
                rows.append(token_to_char_ids(piece))
        table = torch.tensor(rows, dtype=torch.long)
        assert table.shape[1] == MAX_CHARS
        return table
