"""Plain text out of the formats the corpus sources come in, one extractor per format.

Every extractor reads one input path (a file, or a directory for a SWORD module) and yields
:class:`Document` s: an id, unique within the source, that decides the document's split, and its
paragraphs of running text with the markup gone.  Extractors only strip markup; normalising,
rejecting code and fragments, dedupe and language checks happen once for all sources in
:mod:`elmo.corpus_build.clean` and :mod:`elmo.corpus_build.build`.

Each extractor declares its options and their defaults, so that ``sources.toml`` is validated
before anything is fetched.
"""

from __future__ import annotations

from elmo.corpus_build.extractors import (
    gcide,
    gutenberg,
    html,
    man,
    plain,
    rst,
    sword,
    wikitext,
)
from elmo.corpus_build.extractors.base import Document, ExtractorSpec

__all__ = ["EXTRACTORS", "Document", "ExtractorSpec", "get_extractor"]

EXTRACTORS: dict[str, ExtractorSpec] = {
    "html": ExtractorSpec(html.extract_html, html.OPTIONS),
    "mallard": ExtractorSpec(html.extract_mallard, html.OPTIONS),
    "man": ExtractorSpec(man.extract_man),
    "rst": ExtractorSpec(rst.extract_rst),
    "sword": ExtractorSpec(sword.extract_sword, directories=True),
    "gutenberg": ExtractorSpec(gutenberg.extract_gutenberg),
    "wikitext": ExtractorSpec(wikitext.extract_wikitext),
    "gcide": ExtractorSpec(gcide.extract_gcide),
    "plain": ExtractorSpec(plain.extract_plain, plain.OPTIONS, plain.CHOICES),
    "fortune": ExtractorSpec(plain.extract_fortunes),
}


def get_extractor(name: str) -> ExtractorSpec:
    """The extractor called ``name``; KeyError lists the known names."""
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise KeyError(f"unknown extractor {name!r} (known: {', '.join(EXTRACTORS)})") from None
