"""The ``elmo`` command line: one module a command.

``train`` (a biLM on a corpus), ``embed`` (a file of sentences → vectors), ``convert``
(original files → bundle), ``info`` (what a model is), ``similarity`` (how a word's vectors
change with context, per layer), ``evaluate`` (:mod:`elmo.evaluation.command`), ``corpus
build`` (:mod:`elmo.corpus_build.command`), ``task`` (task models, :mod:`elmo.tasks.command`),
and the commands other installed packages add through the ``elmo.commands`` entry-point group:
the service adds ``serve``, so that the library never imports the service.  Errors the library
reports are printed as one line naming the file or input, with exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from elmo.cli import convert, embed, info, similarity, train
from elmo.corpus_build.command import add_corpus_command
from elmo.errors import ElmoError
from elmo.evaluation.command import add_evaluate
from elmo.tasks.command import add_task_command

__all__ = ["COMMANDS_GROUP", "build_parser", "main"]

COMMANDS_GROUP = "elmo.commands"  # entry points: callables that add a subparser to ``commands``


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elmo", description="ELMo contextual embeddings: train, embed, evaluate, serve."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (convert, info, similarity, train, embed):
        command.add(commands)
    add_evaluate(commands)
    add_corpus_command(commands)
    add_task_command(commands)
    for plugin in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        plugin.load()(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except ElmoError as exc:
        print(f"elmo: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _reader_went_away()
    return status if isinstance(status, int) else 0


def _reader_went_away() -> int:
    """The reader of stdout closed it (``elmo info | head -1``): no fault of the input, so no
    error line.  Later writes (the interpreter flushes stdout on exit) go to the null device,
    and the status is a command stopped by SIGPIPE's, as ``cat`` or ``grep`` report there."""
    # OSError/ValueError: stdout is not a file descriptor (a caller's StringIO)
    with open(os.devnull, "wb") as null, contextlib.suppress(OSError, ValueError):
        os.dup2(null.fileno(), sys.stdout.fileno())
    return 128 + signal.SIGPIPE
