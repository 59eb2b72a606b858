"""HTML help pages (LibreOffice, GIMP, LilyPond, Debian manuals) and Mallard (GNOME help).

Both are parsed with the standard library's tolerant ``html.parser``: text inside block elements
becomes paragraphs, and elements that hold no prose are skipped with everything inside them:
scripts, styles, the ``<head>``, preformatted code, navigation, hidden switch variants
(LibreOffice keeps one ``hidden`` copy of a paragraph per application), and whatever classes or
ids a source names in ``skip_classes``/``skip_ids`` (breadcrumbs, "related topics" boxes).
Inline markup (links, ``<code>`` inside a sentence, emphasis) keeps its text, so sentences stay
whole.  Section numbers in front of headings ("3.1.2. Instalación") go.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from elmo.corpus_build.extractors.base import Document
from elmo.corpus_build.extractors.textio import read_text

__all__ = ["OPTIONS", "extract_html", "extract_mallard", "html_paragraphs"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


OPTIONS: Mapping[str, Any] = {"skip_classes": [], "skip_ids": []}

_HTML_SKIP = _words(
    """script style head pre noscript textarea svg math template object iframe select button
    nav header footer aside form"""
)
_HTML_BLOCKS = _words(
    """p div li h1 h2 h3 h4 h5 h6 td th tr br dt dd blockquote table ul ol dl section article
    caption figcaption hr address title body main center"""
)
_MALLARD_SKIP = _words("info screen synopsis links media comment")
_MALLARD_BLOCKS = _words(
    """p title subtitle item td th tr note section list steps terms tree desc caption
    figure quote cite table page"""
)
_NUMBERING = re.compile(r"^\d+(?:\.\d+)*\.?\s+(?=\D)")  # "3.1.2. Heading": section numbers
# Adjacent menu items and keys of Mallard's <guiseq>/<keyseq>: "Editar ▸ Preferencias", "Ctrl+O"
_SEQUENCE = {"gui": " ▸ ", "key": "+"}
_VOID = _words("area base br col embed hr img input link meta param source track wbr")


class _Paragraphs(HTMLParser):
    """Collects the text of block elements, skipping whole subtrees that hold no prose."""

    def __init__(
        self,
        skip_tags: frozenset[str],
        blocks: frozenset[str],
        skip_classes: frozenset[str],
        skip_ids: frozenset[str],
    ) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_tags, self.blocks = skip_tags, blocks
        self.skip_classes, self.skip_ids = skip_classes, skip_ids
        self.skipping: str | None = None
        self.depth = 0
        self.current: list[str] = []
        self.paragraphs: list[str] = []
        self.closed: str | None = None  # the element that just ended, if nothing came since

    def _skips(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in self.skip_tags:
            return True
        values = dict(attrs)
        if "hidden" in values:
            return True
        classes = set((values.get("class") or "").split())
        return bool(classes & self.skip_classes) or (values.get("id") or "") in self.skip_ids

    def flush(self) -> None:
        text = _NUMBERING.sub("", " ".join("".join(self.current).split()))
        if text:
            self.paragraphs.append(text)
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping is not None:
            if tag == self.skipping:
                self.depth += 1
            return
        if tag in _SEQUENCE and self.closed == tag:  # Mallard <guiseq>, <keyseq>
            self.current.append(_SEQUENCE[tag])
        self.closed = None
        if tag not in _VOID and self._skips(tag, attrs):
            self.flush()
            self.skipping, self.depth = tag, 1
        elif tag in self.blocks:
            self.flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping is None and tag in self.blocks:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if self.skipping is not None:
            if tag == self.skipping:
                self.depth -= 1
                if self.depth == 0:
                    self.skipping = None
            return
        self.closed = tag
        if tag in self.blocks:
            self.flush()

    def handle_data(self, data: str) -> None:
        if self.skipping is None:
            self.current.append(data)
            self.closed = None


def html_paragraphs(
    markup: str,
    options: Mapping[str, Any] = OPTIONS,
    mallard: bool = False,
) -> list[str]:
    """The paragraphs of an HTML (or Mallard) document, in document order."""
    parser = _Paragraphs(
        _MALLARD_SKIP if mallard else _HTML_SKIP,
        _MALLARD_BLOCKS if mallard else _HTML_BLOCKS,
        frozenset(options.get("skip_classes", ())),
        frozenset(options.get("skip_ids", ())),
    )
    parser.feed(markup)
    parser.close()
    parser.flush()
    return parser.paragraphs


def extract_html(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per page."""
    yield Document(name, html_paragraphs(read_text(path), options))


def extract_mallard(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per Mallard ``.page``."""
    yield Document(name, html_paragraphs(read_text(path), options, mallard=True))
