"""Training a task model: AdamW on the head and the mix, early stopping, resumable epochs.

The biLM is frozen unless ``fine_tune`` (then :class:`~elmo.inference.module.Elmo` runs it
without gradients, so a frozen epoch costs one forward pass of the biLM per batch).  After every
epoch the run is checkpointed to ``OUTPUT/checkpoint.pt``: the weights, the optimiser, the
random-number state and the history, as tensors, numbers and strings only (read back with
``weights_only=True``), so that a run killed at any point continues with the next epoch and
ends with the same weights as a run never interrupted.  Each epoch's order comes from its own
generator seeded by ``(seed, epoch)`` and dropout from torch's global generator, whose state
the checkpoint keeps.  The bundle keeps the epoch with the best validation accuracy.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from elmo.errors import InvalidInputError
from elmo.nn.scalar_mix import ScalarMix
from elmo.tasks.bundle import (
    CARD_FILE,
    HEAD_FILE,
    TASK_FILE,
    base_model_record,
    build_task_model,
    save_task,
)
from elmo.tasks.data import Dataset
from elmo.tasks.heads import TaskConfig, TaskModel
from elmo.tasks.predict import TaskPredictor, batch_loss, batches, encode_targets, score

__all__ = ["CHECKPOINT_FILE", "TrainResult", "train_task"]

CHECKPOINT_FILE = "checkpoint.pt"
_CHECKPOINT_VERSION = 1


@dataclass
class TrainResult:
    """``epochs``: epochs run in all, across resumes; ``resumed_at``: epochs already done when
    this call began (0 for a fresh run); ``predictor``: the saved model, already in memory."""

    output: Path
    predictor: TaskPredictor
    epochs: int
    best_epoch: int
    validation: dict[str, float]
    test: dict[str, float] | None
    seconds: float
    resumed_at: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def train_task(
    config: TaskConfig,
    model: str | Path,
    train: Dataset,
    valid: Dataset,
    output: str | Path,
    *,
    test: Dataset | None = None,
    command: str | None = None,
    force: bool = False,
    progress: bool = True,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train on ``train``, stop early on ``valid``, write the bundle to ``output``.

    ``output`` holding a finished bundle needs ``force`` (which starts over); one holding a
    checkpoint of the same run (config but ``epochs``, labels, base model, data) continues it.
    ``on_epoch`` sees each epoch's record after its checkpoint is written.
    """
    from tqdm import tqdm

    say = log or (lambda _: None)
    output = Path(output)
    _prepare_output(output, force)
    labels = sorted({t for e in train.examples for t in ([e.label] if e.label else e.tags or [])})
    targets = encode_targets(train, labels)
    valid_targets = encode_targets(valid, labels)
    test_targets = encode_targets(test, labels) if test is not None else None
    base = base_model_record(model)
    identity = {
        "config": {k: v for k, v in config.to_dict().items() if k != "epochs"},
        "labels": labels,
        "base_sha256": base["sha256"],
        "data": _digest(train, valid),
    }

    torch.manual_seed(config.seed)
    task = build_task_model(base["path"], config, labels).to(torch.device(device))
    parameters = [p for p in task.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    state = _State()
    checkpoint = output / CHECKPOINT_FILE
    if checkpoint.exists():
        state = _resume(checkpoint, identity, task, optimizer)
        say(f"resuming {output} after epoch {state.epoch}")
    resumed_at = state.epoch
    started = time.perf_counter() - state.elapsed_s

    examples = train.examples
    if state.epoch < config.epochs and state.bad_epochs < config.patience:
        say("running the frozen biLM once over the training and validation sentences")
        task.remember([e.tokens for e in examples] + [e.tokens for e in valid.examples])
    while state.epoch < config.epochs and state.bad_epochs < config.patience:
        epoch = state.epoch + 1
        order = torch.randperm(
            len(examples), generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        ).tolist()
        task.train()
        total, count = 0.0, 0
        with tqdm(
            total=len(examples),
            desc=f"epoch {epoch}/{config.epochs}",
            unit="ex",
            disable=not progress,
            leave=False,
            file=sys.stderr,
        ) as bar:
            for ids in batches(len(examples), config.batch_size, order):
                loss, _, gold = batch_loss(
                    task, [examples[i] for i in ids], [targets[i] for i in ids]
                )
                optimizer.zero_grad(set_to_none=True)
                (loss / len(gold)).backward()
                optimizer.step()
                total, count = total + float(loss.detach()), count + len(gold)
                bar.update(len(ids))
        scores = score(task, valid, config.batch_size, valid_targets)
        record = {
            "epoch": float(epoch),
            "train_loss": total / count,
            "valid_loss": scores["loss"],
            "valid_accuracy": scores["accuracy"],
        }
        state.history.append(record)
        state.epoch = epoch
        if scores["accuracy"] > state.best_accuracy:
            state.best_accuracy, state.best_epoch, state.bad_epochs = scores["accuracy"], epoch, 0
            state.best = {k: v.clone() for k, v in task.trained_state().items()}
        else:
            state.bad_epochs += 1
        state.elapsed_s = time.perf_counter() - started
        _save_checkpoint(checkpoint, identity, task, optimizer, state)
        say(
            f"epoch {epoch}: train loss {record['train_loss']:.4f}, valid loss "
            f"{record['valid_loss']:.4f}, valid accuracy {100 * scores['accuracy']:.1f} %"
        )
        if on_epoch is not None:
            on_epoch(record)

    task.load_state_dict(state.best, strict=False)
    task.forget()  # the scores below come from the biLM itself, as predictions will
    validation = score(task, valid, config.batch_size, valid_targets)
    test_scores = score(task, test, config.batch_size, test_targets) if test is not None else None
    seconds = time.perf_counter() - started
    result = TrainResult(
        output,
        TaskPredictor(task, output),
        state.epoch,
        state.best_epoch,
        validation,
        test_scores,
        seconds,
        resumed_at,
        state.history,
    )
    datasets = {"train": train, "validation": valid} | ({"test": test} if test else {})
    document = {
        "model": base,
        "data": {
            split: {"file": d.path.name, "lines": d.lines, "examples": len(d.examples)}
            for split, d in datasets.items()
        },
        "training": {
            "epochs": state.epoch,
            "best_epoch": state.best_epoch,
            "seconds": round(seconds, 2),
            "device": device,
            "history": state.history,
        },
        "scores": {"validation": validation} | ({"test": test_scores} if test_scores else {}),
        "command": command,
    }
    save_task(output, task, document, _card(task, document))
    checkpoint.unlink(missing_ok=True)
    return result


@dataclass
class _State:
    epoch: int = 0
    best_epoch: int = 0
    best_accuracy: float = -1.0
    bad_epochs: int = 0
    elapsed_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, torch.Tensor] = field(default_factory=dict)


