"""The Brown corpus with its gold tags mapped to the 12 universal part-of-speech tags.

Files are ``word/tag`` tokens, one sentence a line.  Brown tags carry suffixes for titles
(``-tl``), headlines (``-hl``) and cited words (``-nc``), contractions join two tags with ``+``
(``it's`` = ``pps+bez``: the first one is kept), a trailing ``*`` marks negation (``didn't`` =
``dod*``) and ``fw-`` marks foreign words (mapped to ``X``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elmo.evaluation.sources import EvalDataError

__all__ = [
    "UNIVERSAL_TAGS",
    "BrownFile",
    "brown_split",
    "load_brown",
    "tagged_lines",
    "universal_tag",
]

UNIVERSAL_TAGS = (
    "NOUN",
    "VERB",
    "ADJ",
    "ADV",
    "PRON",
    "DET",
    "ADP",
    "NUM",
    "CONJ",
    "PRT",
    ".",
    "X",
)

_TABLE: dict[str, tuple[str, ...]] = {
    ".": (".", ",", ":", "(", ")", "--", "''", "``", "'"),
    "NOUN": ("nn", "nns", "nn$", "nns$", "np", "np$", "nps", "nps$", "nr", "nr$", "nrs"),
    "VERB": (
        "vb", "vbd", "vbg", "vbn", "vbz", "md", "be", "bed", "bedz", "beg", "bem", "ben", "ber",
        "bez", "do", "dod", "doz", "hv", "hvd", "hvg", "hvn", "hvz",
    ),
    "ADJ": ("jj", "jjr", "jjs", "jjt", "jj$", "od"),
    "NUM": ("cd", "cd$"),
    "ADV": ("rb", "rbr", "rbt", "rb$", "rn", "ql", "qlp", "wql", "wrb", "*"),
    "PRT": ("rp", "to"),
    "PRON": (
        "pps", "ppss", "ppo", "pp$", "pp$$", "ppl", "ppls", "pn", "pn$", "wps", "wpo", "wp$",
    ),
    "DET": ("at", "ap", "ap$", "abn", "abx", "abl", "dt", "dti", "dts", "dtx", "dt$", "wdt", "ex"),
    "ADP": ("in",),
    "CONJ": ("cc", "cs"),
    "X": ("uh", "nil"),
}  # fmt: skip
_UNIVERSAL = {brown: universal for universal, tags in _TABLE.items() for brown in tags}


def universal_tag(tag: str) -> str:
    """A Brown tag → one of :data:`UNIVERSAL_TAGS` (unknown tags raise ``KeyError``)."""
    tag = tag.lower()
    if tag.startswith("fw-"):
        return "X"
    tag = tag.split("+")[0]
    while tag[-3:] in ("-tl", "-hl", "-nc"):
        tag = tag[:-3]
    if len(tag) > 1 and tag.endswith("*"):
        tag = tag[:-1]
    return _UNIVERSAL[tag]


def tagged_lines(
    text: str, path: Path, to_universal: Callable[[str], str], tagset: str
) -> list[list[tuple[str, str]]]:
    """The ``(word, universal tag)`` pairs of every non-empty line of ``word/TAG`` items;
    ``to_universal`` raises ``KeyError`` for a tag it does not know, reported with
    ``file:line`` and ``tagset``'s name."""
    sentences = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        sentence = []
        for item in line.split():
            word, slash, tag = item.rpartition("/")
            if not slash or not word or not tag:
                raise EvalDataError(f"{path}:{number}: token {item!r} is not word/TAG")
            try:
                sentence.append((word, to_universal(tag)))
            except KeyError:
                raise EvalDataError(f"{path}:{number}: unknown {tagset} tag {tag!r}") from None
        sentences.append(sentence)
    return sentences


@dataclass(frozen=True)
class BrownFile:
    """One Brown file: its name (``ca01``), genre and tagged sentences."""

    name: str
    genre: str
    sentences: list[list[tuple[str, str]]]


def load_brown(directory: Path) -> list[BrownFile]:
    """Every ``c[a-r]NN`` file of the package, sorted by name, with universal tags."""
    genres = _genres(directory / "cats.txt")
    files = sorted(p for p in directory.glob("c[a-r][0-9][0-9]") if p.is_file())
    if not files:
        raise EvalDataError(f"{directory}: no Brown files (c[a-r]NN) found")
    loaded = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="strict")
        sentences = tagged_lines(text, path, universal_tag, "Brown")
        loaded.append(BrownFile(path.name, genres.get(path.name, "unknown"), sentences))
    return loaded


def brown_split(
    files: list[BrownFile], train_sentences: int, test_sentences: int, seed: int = 0
) -> tuple[list[list[tuple[str, str]]], list[list[tuple[str, str]]]]:
    """A fixed split by file: every fifth file of each genre is test, the rest train.

    Sentences of each side are then sampled (seeded) down to the requested counts, so a quick
    run and a full run draw from the same files.
    """
    by_genre: dict[str, list[BrownFile]] = {}
    for f in files:
        by_genre.setdefault(f.genre, []).append(f)
    train: list[list[tuple[str, str]]] = []
    test: list[list[tuple[str, str]]] = []
    for genre_files in by_genre.values():
        for i, f in enumerate(genre_files):
            (test if i % 5 == 4 else train).extend(f.sentences)
    if not test:  # fewer than five files per genre (tiny data): the last file is test
        test = files[-1].sentences
        train = [s for f in files[:-1] for s in f.sentences]
    rng = random.Random(seed)
    return _sample(train, train_sentences, rng), _sample(test, test_sentences, rng)


def _sample(items: list, count: int, rng: random.Random) -> list:
    if len(items) <= count:
        return list(items)
    return [items[i] for i in sorted(rng.sample(range(len(items)), count))]


def _genres(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.split() for line in path.read_text(encoding="utf-8").splitlines())
    return {p[0]: p[1] for p in pairs if len(p) == 2}
