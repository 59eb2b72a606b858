"""Character ids, compatible with bilm-tf and AllenNLP.

Each unit becomes its UTF-8 bytes cut to 48 (bytes, so a multi-byte character can be split, as in
the original), wrapped in begin/end-of-word markers and padded to 50 slots.  Raw ids: bytes
0-255, begin/end of sentence 256/257, begin/end of word 258/259, padding char 260; every id then
gets +1 so that 0 means "no token here" (a padded token slot of a batch).

The literal units ``<S>`` and ``</S>`` map to the sentence-boundary ids, as in the original
vocabularies; the model adds them around every sentence itself (see :mod:`elmo.nn.bilm`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from elmo.errors import InvalidInputError

__all__ = [
    "BOS_CHAR_IDS",
    "BOS_TOKEN",
    "EOS_CHAR_IDS",
    "EOS_TOKEN",
    "MAX_CHARS",
    "MAX_TOKEN_BYTES",
    "PADDING_CHAR_ID",
    "batch_to_char_ids",
    "bytes_to_char_ids",
    "check_text",
    "sentence_char_ids",
    "token_to_char_ids",
    "used_slots",
    "validate_sentences",
]

MAX_CHARS = 50
MAX_TOKEN_BYTES = MAX_CHARS - 2
BOS_TOKEN = "<S>"
EOS_TOKEN = "</S>"

# Raw ids of the original implementation; the public ids below are these + 1.
_BOS_CHAR, _EOS_CHAR, _BOW_CHAR, _EOW_CHAR, _PAD_CHAR = 256, 257, 258, 259, 260
PADDING_CHAR_ID = _PAD_CHAR + 1


def _marker(char: int) -> tuple[int, ...]:
    ids = [_PAD_CHAR] * MAX_CHARS
    ids[0], ids[1], ids[2] = _BOW_CHAR, char, _EOW_CHAR
    return tuple(i + 1 for i in ids)


BOS_CHAR_IDS: tuple[int, ...] = _marker(_BOS_CHAR)
EOS_CHAR_IDS: tuple[int, ...] = _marker(_EOS_CHAR)


def token_to_char_ids(token: str) -> list[int]:
    """The 50 char ids of one unit (already +1-shifted, never 0)."""
    if token == BOS_TOKEN:
        return list(BOS_CHAR_IDS)
    if token == EOS_TOKEN:
        return list(EOS_CHAR_IDS)
    return bytes_to_char_ids(token.encode("utf-8"))


def bytes_to_char_ids(data: bytes) -> list[int]:
    """The 50 char ids of a unit given as raw bytes (cut to 48)."""
    ids = [_BOW_CHAR, *data[:MAX_TOKEN_BYTES], _EOW_CHAR]
    ids.extend([_PAD_CHAR] * (MAX_CHARS - len(ids)))
    return [i + 1 for i in ids]


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: str, where: str) -> None:
    """Refuse text that is not Unicode: a lone UTF-16 surrogate (JSON's ``"\\ud800"`` without
    its pair, say) has no UTF-8 form, so no unit or character id."""
    found = _SURROGATE.search(text)
    if found is not None:
        raise InvalidInputError(
            f"{where} holds a lone surrogate U+{ord(found.group()):04X} at character "
            f"{found.start()}: not Unicode text"
        )


def validate_sentences(sentences: object) -> list[list[str]]:
    """Check a batch of token lists, naming the first bad sentence/token in the error.

    Empty sentences are allowed (they have no vectors); empty tokens are not, because they
    almost always come from a tokenisation bug (``"a  b".split(" ")``).  Tokens longer than 48
    UTF-8 bytes are allowed and cut, exactly as the original implementation does.
    """
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Sequence):
        raise InvalidInputError(f"expected a list of token lists, got {type(sentences).__name__}")
    checked: list[list[str]] = []
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, (str, bytes)) or not isinstance(sentence, Sequence):
            raise InvalidInputError(
                f"sentence {i}: expected a list of tokens, got {type(sentence).__name__}"
            )
        for j, token in enumerate(sentence):
            if not isinstance(token, str):
                raise InvalidInputError(
                    f"sentence {i}, token {j}: expected str, got {type(token).__name__}"
                )
            if not token:
                raise InvalidInputError(f"sentence {i}, token {j}: empty token")
            check_text(token, f"sentence {i}, token {j}")
        checked.append(list(sentence))
    return checked


def sentence_char_ids(sentence: Sequence[str]) -> torch.Tensor:
    """``(n, 50)`` char ids of one (already validated) sentence; ``(0, 50)`` when empty.

    The same ids as :func:`token_to_char_ids` for each token, placed in one array at once: a
    server prepares every word of a request in its own process, and building a tensor from
    nested lists took half of that time.
    """
    n = len(sentence)
    if not n:
        return torch.zeros(0, MAX_CHARS, dtype=torch.long)
    data = [token.encode("utf-8")[:MAX_TOKEN_BYTES] for token in sentence]
    sizes = np.fromiter(map(len, data), dtype=np.int64, count=n)  # (n,)
    flat = np.frombuffer(b"".join(data), dtype=np.uint8)  # (sum of sizes,)
    ids = np.full((n, MAX_CHARS), _PAD_CHAR + 1, dtype=np.int64)
    ids[:, 0] = _BOW_CHAR + 1
    rows = np.repeat(np.arange(n), sizes)
    slots = np.arange(len(flat)) - np.repeat(np.cumsum(sizes) - sizes, sizes) + 1
    ids[rows, slots] = flat + 1
    ids[np.arange(n), sizes + 1] = _EOW_CHAR + 1
    if BOS_TOKEN in sentence or EOS_TOKEN in sentence:
        for i, token in enumerate(sentence):
            if token in (BOS_TOKEN, EOS_TOKEN):
                ids[i] = BOS_CHAR_IDS if token == BOS_TOKEN else EOS_CHAR_IDS
    return torch.from_numpy(ids)


def used_slots(char_ids: torch.Tensor) -> torch.Tensor:
    """``(..., 50)`` → ``(...)``: slots a unit uses (its bytes and word markers)."""
    return ((char_ids != 0) & (char_ids != PADDING_CHAR_ID)).sum(-1)


def batch_to_char_ids(sentences: Sequence[Sequence[str]]) -> torch.Tensor:
    """Char ids of a batch, ``(B, T, 50)`` int64, T = longest sentence; padded slots are 0.

    No sentence boundaries are added here: the biLM adds them.  ``mask = ids.gt(0).any(-1)``.
    """
    sentences = validate_sentences(sentences)
    longest = max((len(s) for s in sentences), default=0)
    ids = torch.zeros((len(sentences), longest, MAX_CHARS), dtype=torch.long)
    for i, sentence in enumerate(sentences):
        ids[i, : len(sentence)] = sentence_char_ids(sentence)
    return ids
