"""A task bundle: ``task.json`` + ``head.safetensors`` + ``TASK_CARD.md`` in a directory.

The bundle does not copy the biLM: it names the base model (as given, and its absolute path)
and the SHA-256 of its weights file, and loading refuses a model whose weights differ, since a
head is meaningless on features of other weights.  ``head.safetensors`` holds the head and the
scalar mix (and the biLM's weights after fine-tuning); no pickle anywhere.  ``task.json`` is
written last, so its presence marks a finished bundle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from elmo.errors import ConfigError, WeightFileError
from elmo.inference.module import Elmo
from elmo.io.bundle import ORIGINAL_FILES, WEIGHTS_FILE, read_weights, resolve_model_path
from elmo.io.registry import sha256_file
from elmo.nn.bilm import BiLM
from elmo.nn.scalar_mix import ScalarMix
from elmo.tasks.heads import TaskConfig, TaskModel
from elmo.tasks.predict import TaskPredictor
from elmo.tokenization import SentencePieceUnits

__all__ = [
    "CARD_FILE",
    "HEAD_FILE",
    "TASK_FILE",
    "base_model_record",
    "build_task_model",
    "load_task",
    "save_task",
]

TASK_FORMAT_VERSION = 1
TASK_FILE = "task.json"
HEAD_FILE = "head.safetensors"
CARD_FILE = "TASK_CARD.md"


def base_model_record(model: str | Path) -> dict[str, str]:
    """What a task bundle says of its biLM: the name or path given, where it resolved, and the
    SHA-256 of its weights (``model.safetensors``, or an original ``weights.hdf5``)."""
    path = resolve_model_path(model)
    weights = _weights_file(path)
    return {
        "name": str(model),
        "path": str(path.resolve()),
        "file": weights.name,
        "sha256": sha256_file(weights),
    }


def _weights_file(path: Path) -> Path:
    for name in (WEIGHTS_FILE, ORIGINAL_FILES[1]):
        if (path / name).is_file():
            return path / name
    raise WeightFileError(f"{path}: holds neither {WEIGHTS_FILE} nor {ORIGINAL_FILES[1]}")


def build_task_model(
    model: str | Path | BiLM,
    config: TaskConfig,
    labels: list[str],
    units: SentencePieceUnits | None = None,
) -> TaskModel:
    """The task model on ``model``: a bundle to load, or a loaded biLM (with its ``units``)
    that the task model then shares rather than copies."""
    elmo = Elmo(
        model,
        num_output_representations=1,
        dropout=config.dropout,
        requires_grad=config.fine_tune,
        layer_norm=config.layer_norm,
        units=units,
    )
    if config.layers is not None:  # the mix reads only these layers
        elmo.mixes = nn.ModuleList([ScalarMix(len(config.layers), layer_norm=config.layer_norm)])
    return TaskModel(elmo, config, labels)


def save_task(directory: Path, model: TaskModel, document: dict[str, Any], card: str) -> Path:
    """Write the head, the card, then ``task.json`` (``document`` plus the config and labels),
    each under a temporary name and renamed."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = model.trained_state()
    _atomic(directory / HEAD_FILE, lambda tmp: save_file(tensors, str(tmp)))
    _atomic(directory / CARD_FILE, lambda tmp: tmp.write_text(card, encoding="utf-8"))
    full = {
        "format_version": TASK_FORMAT_VERSION,
        "config": model.config.to_dict(),
        "labels": model.labels,
        **document,
    }
    text = json.dumps(full, indent=2, ensure_ascii=False) + "\n"
    _atomic(directory / TASK_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return directory


def _atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.chmod(tmp, 0o644)  # safetensors creates its file private; a bundle is read by others
    os.replace(tmp, path)


def read_task_document(directory: Path) -> dict[str, Any]:
    path = directory / TASK_FILE
    if not path.is_file():
        raise WeightFileError(f"{directory}: no {TASK_FILE} (not a finished task model)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightFileError(f"{path}: cannot read: {exc}") from None
    if not isinstance(document, dict) or document.get("format_version") != TASK_FORMAT_VERSION:
        raise WeightFileError(f"{path}: not a task model of format {TASK_FORMAT_VERSION}")
    labels = document.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise WeightFileError(f"{path}: 'labels' must be a list of strings")
    if not isinstance(document.get("model"), dict) or "sha256" not in document["model"]:
        raise WeightFileError(f"{path}: 'model' must name the base model and its sha256")
    return document


def load_task(
    directory: str | Path,
    model: str | Path | None = None,
    device: str = "cpu",
    bilm: BiLM | None = None,
    units: SentencePieceUnits | None = None,
) -> TaskPredictor:
    """The task model in ``directory`` on its biLM: ``model`` where given (the base moved),
    else the name it was trained with, else the absolute path recorded.  The biLM's weights
    must have the recorded SHA-256.

    ``bilm`` (with its ``units``): that biLM of the base model, already loaded, which the task
    model shares instead of loading a second copy of the weights (a server, whose biLM runs
    the embedding routes too, or lives in another process as a weightless skeleton).  It is
    left where it is: only the mix and the head go to ``device``.
    """
    directory = Path(directory)
    document = read_task_document(directory)
    try:
        config = TaskConfig.from_dict(document.get("config"), where=f"{directory / TASK_FILE}")
    except ConfigError as exc:
        raise WeightFileError(str(exc)) from None
    record = document["model"]
    base = _locate_base(record, model)
    found = sha256_file(_weights_file(base))
    if found != record["sha256"]:
        raise WeightFileError(
            f"{directory}: trained on a biLM whose weights have SHA-256 {record['sha256']}, "
            f"but {base} has {found}; give the model it was trained on (--model)"
        )
    return _predictor(directory, document, config, base, device, bilm, units)


def _predictor(
    directory: Path,
    document: dict[str, Any],
    config: TaskConfig,
    base: Path,
    device: str,
    bilm: BiLM | None,
    units: SentencePieceUnits | None,
) -> TaskPredictor:
    """The task model of a bundle whose base's weights were checked, with its head loaded."""
    if bilm is None:
        task_model = build_task_model(base, config, document["labels"])
    else:
        task_model = build_task_model(bilm, config, document["labels"], units=units)
    tensors = read_weights(directory / HEAD_FILE, task_model.trained_state())
    task_model.load_state_dict(tensors, strict=False)
    if bilm is None:
        return TaskPredictor(task_model.to(torch.device(device)), directory)
    children = task_model.elmo._modules  # the shared biLM stays on its device
    shared = children.pop("bilm")
    try:
        task_model.to(torch.device(device))
    finally:
        children["bilm"] = shared
    return TaskPredictor(task_model, directory)


def _locate_base(record: dict[str, Any], model: str | Path | None) -> Path:
    if model is not None:
        return resolve_model_path(model)
    for candidate in (record.get("name"), record.get("path")):
        if not isinstance(candidate, str):
            continue
        try:
            path = resolve_model_path(candidate)
        except WeightFileError:
            continue
        if path.is_dir():
            return path
    raise WeightFileError(
        f"the base model {record.get('name')!r} (was {record.get('path')}) is not found; "
        "give its directory (--model)"
    )


def read_task_kind(directory: Path) -> str | None:
    """The kind of the task in ``directory`` (``classify`` or ``tag``: which route a server
    registers before anything loads), or None when it cannot be read (loading then fails with
    the reason)."""
    try:
        kind = read_task_document(directory).get("config", {}).get("task", "classify")
    except (WeightFileError, AttributeError):
        return None
    return kind if kind in ("classify", "tag") else None


def load_task_for_model(
    directory: Path,
    model: Path,
    bilm: BiLM | None = None,
    units: SentencePieceUnits | None = None,
) -> TaskPredictor:
    """The task in ``directory``, refused unless its head was trained on a frozen copy of
    exactly the weights of ``model``: a head reads the features of the biLM it was trained on,
    and on any other biLM it answers confidently and wrongly.  A server runs the biLM apart
    from the head, so a head trained with ``fine_tune`` (its own biLM weights) is refused too."""
    document = read_task_document(directory)
    try:
        config = TaskConfig.from_dict(document.get("config"), where=str(directory))
    except ConfigError as exc:
        raise WeightFileError(str(exc)) from None
    require_frozen(config, str(directory))
    record = document["model"]
    served = base_model_record(model)  # the weights hashed once
    if served["sha256"] != record["sha256"]:
        raise WeightFileError(
            f"task {directory} does not match the served model: it was trained on "
            f"{record.get('name')!r} (weights SHA-256 {record['sha256']}), but the served "
            f"model {model} has weights SHA-256 {served['sha256']}; serve the model it was "
            "trained on (--model), or train the task on this one"
        )
    return _predictor(directory, document, config, Path(served["path"]), "cpu", bilm, units)


def require_frozen(config: TaskConfig, name: str | None) -> None:
    """Refuse a head trained with a fine-tuned biLM where the biLM runs apart from it."""
    if config.fine_tune:
        raise ConfigError(
            f"task {name}: trained with a fine-tuned biLM, whose weights are not the served "
            "model's; the service runs only heads trained on a frozen biLM"
        )
