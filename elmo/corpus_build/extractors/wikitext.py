"""MediaWiki XML dumps (gensim's shortened English Wikipedia sample), wikitext to plain text.

Pages are streamed from the (bz2) XML one at a time; only articles (namespace 0, not
redirects) are kept, one document each.  The wikitext loses what is not running text: comments,
references, templates (infoboxes, citations, navboxes; nested ones from the inside out), tables,
files and categories, headings, and list, indent and table lines.  Links keep their label,
bold/italic quotes go, and HTML entities are decoded.  A few templates that stand for words
inside a sentence are rendered instead of dropped: ``{{convert|5|km}}`` → ``5 km``,
``{{lang|fr|texte}}`` → ``texte``, ``{{nowrap|…}}`` → its text.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from elmo.corpus_build.extractors.base import Document
from elmo.corpus_build.extractors.textio import open_binary

__all__ = ["extract_wikitext", "wikitext_paragraphs"]

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_DROP_ELEMENTS = re.compile(
    r"<(ref|math|gallery|timeline|source|syntaxhighlight|pre|code|score|hiero|chem|imagemap|"
    r"graph|mapframe|templatedata|poem|table)\b[^>]*?(?<!/)>.*?</\1\s*>",
    re.DOTALL | re.IGNORECASE,
)
_SELF_CLOSING = re.compile(r"<[a-zA-Z][^>]*/>")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_INNER_TEMPLATE = re.compile(r"\{\{([^{}]*)\}\}")
_INNER_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.DOTALL)
_INNER_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
_EXTERNAL_LINK = re.compile(r"\[(?:https?:|ftp:|//)[^\s\]]*\s*([^\]]*)\]")
_BARE_URL = re.compile(r"https?://\S+")
_QUOTES = re.compile(r"'{2,}")
_HEADING = re.compile(r"^=+.*=+\s*$")
_MAGIC = re.compile(r"__[A-Z]+__")
_DROP_LINK_PREFIXES = ("file:", "image:", "category:", "media:", "wikt:", "s:", "commons:")


def _render_template(match: re.Match[str]) -> str:
    parts = [part.strip() for part in match.group(1).split("|")]
    name = parts[0].lower().replace("_", " ")
    arguments = [part for part in parts[1:] if "=" not in part]
    if name in ("convert", "cvt") and len(arguments) >= 2:
        return f"{arguments[0]} {arguments[1]}"
    if name in ("lang", "transl") and len(arguments) >= 2:
        return arguments[-1]
    if name in ("nowrap", "nobr", "small", "smaller", "em", "strong", "sic") and arguments:
        return arguments[0]
    return ""


def _render_link(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    lowered = target.strip().lower()
    if lowered.startswith(_DROP_LINK_PREFIXES) or re.match(r"^[a-z]{2,3}(-[a-z]+)?:", lowered):
        return ""
    return (label or target).strip()


def _until_stable(pattern: re.Pattern[str], replacement: Any, text: str) -> str:
    while True:
        text, count = pattern.subn(replacement, text)
        if not count:
            return text


def wikitext_paragraphs(wikitext: str) -> list[str]:
    """The prose paragraphs of one article's wikitext."""
    text = html.unescape(wikitext)  # the dump escapes once; entities in the source remain
    text = _COMMENT.sub("", text)
    text = _DROP_ELEMENTS.sub("", text)
    text = _SELF_CLOSING.sub("", text)
    text = _until_stable(_INNER_TEMPLATE, _render_template, text)
    text = _until_stable(_INNER_TABLE, "", text)
    text = _until_stable(_INNER_LINK, _render_link, text)
    text = _EXTERNAL_LINK.sub(r"\1", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    paragraphs = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("*", "#", ":", ";", "|", "!", "{", "}")):
            continue
        if _HEADING.match(line):
            continue
        line = _MAGIC.sub("", _QUOTES.sub("", _BARE_URL.sub("", line)))
        line = re.sub(r"\(\s*[,;]?\s*\)", "", line)  # "( )" left by dropped templates
        line = " ".join(line.split())
        if line:
            paragraphs.append(line)
    return paragraphs


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def extract_wikitext(path: Path, name: str, options: Mapping[str, Any]) -> Iterator[Document]:
    """One document per article, streamed from the XML."""
    with open_binary(path) as handle:
        page: dict[str, str] = {}
        for _, element in ET.iterparse(handle, events=("end",)):
            tag = _local(element.tag)
            if tag in ("title", "ns", "text"):
                page[tag] = element.text or ""
            elif tag == "redirect":
                page["redirect"] = "yes"
            elif tag == "page":
                if page.get("ns") == "0" and "redirect" not in page:
                    paragraphs = wikitext_paragraphs(page.get("text", ""))
                    if paragraphs:
                        yield Document(f"{name}#{page.get('title', '')}", paragraphs)
                page = {}
                element.clear()
