"""The GCIDE dictionary in dictd format (Debian ``dict-gcide``: ``gcide.dict.dz``).

What is kept is the running English of an entry: definitions, usage notes and quotations.  The
head (headword, pronunciation, part of speech, etymology, which may wrap over several lines
until its brackets close) goes, and so do source tags (``[1913 Webster]``, ``[PJC]``,
``[Obs.]``), attributions (``--Shak.``), synonym lists, sense numbers, field labels
(``(Bot.)``), derived forms and run-in sub-entries.  GCIDE's character codes are decoded where
they stand for a letter (``[ae]`` → æ, ``['e]`` → é) and reduced to the base letter otherwise
(pronunciation marks such as ``[=a]``).  Each entry is a document; the ``00-database-*``
entries (licence, metadata) are skipped.  Entries are found through the ``.index`` file next to
the ``.dict(.dz)``, not by layout: the licence text has lines at column 0 too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from elmo.corpus_build.extractors.base import Document
from elmo.corpus_build.extractors.textio import open_binary

__all__ = ["entry_paragraphs", "extract_gcide"]

_LIGATURES = {"ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "eth": "ð", "thorn": "þ", "ss": "ß"}
_LIGATURES |= {"imac": "ī", "aum": "ä", "eum": "ë", "ium": "ï", "oum": "ö", "uum": "ü"}
_MARKS = {"'": "\u0301", "`": "\u0300", '"': "\u0308", "~": "\u0303", "^": "\u0302", ",": "\u0327"}
_CODE = re.compile(r"\[([^\]\s]{1,6})\]")
# [1913 Webster], [PJC], [WordNet 1.5], [Obs.], [R.], and etymologies "[NL., Gr. ...]"
_SOURCE_TAG = re.compile(r"\[(?:[A-Z][^\[\]]*\.|\d{4} Webster[^\]]*|WordNet[\d. ]*|[A-Z]{2,})\]")
_SENSE_REF = re.compile(r"\[\d+\]")  # "needle[2]": a WordNet sense number
_DERIVED = re.compile(r"\s--\s\S*[*\"`]\S*.*$")  # "-- Un*ti\"di*ly, adv.": derived forms
_ATTRIBUTION = re.compile(r"\s--\s?[A-Z(].*$")
_SENSE = re.compile(r"^(?:\d+\.|\([a-z]\)|\(\w[\w .&]*\.\))\s*")
_LABEL = re.compile(r"^(?:(?:Usage|Note|Syn\.?|Example|Examples):|pl\.)\s*")
_BRACES = re.compile(r"[{}]")


def _decode(match: re.Match[str]) -> str:
    code = match.group(1)
    if code in _LIGATURES:
        return _LIGATURES[code]
    if len(code) == 2 and code[0] in _MARKS and code[1].isalpha():
        return unicodedata.normalize("NFC", code[1] + _MARKS[code[0]])
    letters = "".join(c for c in code if c.isalpha())
    if letters and letters != code and len(letters) <= 2:
        return letters  # [=a], [i^], [.a]: pronunciation marks on a letter
    return match.group(0)


def _balance(line: str) -> int:
    return line.count("[") - line.count("]") + line.count("(") - line.count(")")


def entry_paragraphs(lines: list[str]) -> list[str]:
    """The prose paragraphs of one entry (its lines, headword line first)."""
    depth = _balance(lines[0])
    at = 1
    # The head goes on while its brackets are open, and pronunciation / etymology lines follow.
    while at < len(lines) and lines[at].strip() and (depth > 0 or lines[at].lstrip()[:1] in "(["):
        depth += _balance(lines[at])
        at += 1
    paragraphs = []
    block: list[str] = []
    for line in [*lines[at:], ""]:
        if line.strip():
            block.append(line.strip())
            continue
        if not block:
            continue
        text = " ".join(block)
        block = []
        if text.startswith(("Syn:", "Syn.", "See", "Cf.")):
            continue
        text = _SENSE_REF.sub("", _SOURCE_TAG.sub("", text))
        text = _CODE.sub(_decode, text)
        text = _ATTRIBUTION.sub("", _DERIVED.sub("", text))
        text = _LABEL.sub("", _SENSE.sub("", _SENSE.sub("", text.strip())))
        text = " ".join(_BRACES.sub("", text).split())
        if text and "\\" not in text:  # a backslash: a run-in sub-entry head, not prose
            paragraphs.append(text)
    return paragraphs


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _number(encoded: str) -> int:
    value = 0
    for char in encoded:
        value = value * 64 + _B64.index(char)
    return value


def _entries(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(headword, lines) of every entry, in file order, located through the dictd index.

    The index, not the layout, says where entries start: the licence text inside the
    ``00-database-info`` entry has lines at column 0 too.
    """
    index = path.with_name(path.name.split(".dict")[0] + ".index")
    spans: dict[int, tuple[int, str]] = {}
    for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) >= 3:
            spans.setdefault(_number(fields[1]), (_number(fields[2]), fields[0]))
    with open_binary(path) as handle:
        data = handle.read()
    for offset in sorted(spans):
        size, headword = spans[offset]
        text = data[offset : offset + size].decode("utf-8", errors="replace")
        yield headword, text.rstrip().splitlines()


def extract_gcide(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per dictionary entry."""
    for headword, lines in _entries(path):
        if headword.startswith("00-database") or headword.startswith("00database") or not lines:
            continue
        paragraphs = entry_paragraphs(lines)
        if paragraphs:
            yield Document(f"{name}#{headword}", paragraphs)
