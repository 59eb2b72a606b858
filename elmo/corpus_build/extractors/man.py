"""Man pages (groff ``man`` macros), as Debian ships them: ``usr/share/man/<lang>/man?/*.gz``.

Prose is in the text lines and in the arguments of the font macros (``.B``, ``.I``, ``.BR`` …);
everything else is a formatting request and goes.  Paragraphs end at ``.PP``/``.LP``/``.P``,
``.SH``/``.SS``, ``.TP``/``.IP`` (whose tag line is a paragraph of its own: an option name,
usually rejected later as too short) and blank lines.  No-fill blocks (``.nf``/``.fi``,
``.EX``/``.EE``), tables (``.TS``), equations and macro definitions hold code or layout and are
skipped, and so are the sections that are lists rather than prose: the synopsis, "see also",
the colophon and the translators' credits (in English and Spanish).  Escapes are resolved to the
characters they name (``\\(em`` → —, ``\\('a`` → á) or removed (fonts, sizes, motions).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from elmo.corpus_build.extractors.base import Document
from elmo.corpus_build.extractors.textio import read_text

__all__ = ["extract_man", "man_paragraphs", "resolve_escapes"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SKIP_HEADINGS = (
    "SYNOPSIS",
    "SINOPSIS",
    "SINTAXIS",
    "SEE ALSO",
    "VÉASE TAMBIÉN",
    "VEA TAMBIÉN",
    "VÉASE TAMBIEN",
    "VER TAMBIÉN",
    "COLOPHON",
    "COLOFÓN",
    "TRADUCCIÓN",
    "TRANSLATION",
)
_BLOCK_ENDS = {"nf": "fi", "EX": "EE", "TS": "TE", "EQ": "EN", "SY": "YS", "de": "..", "ig": ".."}
_BREAKS = _words("PP LP P sp br HP IP TP RS RE in ti SH SS TQ")
_JOINED = _words("BR BI IB IR RB RI")
_SPACED = _words("B I SM SB")
_GLYPHS = {
    "em": "—",
    "en": "–",
    "hy": "-",
    "bu": "•",
    "aq": "'",
    "dq": '"',
    "lq": "“",
    "rq": "”",
    "oq": "‘",
    "cq": "’",
    "co": "©",
    "rg": "®",
    "tm": "™",
    "de": "°",
    "mu": "×",
    "di": "÷",
    "+-": "±",
    "<=": "≤",
    ">=": "≥",
    "!=": "≠",
    "->": "→",
    "<-": "←",
    "ti": "~",
    "ha": "^",
    "rs": "\\",
    "sl": "/",
    "la": "⟨",
    "ra": "⟩",
    "Fo": "«",
    "Fc": "»",
    "fo": "‹",
    "fc": "›",
    "r!": "¡",
    "r?": "¿",
    "ss": "ß",
    "mi": "−",
    "pl": "+",
    "eq": "=",
    "ga": "`",
    "aa": "´",
    "ba": "|",
    "lB": "[",
    "rB": "]",
    "lC": "{",
    "rC": "}",
    "dg": "†",
    "sc": "§",
    "ps": "¶",
    "Eu": "€",
    "eu": "€",
    "Po": "£",
    "Ye": "¥",
    "ct": "¢",
    "ul": "_",
    "at": "@",
    "sh": "#",
    "Do": "$",
    "tf": "∴",
    "ca": "∩",
    "cu": "∪",
    "if": "∞",
    "pc": "·",
    "a~": "ã",
    "n~": "ñ",
    "N~": "Ñ",
    "c,": "ç",
    "C,": "Ç",
    ",c": "ç",
    ",C": "Ç",
}
_ACCENTS = {"'": "\u0301", "`": "\u0300", "~": "\u0303", ":": "\u0308", "^": "\u0302"}
_STRINGS = {"lq": "“", "rq": "”", "R": "®", "Tm": "™", "(lq": "“", "(rq": "”"}
_ESCAPE = re.compile(
    r"""\\(?:
      \((?P<glyph2>..)                                  # \(xx
    | \[(?P<glyph>[^\]]*)\]                             # \[name]
    | \*(?:\((?P<str2>..)|\[(?P<strn>[^\]]*)\]|(?P<str1>.))  # \*x \*(xx \*[name]
    | f(?:\(..|\[[^\]]*\]|.)                            # fonts
    | [sS][-+]?(?:\d+|\(\d\d|\[[^\]]*\])                # size
    | [nkgmM](?:\(..|\[[^\]]*\]|.)                      # registers, colours
    | [hvwoLlXZNbDRx](?P<delim>.).*?(?P=delim)          # \h'1n' and friends
    | (?P<single>.)
    )""",
    re.VERBOSE,
)
_COMMENT = re.compile(r'(?<!\\)\\".*$')
_ARG = re.compile(r'"((?:[^"]|"")*)"?|(\S+)')


def _glyph(name: str) -> str:
    if name in _GLYPHS:
        return _GLYPHS[name]
    if len(name) == 2 and name[0] in _ACCENTS:
        return unicodedata.normalize("NFC", name[1] + _ACCENTS[name[0]])
    if name.startswith("u") and re.fullmatch(r"u[0-9A-Fa-f]{4,6}", name):
        return chr(int(name[1:], 16))
    return ""


def _replace(match: re.Match[str]) -> str:
    if match.group("glyph2") is not None:
        return _glyph(match.group("glyph2"))
    if match.group("glyph") is not None:
        return _glyph(match.group("glyph"))
    for group in ("str2", "strn", "str1"):
        if match.group(group) is not None:
            return _STRINGS.get(match.group(group), "")
    single = match.group("single")
    if single is None:
        return ""
    return {
        "-": "-",
        "e": "\\",
        "\\": "\\",
        "~": " ",
        " ": " ",
        "0": " ",
        "'": "´",
        "`": "`",
        ".": ".",
        "t": " ",
    }.get(single, "")


def resolve_escapes(text: str) -> str:
    """A line of groff text with its escapes replaced by characters or removed."""
    return _ESCAPE.sub(_replace, _COMMENT.sub("", text))


def _arguments(rest: str) -> list[str]:
    """A macro's arguments: words, or double-quoted strings (``""`` is a quote inside)."""
    return [
        m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)
        for m in _ARG.finditer(rest)
    ]


