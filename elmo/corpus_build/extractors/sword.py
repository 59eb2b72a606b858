"""SWORD zText Bible modules (Debian ``sword-text-*``), read without the SWORD library.

A module directory holds, per testament (``ot``, ``nt``), three files: ``.bzs`` lists the zlib
blocks of ``.bzz`` (12-byte little-endian records: offset, compressed size, uncompressed size)
and ``.bzv`` has one 10-byte record per verse slot (block index uint32, offset in the
decompressed block uint32, size uint16; size 0: no verse); zCom4 commentaries use ``.cz?``
files with 32-bit sizes.  Verse text is OSIS XML: notes and headings are dropped with their
content (they are not the text), every other tag is dropped and its content kept, paragraph
milestones split paragraphs.  A commentary entry linked to several verses is read once.  A
document is a chapter (``Gen.1``), taken from the ``<chapter>`` tags in the text, so the split
never separates verses of one chapter.
"""

from __future__ import annotations

import html
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from elmo.corpus_build.extractors.base import Document

__all__ = ["extract_sword", "osis_paragraphs", "read_ztext"]

_DROP = re.compile(r"<(note|title)\b[^>]*?(?<!/)>.*?</\1>", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r'<div\b[^>]*\btype="x-p"[^>]*/>|</?p\b[^>]*>|<lb\b[^>]*/>')
_CHAPTER = re.compile(r'<chapter\b[^>]*\bosisID="([^"]+)"')
_BOOK = re.compile(
    r'<div\b[^>]*\bosisID="([^".]+)"[^>]*\btype="book"|<div\b[^>]*\btype="book"'
    r'[^>]*\bosisID="([^".]+)"'
)


def osis_paragraphs(markup: str) -> list[str]:
    """The readable text of one OSIS entry: no notes, no headings, no tags.

    Paragraph milestones (``<div type="x-p"/>``, ``<p>``, ``<lb/>``) split it: a commentary
    entry holds many paragraphs, a verse usually one.
    """
    text = _BREAK.sub("\n", _DROP.sub(" ", markup))
    pieces = html.unescape(_TAG.sub("", text)).split("\n")
    return [" ".join(piece.split()) for piece in pieces if piece.strip()]


def read_ztext(module: Path, testament: str) -> Iterator[str]:
    """The raw OSIS text of every non-empty verse slot of one testament, in order.

    ``.bz?`` files are zText/zCom (16-bit verse sizes); ``.cz?`` files are zCom4, the same
    layout with 32-bit verse sizes (commentaries with long entries).
    """
    wide = not (module / f"{testament}.bzs").is_file()
    prefix = f"{testament}.{'c' if wide else 'b'}z"
    index = (module / f"{prefix}s").read_bytes()
    data = (module / f"{prefix}z").read_bytes()
    verses = (module / f"{prefix}v").read_bytes()
    record, width = ("<III", 12) if wide else ("<IIH", 10)
    blocks = [struct.unpack_from("<III", index, at) for at in range(0, len(index) - 11, 12)]
    cache: tuple[int, bytes] | None = None
    previous: tuple[int, int, int] | None = None
    for at in range(0, len(verses) - width + 1, width):
        block, offset, size = struct.unpack_from(record, verses, at)
        if size == 0 or (block, offset, size) == previous:
            continue  # no verse, or a commentary entry linked to the next verse too
        previous = (block, offset, size)
        if cache is None or cache[0] != block:
            start, compressed, _ = blocks[block]
            cache = (block, zlib.decompress(data[start : start + compressed]))
        yield cache[1][offset : offset + size].decode("utf-8", errors="replace")


def extract_sword(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per chapter (and one per book introduction) of a zText module."""
    for testament in ("ot", "nt"):
        if not any((path / f"{testament}.{kind}zs").is_file() for kind in "bc"):
            continue
        document, paragraphs = f"{name}#{testament}.front", list[str]()
        for markup in read_ztext(path, testament):
            heading = _CHAPTER.search(markup) or _BOOK.search(markup)
            if heading is not None:
                if paragraphs:
                    yield Document(document, paragraphs)
                paragraphs = []
                found = next(group for group in heading.groups() if group)
                document = f"{name}#{found}" if "." in found else f"{name}#{found}.intro"
            paragraphs.extend(osis_paragraphs(markup))
        if paragraphs:
            yield Document(document, paragraphs)