def _prepare_output(output: Path, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise InvalidInputError(f"{output}: exists and is not a directory")
    if (output / TASK_FILE).exists() and not force:
        raise InvalidInputError(
            f"{output}: holds a finished task model; pass --force to train a new one there"
        )
    if force:
        for name in (TASK_FILE, HEAD_FILE, CARD_FILE, CHECKPOINT_FILE):
            (output / name).unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)


def _digest(*datasets: Dataset) -> str:
    """The training and validation data, for a resume to check it reads what the run read."""
    digest = hashlib.sha256()
    for dataset in datasets:
        for e in dataset.examples:
            digest.update(json.dumps([e.tokens, e.label, e.tags]).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _save_checkpoint(
    path: Path,
    identity: dict[str, Any],
    task: TaskModel,
    optimizer: torch.optim.Optimizer,
    state: _State,
) -> None:
    document = {
        "version": _CHECKPOINT_VERSION,
        "identity": json.dumps(identity, sort_keys=True),
        "weights": task.trained_state(),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_accuracy": state.best_accuracy,
        "bad_epochs": state.bad_epochs,
        "elapsed_s": state.elapsed_s,
        "history": state.history,
        "best": state.best,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(document, tmp)
    os.replace(tmp, path)


def _resume(
    path: Path, identity: dict[str, Any], task: TaskModel, optimizer: torch.optim.Optimizer
) -> _State:
    try:
        document = torch.load(path, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which, never unpickle it
        raise InvalidInputError(
            f"{path}: cannot read the checkpoint ({exc}); pass --force to start over"
        ) from None
    if not isinstance(document, dict) or document.get("version") != _CHECKPOINT_VERSION:
        raise InvalidInputError(f"{path}: not a task checkpoint; pass --force to start over")
    saved = json.loads(document["identity"])
    differs = sorted(
        [k for k in identity["config"] if saved["config"].get(k) != identity["config"][k]]
        + [k for k in ("labels", "base_sha256", "data") if saved[k] != identity[k]]
    )
    if differs:
        raise InvalidInputError(
            f"{path}: a checkpoint of another run (differs in: {', '.join(differs)}); "
            "pass --force to start over, or another --output"
        )
    task.load_state_dict(document["weights"], strict=False)
    optimizer.load_state_dict(document["optimizer"])
    torch.set_rng_state(document["rng"])
    return _State(
        epoch=int(document["epoch"]),
        best_epoch=int(document["best_epoch"]),
        best_accuracy=float(document["best_accuracy"]),
        bad_epochs=int(document["bad_epochs"]),
        elapsed_s=float(document["elapsed_s"]),
        history=list(document["history"]),
        best=dict(document["best"]),
    )


def _card(task: TaskModel, document: dict[str, Any]) -> str:
    """``TASK_CARD.md``: what a reader needs to trust or reproduce the model."""
    config, base, training = task.config, document["model"], document["training"]
    mix = task.elmo.mixes[0]
    assert isinstance(mix, ScalarMix)
    weights = torch.softmax(mix.weights.detach(), dim=0).tolist()
    lines = [
        f"# Task model: {config.task} ({config.head} head)",
        "",
        f"Base biLM: `{base['name']}` ({base['file']}, SHA-256 `{base['sha256']}`), "
        + ("fine-tuned." if config.fine_tune else "frozen."),
        f"Labels ({len(task.labels)}): {', '.join(f'`{x}`' for x in task.labels)}.",
        f"Learned scalar mix: layer weights {', '.join(f'{w:.3f}' for w in weights)}, "
        f"gamma {float(mix.gamma.detach()):.3f}.",
        "",
        "## Data",
        "| split | file | lines | examples |",
        "| --- | --- | ---: | ---: |",
    ]
    for split, data in document["data"].items():
        lines.append(f"| {split} | `{data['file']}` | {data['lines']} | {data['examples']} |")
    metric = "token accuracy" if config.task == "tag" else "accuracy"
    header = f"| split | {metric} |" + (" macro-F1 |" if config.task == "classify" else "")
    lines += ["", "## Scores (best epoch)", header, "| --- | ---: |"]
    if config.task == "classify":
        lines[-1] += " ---: |"
    for split, scores in document["scores"].items():
        row = f"| {split} | {100 * scores['accuracy']:.1f} % |"
        if "macro_f1" in scores:
            row += f" {100 * scores['macro_f1']:.1f} % |"
        lines.append(row)
    stopped = "early stopping" if training["epochs"] < config.epochs else "the epoch limit"
    lines += [
        "",
        f"Epochs: {training['epochs']} of at most {config.epochs} (stopped by {stopped}; "
        f"best epoch {training['best_epoch']}), {training['seconds']:.1f} s on "
        f"{training['device']}.",
        "",
        "## Command",
        "```",
        document.get("command") or "(trained from Python: elmo.tasks.train_task)",
        "```",
        "",
        "## Configuration",
        "```json",
        json.dumps(config.to_dict(), indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)
