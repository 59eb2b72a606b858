"""Project Gutenberg plain-text books and plays (the ``shakespeare`` package's ``*_gut.txt``).

The licence header and footer go (everything up to the ``*** START OF …`` marker and from the
``*** END OF …`` / "End of the Project Gutenberg" line on, when present).  Paragraphs are
blank-line separated and their lines joined, so verse becomes one line per stanza or speech.
Plays lose what is not dialogue: speaker labels (a short first line like ``Ham.`` or ``First
Clown.``), stage directions in brackets and act/scene headings.  ``_italics_`` lose their marks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from elmo.corpus_build.extractors.base import Document
from elmo.corpus_build.extractors.textio import read_text

__all__ = ["extract_gutenberg", "gutenberg_paragraphs", "strip_gutenberg_boilerplate"]

_START = re.compile(
    r"^\s*(\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG.*|\*END\*THE SMALL PRINT.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_END = re.compile(
    r"^\s*(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG.*|End of (the )?Project Gutenberg.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_SPEAKER = re.compile(r"^[A-Z][\w'’]*(?: [A-Z][\w'’]*){0,3}\.$")
_HEADING = re.compile(r"^(ACT|SCENE|Act|Scene)\s+([IVXLC]+|\d+|the\s+\w+)\b")
_DIRECTION = re.compile(r"\[[^\]]*\]")
_EMPHASIS = re.compile(r"(?<!\w)[_~]([^_~]+)[_~](?!\w)")  # _italics_, ~emphasis~


def strip_gutenberg_boilerplate(text: str) -> str:
    """The body of a Gutenberg text, without the licence header and footer."""
    start = _START.search(text)
    if start:
        text = text[start.end() :]
    end = _END.search(text)
    if end:
        text = text[: end.start()]
    return text


def gutenberg_paragraphs(text: str) -> list[str]:
    """The paragraphs of a Gutenberg text, dialogue without speaker labels or directions."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", strip_gutenberg_boilerplate(text).replace("\r", "")):
        lines = [line.strip() for line in block.strip().splitlines() if line.strip()]
        if len(lines) > 1 and _SPEAKER.match(lines[0]) and len(lines[0].split()) <= 4:
            lines = lines[1:]
        paragraph = " ".join(_DIRECTION.sub(" ", " ".join(lines)).split())
        paragraph = _EMPHASIS.sub(r"\1", paragraph)
        if not paragraph or _HEADING.match(paragraph):
            continue
        letters = [c for c in paragraph if c.isalpha()]
        if letters and all(c.isupper() for c in letters):
            continue  # a title or heading in capitals
        paragraphs.append(paragraph)
    return paragraphs


def extract_gutenberg(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per book."""
    yield Document(name, gutenberg_paragraphs(read_text(path)))
