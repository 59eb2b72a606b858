"""``elmo task table``: the paper's comparison, made by one command for EVALUATION.md.

Peters et al. (2018) show what the contextual layers add by training the same task model on the
context-free layer alone and on the learned mix of all layers; a random-init biLM of the same
architecture shows what pretraining adds beyond the architecture and the head.  Per task this
module trains the same head three times on the same split:

- ``layer0``: layer 0 of the trained biLM alone (``elmo task train --layers 0``);
- ``mix``: the learned scalar mix of all the trained biLM's layers;
- ``control``: the learned mix of :func:`elmo.evaluation.runner.random_init_control`'s model,
  the control ``elmo evaluate`` probes, written as a bundle so that it trains like any biLM.

The splits come from :func:`elmo.tasks.datasets.write_task_data` (``elmo task data``'s code)
and the scores from :func:`elmo.tasks.train.train_task` on the test split, so that every number
in the table is one that ``elmo task train --test`` prints and ``elmo task evaluate`` gives on
the kept heads.  The table is a section between markers (:mod:`elmo.evaluation.report`), which
``elmo evaluate`` keeps when it rewrites the rest of the file.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from elmo.errors import InvalidInputError
from elmo.evaluation.report import TASK_TABLE_END, TASK_TABLE_START, task_name
from elmo.evaluation.runner import random_init_control
from elmo.evaluation.sources import EVAL_PACKAGES
from elmo.io.bundle import load_config, load_model, load_tokenizer, resolve_model_path, save_bundle
from elmo.tasks.bundle import TASK_FILE
from elmo.tasks.data import TaskKind, read_dataset
from elmo.tasks.datasets import SPLITS, TASK_DATASETS, Sizes, write_task_data
from elmo.tasks.heads import TaskConfig

__all__ = [
    "RUNS",
    "TABLE_TASKS",
    "TaskRow",
    "TaskTable",
    "run_task_table",
    "table_json",
    "table_markdown",
]

TABLE_TASKS = tuple(sorted(TASK_DATASETS))  # polarity (classify), pos, pos-es (tag)
RUNS = {  # run → its column in the table
    "layer0": "layer 0 (trained)",
    "mix": "mix (trained)",
    "control": "mix (random-init control)",
}
CONTROL_DIR = "control-bilm"


@dataclass
class TaskRow:
    """One task's three runs: ``scores`` maps a run of :data:`RUNS` to its test scores (as
    ``elmo task train --test`` reports them), ``epochs`` to ``(epochs run, best epoch)``."""

    name: str
    kind: str
    sentences: dict[str, int]
    package: str
    scores: dict[str, dict[str, float]]
    epochs: dict[str, tuple[int, int]]


@dataclass
class TaskTable:
    model: str
    config: TaskConfig
    rows: list[TaskRow]
    seconds: float
    command: str = ""


def run_task_table(
    model: str | Path,
    tasks: Sequence[str] = TABLE_TASKS,
    sizes: Sizes | None = None,
    config: TaskConfig | None = None,
    *,
    work_dir: Path | None = None,
    cache: Path | None = None,
    offline: bool = False,
    force: bool = False,
    progress: bool = False,
    device: str = "cpu",
    command: str = "",
    log: Callable[[str], None] = lambda message: None,
) -> TaskTable:
    """Train the three heads of every task in ``tasks`` and collect their test scores.

    ``sizes``: sentences per split for every task (a split left None, or all with None, gets
    each dataset's default).  ``config``: the head and its training (``task`` and ``layers``
    are set per run); its ``seed`` also splits the data and initialises the control, as
    ``elmo evaluate --seed`` does.  ``work_dir`` keeps the splits, the control bundle and the
    three task models of each task, for ``elmo task evaluate`` (a temporary directory
    otherwise); one holding task models of an earlier run needs ``force``, which trains them
    again.  ``command``: what regenerates the table, shown under it and in each task model's
    card.
    """
    config = config or TaskConfig()
    unknown = sorted(set(tasks) - set(TABLE_TASKS))
    if unknown or not tasks:
        choices = ",".join(TABLE_TASKS)
        raise InvalidInputError(f"--tasks: unknown task(s) {unknown}; choose from {choices}")
    if sizes is not None and min((n for n in sizes if n is not None), default=1) < 1:
        raise InvalidInputError(f"each split needs at least 1 sentence, got {list(sizes)}")
    if config.layers is not None or config.fine_tune:
        raise InvalidInputError("the table sets the layers itself and keeps the biLM frozen")
    load_config(model)  # a wrong model fails before any data is fetched
    settings = _Settings(model, tasks, sizes, config, cache, offline, progress, device, command)
    if work_dir is not None:
        _check_work_dir(work_dir, tasks, force)
        return _run(settings, work_dir, force, log)
    with tempfile.TemporaryDirectory(prefix="elmo-task-table-") as tmp:
        return _run(settings, Path(tmp), True, log)


@dataclass(frozen=True)
class _Settings:
    model: str | Path
    tasks: Sequence[str]
    sizes: Sizes | None
    config: TaskConfig
    cache: Path | None
    offline: bool
    progress: bool
    device: str
    command: str


def _run(settings: _Settings, work_dir: Path, force: bool, log: Callable[[str], None]) -> TaskTable:
    from elmo.tasks.train import train_task

    started = time.perf_counter()
    model, config = settings.model, settings.config
    control = _write_control(model, config.seed, work_dir / CONTROL_DIR)
    bases: dict[str, str | Path] = {"layer0": model, "mix": model, "control": control}
    written = {  # every split first: a size a dataset cannot give fails before any training
        name: write_task_data(
            name,
            work_dir / name / "data",
            settings.sizes,
            config.seed,
            settings.cache,
            settings.offline,
            force=True,  # the same seed writes the same bytes; a checkpoint checks its data
            log=log,
        )
        for name in settings.tasks
    }
    rows = []
    for name, sentences in written.items():
        kind = cast("TaskKind", TASK_DATASETS[name].task)
        source = TASK_DATASETS[name].source
        data_dir = work_dir / name / "data"
        train, valid, test = (read_dataset(data_dir / f"{s}.jsonl", kind) for s in SPLITS)
        package = EVAL_PACKAGES[source]
        row = TaskRow(
            name, kind, sentences, f"{package.registry} `{package.name}=={package.version}`", {}, {}
        )
        for number, (run, column) in enumerate(RUNS.items(), start=1):
            log(f"{name}: training the {config.head} head on {column} ({number}/{len(RUNS)})")
            layers = (0,) if run == "layer0" else None
            run_config = dataclasses.replace(config, task=kind, layers=layers)
            result = train_task(
                run_config,
                bases[run],
                train,
                valid,
                work_dir / name / run,
                test=test,
                command=f"{settings.command}  # the {column} run" if settings.command else None,
                force=force,
                progress=settings.progress,
                device=settings.device,
                log=_prefixed(log, f"{name}, {column}"),
            )
            assert result.test is not None
            row.scores[run] = result.test
            row.epochs[run] = (result.epochs, result.best_epoch)
            log(f"{name}, {column}: test accuracy {100 * result.test['accuracy']:.2f} %")
        rows.append(row)
    return TaskTable(str(model), config, rows, time.perf_counter() - started, settings.command)


def _prefixed(log: Callable[[str], None], where: str) -> Callable[[str], None]:
    """``log`` with each line saying which task and run it is about."""
    return lambda message: log(f"{where}: {message}")


def _write_control(model: str | Path, seed: int, directory: Path) -> Path:
    """The random-init control of ``model`` as a bundle (its tokenizer, no LM head: a task
    reads only the layers), the same weights ``elmo evaluate --seed`` probes."""
    path = resolve_model_path(model)
    control = random_init_control(load_model(path), seed)
    card = (
        f"# Random-init control of `{model}`\n\nThe architecture of `{model}` with random "
        f"weights (seed {seed}), for `elmo task table`; not a trained model.\n"
    )
    save_bundle(
        control, directory, include_lm_head=False, tokenizer=load_tokenizer(path), model_card=card
    )
    return directory


def _check_work_dir(work_dir: Path, tasks: Sequence[str], force: bool) -> None:
    if work_dir.exists() and not work_dir.is_dir():
        raise InvalidInputError(f"--work-dir {work_dir}: exists and is not a directory")
    if force:
        return
    for name in tasks:
        for run in RUNS:
            if (work_dir / name / run / TASK_FILE).exists():
                raise InvalidInputError(
                    f"--work-dir {work_dir}: holds the task models of an earlier run "
                    f"({name}/{run}); pass --force to train them again"
                )


def table_markdown(table: TaskTable) -> str:
    """The marked section for EVALUATION.md (markers included, no final newline)."""
    config = table.config
    head = (
        f"{config.head} head"
        if config.head == "linear"
        else f"{config.head} head ({config.hidden_size} per direction)"
    )
    lines = [
        TASK_TABLE_START,
        "## Task models (test accuracy %)",
        "",
        f"Model: `{table.model}`. Per task the same {head} is trained three times on the frozen "
        "biLM, reading a learned scalar mix (eq. 1 of Peters et al. 2018): of layer 0 alone "
        "(context-free), of all the trained model's layers, and of all the layers of a "
        f"random-init model of the same architecture (seed {config.seed}, the control of the "
        "probes). Scores on the test split with the epoch best on validation, as `elmo task "
        "train --test` prints them; differences in points.",
        "",
        "| task | metric | " + " | ".join(RUNS.values()) + " | mix − layer 0 | mix − control |",
        "| --- | --- |" + " ---: |" * (len(RUNS) + 2),
    ]
    for row in table.rows:
        accuracy = {run: 100 * row.scores[run]["accuracy"] for run in RUNS}
        metric = "token accuracy" if row.kind == "tag" else "accuracy"
        cells = [f"{accuracy[run]:.1f}" for run in RUNS]
        cells += [
            _points(accuracy["mix"] - accuracy["layer0"]),
            _points(accuracy["mix"] - accuracy["control"]),
        ]
        lines.append(f"| {task_name(row.name)} | {metric} | " + " | ".join(cells) + " |")
    lines.append("")
    for row in table.rows:
        split = ", ".join(f"{s} {n}" for s, n in row.sentences.items())
        epochs = ", ".join(
            f"{RUNS[run]} {ran} (best {best})" for run, (ran, best) in row.epochs.items()
        )
        lines.append(
            f"- {task_name(row.name)}: {row.kind}, {head}; {split} sentences of {row.package} "
            f"(`elmo task data {row.name}`, seed {config.seed}); AdamW lr {config.lr:g}, batch "
            f"{config.batch_size}, dropout {config.dropout:g}, at most {config.epochs} epochs "
            f"(patience {config.patience}); epochs run: {epochs}."
        )
    if table.command:
        lines += ["", "Regenerate with:", "", "```bash", table.command, "```"]
    lines.append(TASK_TABLE_END)
    return "\n".join(lines)


def _points(difference: float) -> str:
    """A signed difference in points; a difference that rounds to zero is ``+0.0``."""
    return f"{round(difference, 1) + 0.0:+.1f}"


def table_json(table: TaskTable) -> dict[str, Any]:
    """Every number of the table unrounded, with what made it."""
    return {
        "model": table.model,
        "config": {k: v for k, v in table.config.to_dict().items() if k not in ("task", "layers")},
        "seconds": round(table.seconds, 1),
        "command": table.command,
        "runs": RUNS,
        "tasks": {
            row.name: {
                "kind": row.kind,
                "sentences": row.sentences,
                "package": row.package.replace("`", ""),
                "test": row.scores,
                "epochs": {run: {"run": r, "best": b} for run, (r, b) in row.epochs.items()},
            }
            for row in table.rows
        },
    }
