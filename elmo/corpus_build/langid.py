"""English, Spanish or other, from function words: no model, no download, a few µs a line.

Function words are the most frequent words of a language and nearly disjoint between English and
Spanish, so counting them separates the two reliably on anything longer than a few words; that
is the job here (Spanish help pages hold untranslated English, and lists and code hold neither).
Neighbouring languages share many Spanish function words, so each neighbour (Portuguese,
Catalan, Italian, French, German) is counted on its *own* words only, those that are neither
English nor Spanish: a line is "other" when such evidence is substantial.  ``ñ``, ``¿`` and ``¡``
and endings such as ``-ción`` count for Spanish.  Text with no function word at all (headings,
identifiers, code) is "other": the corpus loses little by dropping it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LANGUAGES", "Guess", "identify"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LANGUAGES = ("en", "es")

# Words that are frequent in both English and Spanish ("a", "no", "me", "he") are left out.
_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        """the of and to in is that for it as was with be by on not i this are or his from at
        which but have an they you were their one all we can her has there been if more when
        will would who so she other its may these what them than some him into only do could
        about then any my now such like our over also should did those because each how your
        through where after must does most between both under while being why upon shall here
        very thus every own whether though without before same many might himself during whose
        against until is it's don't doesn't isn't can't we're they're you're there's itself
        themselves yourself herself ourselves within among already often however therefore
        since just too yet again whom whatever nor become becomes became"""
    ),
    "es": _words(
        """de la que el en y los del se las por un para con una su al lo como más pero sus le ya á ó
        este sí si porque esta entre cuando muy sobre también hasta donde quien desde
        todo nos durante todos uno les ni contra otros ese eso ante ellos esto mí antes
        algunos qué unos yo otro otras otra él tanto esa estos mucho quienes nada muchos cual
        poco ella estar estas algunas algo nosotros mi mis tú te ti tu tus ellas vosotros os
        es está están ser fue fué era puede pueden hace tiene tienen debe hacer cada cómo
        dónde así aquí ahora mismo según bien sólo usted ustedes cuál cuáles aunque mientras
        después luego siempre nunca tan había han sino pues dijo hasta éste ésta
        aquel aquella cuya cuyo estaba estaban fueron será podrá deben puede través también
        ningún ninguna además sido tras"""
    ),
    # Neighbours: their most frequent words; those shared with English or Spanish are removed
    # below, so that only a neighbour's own words count as evidence for it.
    "pt": _words(
        """o os as de do dos em na nos nas um uma é que com não para por se mais como
        mas ao ele ela foi são seu sua também você isso está ou já quando muito eles nós pelo
        pela às aos num numa então ainda onde foram tem têm vai vão estão há até depois tinha"""
    ),
    "ca": _words(
        """el la els les de del dels i que en un una per amb és es al als ho hi però quan
        més són també això aquest aquesta molt seva seu pel pels fins perquè què"""
    ),
    "it": _words(
        """il lo la gli le di del della dei delle degli che e è per non un una con sono
        questo questa anche nel nella alla più ma se essere stato hanno loro suo sua dal
        dalla ed molto così perché dove"""
    ),
    "fr": _words(
        """le la les de des du un une et est en que qui dans pour pas sur au avec ce il elle
        je vous nous ne se sont cette mais ou être aux ces leur été fait comme plus par ont
        son sa ses y très aussi tout était avait"""
    ),
    "de": _words(
        """der die das und ist nicht ein eine zu den mit von sich auch auf für dem werden
        wird im sie es ich wir ihr nach bei aus oder wenn"""
    ),
}
_SHARED = _words("a no me he son sin sea o i")  # common to English and Spanish: in no list
_WORDS = {
    lang: words if lang in ("en", "es") else words - _WORDS["en"] - _WORDS["es"] - _SHARED
    for lang, words in _WORDS.items()
}
_SPANISH_MARKS = re.compile(r"[ñÑ¿¡]")
# Word endings that tell the Ibero-Romance languages apart ("función", "funció", "função").
_ENDINGS = {"es": ("ción", "ciones"), "ca": ("ció", "cions"), "pt": ("ção", "ções", "ão", "ões")}
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True)
class Guess:
    """The language (``en``, ``es`` or ``other``) and the hit counts it was decided on."""

    language: str
    hits: dict[str, int]
    words: int


def _latin(word: str) -> bool:
    return all(ord(c) < 0x250 for c in word)


def identify(text: str, margin: float = 1.5, min_ratio: float = 0.05) -> Guess:
    """English, Spanish or other for a line or paragraph.

    The winner needs ``margin`` times the hits of the other corpus language and hits on at
    least ``min_ratio`` of the words (prose has 30-50 % function words, lists and code have
    few); a neighbour with at least 2 hits and half the winner's makes the line "other".
    """
    words = [w.lower().replace("’", "'") for w in _WORD.findall(text)]
    hits = {lang: 0 for lang in _WORDS}
    if not words or sum(map(_latin, words)) < 0.8 * len(words):
        return Guess("other", hits, len(words))
    for word in words:
        for lang, vocabulary in _WORDS.items():
            if word in vocabulary:
                hits[lang] += 1
        for lang, endings in _ENDINGS.items():
            if word.endswith(endings):
                hits[lang] += 1
    hits["es"] += min(len(_SPANISH_MARKS.findall(text)), 1 + len(words) // 10)
    best = max(LANGUAGES, key=lambda lang: hits[lang])
    other = next(lang for lang in LANGUAGES if lang != best)
    neighbours = max(hits[lang] for lang in hits if lang not in LANGUAGES)
    if (
        hits[best] < max(1.0, min_ratio * len(words))
        or hits[best] < margin * hits[other]
        or neighbours >= max(2, hits[best] / 2)
    ):
        return Guess("other", hits, len(words))
    return Guess(best, hits, len(words))
