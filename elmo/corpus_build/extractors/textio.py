"""Reading a source file as text, whatever compression the package ships it with.

Debian compresses man pages (``.gz``), gensim ships Wikipedia as ``.bz2`` and dictd files are
dictzip (``.dz``, gzip-compatible); everything is UTF-8 except a few old files in Latin-1, which
is the fallback because it never fails.
"""

from __future__ import annotations

import bz2
import gzip
import io
from pathlib import Path

__all__ = ["open_binary", "read_text"]


def open_binary(path: Path) -> io.BufferedIOBase:
    """The decompressed bytes of ``path`` as a stream (by suffix: .gz/.dz, .bz2, or none)."""
    if path.suffix in (".gz", ".dz"):
        return gzip.open(path, "rb")
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    return path.open("rb")


def read_text(path: Path) -> str:
    """The whole decompressed file as text: UTF-8, else Latin-1."""
    with open_binary(path) as handle:
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
