"""Same-sense / different-sense pairs of one word from WordNet 3.1 gloss examples.

A synset line of ``data.{noun,verb,adj,adv}`` ends with ``| gloss; "example"; "example"``.  An
example that contains one of its synset's single-word lemmas (as a token) is a use of that word in
that sense.  Two examples holding the *same surface form* make a pair: same synset = same sense.
Because the form is identical, layer 0 gives cosine 1 for every pair and sits at chance.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from dataclasses import dataclass
from pathlib import Path

from elmo.evaluation.sources import EvalDataError
from elmo.tokenization import pre_tokenize

__all__ = ["SenseExample", "SensePair", "load_sense_examples", "sense_pairs"]

_POS_FILES = ("noun", "verb", "adj", "adv")
_QUOTED = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class SenseExample:
    """A gloss example: its synset (``pos:offset``), tokens and the index of the target word."""

    synset: str
    tokens: tuple[str, ...]
    index: int

    @property
    def word(self) -> str:
        return self.tokens[self.index]


@dataclass(frozen=True)
class SensePair:
    first: SenseExample
    second: SenseExample
    same: bool


def load_sense_examples(directory: Path) -> dict[tuple[str, str], list[SenseExample]]:
    """Examples grouped by (surface form, part of speech)."""
    grouped: dict[tuple[str, str], list[SenseExample]] = {}
    found = False
    for pos in _POS_FILES:
        path = directory / f"data.{pos}"
        if not path.is_file():
            continue
        found = True
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if line.startswith("  ") or not line.strip():
                    continue  # the licence header
                head, bar, gloss = line.partition("|")
                fields = head.split()
                try:
                    count = int(fields[3], 16)
                    lemmas = {
                        re.sub(r"\(.*\)$", "", fields[4 + 2 * k]).lower() for k in range(count)
                    }
                except (IndexError, ValueError):
                    raise EvalDataError(f"{path}:{number}: not a WordNet synset line") from None
                synset = f"{pos}:{fields[0]}"
                for quoted in _QUOTED.findall(gloss) if bar else ():
                    tokens = tuple(w.text for w in pre_tokenize(quoted))
                    hits = [i for i, t in enumerate(tokens) if t.lower() in lemmas]
                    if hits:
                        example = SenseExample(synset, tokens, hits[0])
                        grouped.setdefault((example.word, pos), []).append(example)
    if not found:
        raise EvalDataError(f"{directory}: no WordNet data.noun/verb/adj/adv files")
    return grouped


def sense_pairs(
    grouped: dict[tuple[str, str], list[SenseExample]], max_pairs: int, seed: int = 0
) -> tuple[list[SensePair], list[SensePair]]:
    """Balanced (dev, test) pairs; words are split between dev (~30%) and test by a hash.

    Only words seen in two or more synsets take part; each side has as many same-sense as
    different-sense pairs, sampled (seeded) to at most ``max_pairs`` in all.
    """
    rng = random.Random(seed)
    sides: dict[str, tuple[list[SensePair], list[SensePair]]] = {"dev": ([], []), "test": ([], [])}
    for key in sorted(grouped):
        examples = grouped[key]
        if len({e.synset for e in examples}) < 2:
            continue
        side = "dev" if _hash(f"{key[0]}/{key[1]}") % 10 < 3 else "test"
        same, different = sides[side]
        for a, b in itertools.combinations(examples, 2):
            pair = SensePair(a, b, a.synset == b.synset)
            (same if pair.same else different).append(pair)
    result = []
    for name, share in (("dev", 0.3), ("test", 0.7)):
        same, different = sides[name]
        n = min(len(same), len(different), int(max_pairs * share) // 2)
        pairs = rng.sample(same, n) + rng.sample(different, n)
        rng.shuffle(pairs)
        result.append(pairs)
    return result[0], result[1]


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
