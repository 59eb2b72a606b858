"""Reading a training corpus: files, lines, and the lines that must be skipped.

A corpus is a UTF-8 text file (one sentence or paragraph a line) or a directory of them (every
regular, non-hidden file below it, in sorted order).  Empty lines, lines that are not valid UTF-8
and lines that look binary are skipped and counted, never fatal; a corpus with no usable line at
all is an error that names the path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from elmo.errors import CorpusError

__all__ = ["CorpusError", "CorpusStats", "corpus_files", "fingerprint", "read_lines"]


@dataclass
class CorpusStats:
    """What reading a corpus found; ``used`` lines went into training."""

    files: int = 0
    lines: int = 0
    used: int = 0
    empty: int = 0
    invalid_utf8: int = 0
    binary: int = 0

    def summary(self) -> str:
        return (
            f"{self.files} file(s), {self.lines} line(s): {self.used} used, {self.empty} empty, "
            f"{self.invalid_utf8} invalid UTF-8, {self.binary} binary"
        )


def corpus_files(path: str | Path) -> list[Path]:
    """The files of a corpus path, or a :class:`CorpusError` naming the path."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise CorpusError(f"{path}: no such file or directory")
    if not path.is_dir():
        raise CorpusError(f"{path}: not a regular file or directory")
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise CorpusError(f"{path}: directory holds no files")
    return files


def _looks_binary(line: bytes) -> bool:
    if b"\x00" in line:
        return True
    controls = sum(1 for b in line if b < 32 and b not in (9, 11, 12))
    return controls > max(1, len(line) // 10)


def read_lines(files: list[Path], stats: CorpusStats) -> Iterator[str]:
    """The usable lines of ``files`` (stripped), counting every line into ``stats``."""
    for path in files:
        stats.files += 1
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise CorpusError(f"{path}: cannot read: {exc}") from None
        with handle:
            for raw in handle:
                stats.lines += 1
                raw = raw.rstrip(b"\r\n")
                if not raw.strip():
                    stats.empty += 1
                    continue
                if _looks_binary(raw):
                    stats.binary += 1
                    continue
                try:
                    text = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    stats.invalid_utf8 += 1
                    continue
                stats.used += 1
                yield text


def fingerprint(files: list[Path], extra: bytes) -> str:
    """A hash of the files' names and contents plus ``extra`` (tokenizer, settings)."""
    digest = hashlib.sha256(extra)
    for path in files:
        digest.update(str(path.name).encode("utf-8") + b"\0")
        try:
            with path.open("rb") as handle:
                for block in iter(partial(handle.read, 1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise CorpusError(f"{path}: cannot read: {exc}") from None
        digest.update(b"\0\0")
    return digest.hexdigest()[:24]
