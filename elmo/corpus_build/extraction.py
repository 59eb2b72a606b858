"""One source of the corpus build: its package's files → documents → clean paragraphs, split
into sentences, in a work file of JSON records (one a paragraph), with the counts of what was
dropped and why.  Sources run independently, in worker processes when ``jobs`` > 1
(:func:`elmo.corpus_build.build.build_corpus` assembles them).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elmo.corpus_build.clean import dedupe_key, normalize_paragraph, rejection
from elmo.corpus_build.extractors import get_extractor
from elmo.corpus_build.langid import identify
from elmo.corpus_build.manifest import SourceSpec
from elmo.corpus_build.sentences import split_sentences
from elmo.errors import BuildError

__all__ = ["SourceResult", "SourceTask", "extract_source", "input_size", "source_inputs"]


@dataclass
class SourceTask:
    source: SourceSpec
    inputs: list[tuple[Path, str]]
    work_file: Path
    min_words: int
    boilerplate_repeats: int
    drop: tuple[str, ...] = ()


@dataclass
class SourceResult:
    name: str
    files: int = 0
    documents: int = 0
    duplicate_documents: int = 0
    paragraphs: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    repeated: set[int] = field(default_factory=set)


def source_inputs(source: SourceSpec, root: Path) -> list[tuple[Path, str]]:
    """The paths a source reads, sorted; a symlink to a path already read is left out.

    Debian links man page aliases (``cacosl.3.gz`` → ``cacos.3.gz``) to one file: read through
    every alias, one page would count as many, and its paragraphs as boilerplate.
    """
    directories = get_extractor(source.extractor).directories
    found: dict[str, Path] = {}
    for pattern in source.include:
        for path in root.glob(pattern):
            relative = path.relative_to(root).as_posix()
            if path.is_dir() != directories or relative in found:
                continue
            if any(fnmatch.fnmatchcase(relative, exclude) for exclude in source.exclude):
                continue
            found[relative] = path
    if not found:
        raise BuildError(
            f"source {source.name}: include {list(source.include)} matched no "
            f"{'directory' if directories else 'file'} in {root}"
        )
    # Real files first, so that a link never displaces its target.
    ordered = sorted(found.items(), key=lambda item: (item[1].is_symlink(), item[0]))
    targets: set[Path] = set()
    kept = []
    for relative, path in ordered:
        target = path.resolve()
        if target not in targets:
            targets.add(target)
            kept.append((path, relative))
    return sorted(kept, key=lambda item: item[1])


def extract_source(task: SourceTask) -> SourceResult:
    """Extract and filter one source into its work file (runs in a worker process)."""
    source = task.source
    extractor = get_extractor(source.extractor)
    drop = [re.compile(pattern) for pattern in (*task.drop, *source.drop)]
    min_words = source.min_words or task.min_words
    result = SourceResult(source.name, files=len(task.inputs))
    counts: Counter[int] = Counter()
    documents_seen: set[int] = set()
    with task.work_file.open("w", encoding="utf-8") as out:
        for path, relative in task.inputs:
            try:
                for document in extractor.function(path, relative, source.options):
                    result.documents += 1
                    fingerprint = dedupe_key("\n".join(document.paragraphs))
                    if fingerprint in documents_seen:
                        result.duplicate_documents += 1
                        continue  # the same page twice in a package (copies in two sections)
                    documents_seen.add(fingerprint)
                    for raw in document.paragraphs:
                        _paragraph(raw, document.id, task, drop, min_words, counts, result, out)
            except (OSError, ValueError, EOFError) as error:
                message = f"source {source.name}: cannot extract {relative}: {error}"
                raise BuildError(message) from error
    result.repeated = {key for key, n in counts.items() if n >= task.boilerplate_repeats}
    return result


def _paragraph(
    raw: str,
    document: str,
    task: SourceTask,
    drop: list[re.Pattern[str]],
    min_words: int,
    counts: Counter[int],
    result: SourceResult,
    out: Any,
) -> None:
    """Filter one paragraph; a kept one is written as ``[document, key, sentences]``."""
    result.paragraphs += 1
    text = normalize_paragraph(raw)
    reason = rejection(text, min_words)
    if reason is None and any(pattern.search(text) for pattern in drop):
        reason = "pattern"
    if reason is None:
        language = identify(text).language
        if language != task.source.language:
            reason = f"language:{language}"
    if reason is not None:
        result.dropped[reason] += 1
        return
    key = dedupe_key(text)
    counts[key] += 1
    json.dump([document, key, split_sentences(text)], out, ensure_ascii=False)
    out.write("\n")


def input_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
