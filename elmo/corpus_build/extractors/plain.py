"""Plain UTF-8 text (speeches, novel chapters) and ``fortune`` cookie files.

Plain files are one document each; their paragraphs are blank-line separated blocks with the
lines joined (``paragraphs = "blank"``) or single lines (``"line"``), as the source is laid out;
``strip_brackets`` removes bracketed insertions such as a transcript's ``[Laughter]`` (and its
``(Applause.)``).
A fortune file is a list of cookies separated by ``%`` lines; each cookie is a document of its
own (they are independent texts), and its attribution line (``-- Author``) is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from elmo.corpus_build.extractors.base import Document
from elmo.corpus_build.extractors.textio import read_text

__all__ = [
    "CHOICES",
    "OPTIONS",
    "extract_fortunes",
    "extract_plain",
    "fortunes",
    "plain_paragraphs",
]

OPTIONS: Mapping[str, Any] = {"paragraphs": "blank", "strip_brackets": False}
CHOICES: Mapping[str, tuple[str, ...]] = {"paragraphs": ("blank", "line")}
_BRACKETS = re.compile(r" ?\[[^\]\n]*\]| ?\((?:Applause|Laughter)[^()\n]{0,20}\)")
_ATTRIBUTION = re.compile(r"^\s*(--|—|―)\s*\S")


def plain_paragraphs(text: str, mode: str = "blank") -> list[str]:
    """Paragraphs of plain text: blank-line separated blocks, or single lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pieces = text.split("\n") if mode == "line" else re.split(r"\n\s*\n", text)
    return [" ".join(piece.split()) for piece in pieces if piece.strip()]


def fortunes(text: str) -> list[str]:
    """The cookies of a fortune file, each one paragraph, without attribution lines."""
    cookies = []
    for cookie in re.split(r"^%\s*$", text.replace("\r", ""), flags=re.MULTILINE):
        lines = [line for line in cookie.splitlines() if not _ATTRIBUTION.match(line)]
        joined = " ".join(" ".join(lines).split())
        if joined:
            cookies.append(joined)
    return cookies


def extract_plain(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per file."""
    text = read_text(path)
    if options.get("strip_brackets", False):
        text = _BRACKETS.sub("", text)
    yield Document(name, plain_paragraphs(text, options.get("paragraphs", "blank")))


def extract_fortunes(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per cookie."""
    for number, cookie in enumerate(fortunes(read_text(path))):
        yield Document(f"{name}#{number}", [cookie])
