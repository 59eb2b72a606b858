"""reStructuredText sources (Sphinx ``_sources/*.rst.txt`` of the Python and Linux docs).

The text is cut into blocks at blank lines and read with a little state: the indented body after
a paragraph ending in ``::`` is a literal (code) block, and so is the body of a directive that
holds code, tables, images or tables of contents (``code-block``, ``literalinclude``,
``list-table``, ``toctree``, ``kernel-doc`` …); comments, link targets and substitution
definitions go with their indented continuation.  Directives whose body is prose (``note``,
``warning``, ``versionchanged``, and the API descriptions ``function``/``class``/``method`` whose
signature is code but whose body is documentation) keep their body.  Headings, transitions, grid
and simple tables, doctest and line blocks are dropped; list items and definition-list terms
become paragraphs of their own.  Inline markup keeps its text: ``:func:`open``` → ``open``,
```the docs <https://…>`_`` → ``the docs``, ``:rfc:`7159``` → ``RFC 7159``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from elmo.corpus_build.extractors.base import Document
from elmo.corpus_build.extractors.textio import read_text

__all__ = ["extract_rst", "inline_text", "rst_paragraphs"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SKIP_DIRECTIVES = _words(
    """code-block code sourcecode literalinclude highlight highlightlang toctree image figure
    include raw math csv-table list-table table flat-table productionlist doctest testcode
    testoutput testsetup testcleanup graphviz digraph kernel-doc kernel-include kernel-abi
    kernel-feat kernel-figure kernel-render only index tabularcolumns default-role role
    sectionauthor moduleauthor codeauthor module currentmodule program parsed-literal contents
    automodule autoclass autofunction audit-event availability cssclass c:namespace
    c:namespace-push c:namespace-pop cpp:namespace maxdepth rubric centered line-block
    literal-block glossary-term raw-html svg ditaa"""
)
_DIRECTIVE = re.compile(r"^\.\.\s+([\w:.+-]+)::(.*)$")
_COMMENT = re.compile(r"^\.\.(\s|$)")
_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+<>:._!$%&(),/;?@\[\\\]{|}])\1{2,}\s*$")
_SIMPLE_TABLE = re.compile(r"^=+( +=+)+\s*$")
_BULLET = re.compile(r"^([-*+•‣⁃]|\d+[.)]|#[.)]|\(\d+\)|[a-zA-Z][.)]) +(?=\S)")
_FIELD = re.compile(r"^:[^:\s][^:]*:(\s+|$)")
_OPTION_LINE = re.compile(r"^:[\w-]+:")

_ROLE = re.compile(r":(?:[\w.+-]+:)+`([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")
_LINK = re.compile(r"`([^`<]*?)\s*<[^`>]+>`_{1,2}")
_REFERENCE = re.compile(r"`([^`]+)`_{0,2}")
_FOOTNOTE = re.compile(r"\s?\[(?:#[\w-]*|\d+|\*|[\w-]+)\]_")
_STRONG = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])")
_SUBSTITUTION = re.compile(r"\|[\w -]+\|_{0,2}")
_NAMED_REF = re.compile(r"(?<![\w_])([A-Za-z][\w-]*?)__?(?=[\s.,;:!?)]|$)")


def _role_text(match: re.Match[str]) -> str:
    role = match.group(0)[: match.group(0).index("`")]
    text = match.group(1)
    titled = re.match(r"^(.*?)\s*<[^<>]+>$", text, re.DOTALL)
    if titled and titled.group(1):
        text = titled.group(1)
    text = text.lstrip("!")
    if text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    if role in (":rfc:", ":pep:"):
        return f"{role[1:-1].upper()} {text}"
    return text


def inline_text(text: str) -> str:
    """A paragraph with its inline markup replaced by the text it shows."""
    text = _FOOTNOTE.sub("", text)
    text = _ROLE.sub(_role_text, text)
    text = _LITERAL.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REFERENCE.sub(r"\1", text)
    text = _STRONG.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    text = _SUBSTITUTION.sub("", text)
    text = _NAMED_REF.sub(r"\1", text)
    return text.replace("\\ ", "").replace("\\", "")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _blocks(text: str) -> Iterator[list[str]]:
    block: list[str] = []
    for line in text.expandtabs(8).splitlines():
        if line.strip():
            block.append(line.rstrip())
        elif block:
            yield block
            block = []
    if block:
        yield block


def _strip_headings(lines: list[str]) -> list[str]:
    kept: list[str] = []
    for j, line in enumerate(lines):
        stripped = line.strip()
        if _ADORNMENT.match(stripped):
            if kept and j > 0 and kept[-1] is lines[j - 1] and not _ADORNMENT.match(kept[-1]):
                kept.pop()  # the title above an underline
            continue
        kept.append(line)
    return kept


def _paragraphs_of_block(lines: list[str]) -> list[list[str]]:
    """Split a block into list items, definition terms and definitions."""
    groups: list[list[str]] = []
    content_indent: int | None = None
    previous_indent: int | None = None
    for line in lines:
        indent = _indent(line)
        body = line.strip()
        bullet = _BULLET.match(body)
        field = _FIELD.match(body)
        if bullet or field:
            marker = bullet or field
            assert marker is not None
            groups.append([body[marker.end() :]])
            content_indent = indent + marker.end()
        elif groups and previous_indent is not None and indent in (previous_indent, content_indent):
            groups[-1].append(body)
        else:
            groups.append([body])
            content_indent = None
        previous_indent = indent if not (bullet or field) else content_indent
    return groups


def rst_paragraphs(text: str) -> list[str]:
    """The prose paragraphs of a reStructuredText document, in order."""
    paragraphs: list[str] = []
    skip_deeper_than: int | None = None
    for block in _blocks(text):
        indent = min(_indent(line) for line in block)
        if skip_deeper_than is not None:
            if indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        first = block[0].strip()
        directive = _DIRECTIVE.match(first)
        if directive:
            name = directive.group(1)
            if name in _SKIP_DIRECTIVES:
                skip_deeper_than = indent
                continue
            body = [line for line in block[1:] if not _OPTION_LINE.match(line.strip())]
            argument = directive.group(2).strip()
            is_admonition = name in (
                "note",
                "warning",
                "tip",
                "important",
                "hint",
                "caution",
                "attention",
                "danger",
                "error",
                "seealso",
                "admonition",
                "impl-detail",
                "deprecated-removed",
            )
            if is_admonition and argument:
                body = [argument, *body]
            elif name.startswith(("version", "deprecated")) and " " in argument:
                body = [argument.split(None, 1)[1], *body]
            block = body
            if not block:
                continue
        elif _COMMENT.match(first):
            skip_deeper_than = indent
            continue
        if first.startswith(">>>") or first.startswith("| ") or first == "|":
            continue
        if first.startswith(("+-", "+=")) or _SIMPLE_TABLE.match(first):
            continue
        block = _strip_headings(block)
        for group in _paragraphs_of_block(block):
            paragraph = " ".join(group)
            if paragraph.endswith("::"):  # "Example::" shows "Example:", "Example ::" "Example"
                skip_deeper_than = indent
                bare = paragraph[:-2]
                paragraph = bare if bare.endswith(" ") or not bare else bare + ":"
            paragraph = " ".join(inline_text(paragraph).split())
            if paragraph and paragraph != ":":
                paragraphs.append(paragraph)
    return paragraphs


def extract_rst(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per source file."""
    yield Document(name, rst_paragraphs(read_text(path)))
