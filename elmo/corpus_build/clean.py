"""Paragraph hygiene shared by every source: normalisation, rejection rules and dedupe keys.

Extractors return paragraphs of running text; what they cannot tell apart from prose (a table row
that survived, a line of shell, a URL) is rejected here by character statistics, because the
language model should see sentences, not markup.  Duplicates are found by a key that ignores case,
punctuation and spacing, so that the same boilerplate with different line wrapping or quotes is
recognised.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = [
    "dedupe_key",
    "looks_like_code",
    "normalize_paragraph",
    "rejection",
    "word_count",
]

# Invisible or layout characters (and Sphinx's ¶ permalinks) that only get in the way.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff¶"), None)
_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?)\]»])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CODE_CHARS = set("{}[]<>=;_/\\$#@|`^~")
_STRIP = "()[]\"'.,;:!?¿¡«»“”‘’„…*-–—"
_PUNCTUATION = frozenset(".,;:!?¿¡'\"“”‘’«»()-–—…")
_DOTTED = re.compile(r"[a-z]\.[a-z_]", re.IGNORECASE)
_ALNUM = re.compile(r"[^\W_]+")


def normalize_paragraph(text: str) -> str:
    """NFC, no invisible or control characters, single spaces, no space before punctuation."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = _CONTROL.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def word_count(text: str) -> int:
    """Whitespace words, the unit the corpus figures are given in."""
    return len(text.split())


def _code_token(token: str) -> bool:
    core = token.strip(_STRIP)
    if not core:
        return False
    if any(c in _CODE_CHARS for c in core) or "::" in core or "->" in core:
        return True
    # "os.path.join", "file.txt" but not "e.g", "EE.UU", "p.ej"
    return len(core) > 5 and _DOTTED.search(core) is not None and not core.isupper()


def looks_like_code(text: str) -> bool:
    """Whether a paragraph reads like code, a path list or a table rather than prose."""
    chars = [c for c in text if not c.isspace() and c not in _PUNCTUATION]
    if not chars:
        return True
    letters = sum(c.isalpha() for c in chars)
    if letters / len(chars) < 0.75:
        return True
    tokens = text.split()
    code = sum(_code_token(t) for t in tokens)
    return code / len(tokens) > 0.25


def rejection(text: str, min_words: int) -> str | None:
    """Why a normalised paragraph is not prose (``short``, ``code``), or None if it is."""
    if word_count(text) < min_words:
        return "short"
    if looks_like_code(text):
        return "code"
    return None


def dedupe_key(text: str) -> int:
    """A 64-bit key equal for paragraphs that differ only in case, punctuation and spacing."""
    canonical = " ".join(_ALNUM.findall(text.casefold()))
    return int.from_bytes(hashlib.blake2b(canonical.encode(), digest_size=8).digest(), "big")