def man_paragraphs(source: str) -> list[str]:
    """The prose paragraphs of a man page, in order."""
    paragraphs: list[str] = []
    current: list[str] = []
    block_end: str | None = None
    skip_section = False
    tag_next = False

    def flush() -> None:
        text = " ".join(" ".join(current).split())
        if text and not skip_section:
            paragraphs.append(text)
        current.clear()

    for raw in source.splitlines():
        line = raw.rstrip()
        if block_end is not None:
            if line.lstrip(".' ").split(None, 1)[:1] == [block_end] or (
                block_end == ".." and line.strip() == ".."
            ):
                block_end = None
            continue
        if line.startswith((".", "'")):
            if line[1:].lstrip().startswith('\\"'):
                continue
            parts = line[1:].strip().split(None, 1)
            if not parts:
                continue
            request, rest = parts[0], parts[1] if len(parts) > 1 else ""
            if request in _BLOCK_ENDS:
                flush()
                block_end = _BLOCK_ENDS[request]
                continue
            if request in ("SH", "SS"):
                flush()
                heading = " ".join(resolve_escapes(a) for a in _arguments(rest)).strip()
                if request == "SH":
                    skip_section = heading.upper() in _SKIP_HEADINGS
                continue
            if request in _BREAKS:
                flush()
                tag_next = request == "TP"
                continue
            if request in _SPACED or request in _JOINED:
                glue = "" if request in _JOINED else " "
                current.append(glue.join(resolve_escapes(a) for a in _arguments(rest)))
                if tag_next:
                    flush()
                    tag_next = False
            elif request in ("UR", "UE", "MT", "ME", "OP"):
                continue
            continue  # any other request: layout only
        if not line.strip():
            flush()
            continue
        current.append(resolve_escapes(line))
        if tag_next:
            flush()
            tag_next = False
    flush()
    return paragraphs


def extract_man(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per man page."""
    yield Document(name, man_paragraphs(read_text(path)))
