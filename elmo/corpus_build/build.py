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

import fnmatch
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from elmo.corpus_build.clean import dedupe_key, normalize_paragraph, rejection, word_count
from elmo.corpus_build.extractors import get_extractor
from elmo.corpus_build.langid import LANGUAGES, identify
from elmo.corpus_build.manifest import CorpusSpec, SourceSpec
from elmo.corpus_build.sentences import split_sentences
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


@dataclass
class _Task:
    source: SourceSpec
    inputs: list[tuple[Path, str]]
    work_file: Path
    min_words: int
    boilerplate_repeats: int
    drop: tuple[str, ...] = ()


@dataclass
class _SourceResult:
    name: str
    files: int = 0
    documents: int = 0
    duplicate_documents: int = 0
    paragraphs: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    repeated: set[int] = field(default_factory=set)


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


def _inputs(source: SourceSpec, root: Path) -> list[tuple[Path, str]]:
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


def _process_source(task: _Task) -> _SourceResult:
    """Extract and filter one source into its work file (runs in a worker process)."""
    source = task.source
    extractor = get_extractor(source.extractor)
    drop = [re.compile(pattern) for pattern in (*task.drop, *source.drop)]
    min_words = source.min_words or task.min_words
    result = _SourceResult(source.name, files=len(task.inputs))
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
    task: _Task,
    drop: list[re.Pattern[str]],
    min_words: int,
    counts: Counter[int],
    result: _SourceResult,
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
) -> tuple[dict[str, Path], list[_Task]]:
    """Each package fetched once (its root, by key), and each source's extraction task."""
    roots: dict[str, Path] = {}
    tasks: list[_Task] = []
    for source in spec.sources:
        package = source.to_package()
        if package.key not in roots:
            log(f"fetch {source.registry}:{source.package}=={source.version}")
            roots[package.key] = Path(fetch_package(package, cache))
        inputs = _inputs(source, roots[package.key])
        work_file = work / f"{source.name}.jsonl"
        tasks.append(
            _Task(source, inputs, work_file, spec.min_words, spec.boilerplate_repeats, spec.drop)
        )
    return roots, tasks


def _extract(tasks: list[_Task], jobs: int, log: Callable[[str], None]) -> dict[str, _SourceResult]:
    """Every source's documents into its work file; largest first, so that parallel workers
    finish together."""
    results: dict[str, _SourceResult] = {}
    ordered = sorted(tasks, key=lambda t: -sum(_size(p) for p, _ in t.inputs))
    if jobs > 1 and len(tasks) > 1:
        with multiprocessing.get_context("spawn").Pool(min(jobs, len(tasks))) as pool:
            done: Iterable[_SourceResult] = pool.imap_unordered(_process_source, ordered)
            for result in done:
                results[result.name] = result
                log(f"extracted {result.name}: {result.documents} documents")
    else:
        for task in ordered:
            result = _process_source(task)
            results[result.name] = result
            log(f"extracted {result.name}: {result.documents} documents")
    return results


def _write_source(
    task: _Task,
    result: _SourceResult,
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


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _source_manifest(
    source: SourceSpec, result: _SourceResult, root: Path, written: _Written
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
