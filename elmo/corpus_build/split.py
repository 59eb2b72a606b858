"""Deterministic train/valid/test assignment of whole documents.

A document (a speech, a chapter, a help page, a man page) goes to one split as a whole, so that
held-out perplexity is not flattered by near-copies of training paragraphs from the same page.
The split follows from a hash of the salt, the source name and the document id alone: it does not
depend on the order of the build, the number of jobs or the other sources, and adding a source
leaves every other document where it was.
"""

from __future__ import annotations

import hashlib

__all__ = ["SPLITS", "assign_split"]

SPLITS = ("train", "valid", "test")
_BUCKETS = 1_000_000


def assign_split(salt: str, source: str, document: str, valid: float, test: float) -> str:
    """``train``, ``valid`` or ``test`` for a document, with the given held-out fractions."""
    digest = hashlib.sha256(f"{salt}\x1f{source}\x1f{document}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % _BUCKETS
    if bucket < test * _BUCKETS:
        return "test"
    if bucket < (test + valid) * _BUCKETS:
        return "valid"
    return "train"
