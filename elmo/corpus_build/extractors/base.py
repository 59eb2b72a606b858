"""What every extractor returns and declares (kept apart so extractors can import it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Document", "ExtractFunction", "ExtractorSpec"]


@dataclass(frozen=True)
class Document:
    """A unit of the split: an id unique within its source, and its paragraphs."""

    id: str
    paragraphs: list[str]


ExtractFunction = Callable[[Path, str, Mapping[str, Any]], Iterator[Document]]


@dataclass(frozen=True)
class ExtractorSpec:
    """An extractor: ``function(path, relative_name, options)`` and its option defaults."""

    function: ExtractFunction
    options: Mapping[str, Any] = field(default_factory=dict)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # allowed option values
    directories: bool = False  # reads a directory (a SWORD module) instead of files
