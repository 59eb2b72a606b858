"""A rule-based sentence splitter for English and Spanish paragraphs.

The trainer reads one sentence a line, and a wrong split costs little (a sentence in two lines)
while a missed one costs little too (a long line), so simple rules do: a sentence ends at ``.``,
``?``, ``!`` or ``…`` (and the quotes or brackets closing it) followed by space and a capital,
possibly behind an opening ``¿ ¡ " “ « ( —``.  A period does not end a sentence after a title
(Mr., Sra.), an initial (J. Smith), a known abbreviation (e.g., pág.), a dotted acronym (U.S.,
EE. UU.) unless a typical sentence opener follows, or a list number at the start of the text.
Numbers never split: there is no space inside "3.14" or "1.000".
"""

from __future__ import annotations

import re

__all__ = ["split_sentences"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Never end a sentence: titles and abbreviations that are followed by a name or a number.
_TITLES = _words(
    """mr mrs ms messrs dr drs prof st mt gen gov col lt sgt capt cmdr adm rev hon pres
    sr sra srta sres sras dña dn d dª fr
    """
)
# End a sentence only before a typical sentence opener (they often stand mid-sentence).
_ABBREVIATIONS = _words(
    """e.g i.e vs v cf al approx ca fig figs vol vols ch chap sec pp ed eds eq eqs ref refs
    jan feb aug sept oct nov dec no nos op cit ibid resp dept est inc ltd co corp
    p.ej ej pág págs núm nº art arts cap caps aprox ud uds vd vds av avda
    """
)
_OPENERS = _words(
    """the a an this that these those it its i we you he she they there here in on at for
    but and so if when after as however then thus his her our their my your one some all
    el la los las lo un una en pero y si cuando este esta estos estas eso esto no es se
    también así por para con de del al yo tú él ella nosotros ellos usted ustedes"""
)
_CANDIDATE = re.compile(r"[.?!…]+[\"'”’»)\]]*\s+")
_OPENING = "¿¡\"'“‘«(—–-["


def _starts_sentence(rest: str) -> bool:
    i = 0
    while i < len(rest) and rest[i] in _OPENING:
        i += 1
    return i < len(rest) and rest[i].isupper()


def _first_word(rest: str) -> str:
    match = re.match(r"[\W_]*([^\W_]+)", rest)
    return match.group(1).lower() if match else ""


def _period_ends(text: str, start: int, rest: str) -> bool:
    """Whether the period at ``text[start]`` ends a sentence (``rest`` follows the space)."""
    before = text[:start]
    token = before.rsplit(None, 1)[-1] if before.strip() else ""
    token = token.lstrip("(\"'“‘«¿¡[—–-")
    lower = token.lower()
    if not token:
        return True
    if lower in _TITLES or (len(token) == 1 and token.isalpha() and token.isupper()):
        return False
    if token.isdigit() and not before[: len(before) - len(token)].strip():
        return False  # "1. Introduction": a list number
    dotted = "." in token.strip(".") and all(part.isalpha() for part in token.split(".") if part)
    # "EE. UU.": the "EE." part before a space
    spaced = len(token) <= 3 and token.isupper() and re.match(r"[A-Z]{1,3}\.", rest) is not None
    if lower in _ABBREVIATIONS or dotted or spaced:
        return _first_word(rest) in _OPENERS and not spaced
    return True


def split_sentences(text: str) -> list[str]:
    """The sentences of one normalised paragraph, in order; no sentence lacks a letter."""
    sentences: list[str] = []
    begin = 0
    for match in _CANDIDATE.finditer(text):
        rest = text[match.end() : match.end() + 40]
        if not _starts_sentence(rest):
            continue
        marks = match.group()
        single_period = marks.startswith(".") and not marks.startswith("..")
        if single_period and not _period_ends(text, match.start(), rest):
            continue
        sentences.append(text[begin : match.end()].strip())
        begin = match.end()
    sentences.append(text[begin:].strip())
    merged: list[str] = []
    for sentence in sentences:
        if not sentence:
            continue
        if merged and not any(c.isalpha() for c in sentence):
            merged[-1] = f"{merged[-1]} {sentence}"
        else:
            merged.append(sentence)
    return merged
