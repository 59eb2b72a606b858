"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is a directory ``checkpoints/step_00001000/`` holding the model
(``model.safetensors``), the optimiser state and the random-number states of every rank
(``optimizer.pt``, ``rng.pt``: tensors and plain numbers only, read back with
``weights_only=True``) and ``state.json`` (step, data position, tokens seen, elapsed time,
config).  It is written under a temporary name and renamed, so a kill never leaves a half
checkpoint that looks complete; only the newest ``keep`` are kept.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from elmo.errors import WeightFileError

__all__ = [
    "TrainingState",
    "checkpoint_config",
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]

_PREFIX = "step_"


@dataclass
class TrainingState:
    """Where a run is: ``step`` optimizer steps done, the next step is step ``index`` of
    ``epoch``'s plan."""

    step: int = 0
    epoch: int = 0
    index: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainingState,
    rank_rng_states: list[dict[str, Any]],
    config: dict[str, Any],
    keep: int,
) -> Path:
    """Write checkpoint ``state.step`` atomically and prune old ones; returns its path."""
    final = directory / f"{_PREFIX}{state.step:08d}"
    tmp = directory / f".tmp-{_PREFIX}{state.step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, str(tmp / "model.safetensors"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(rank_rng_states, tmp / "rng.pt")
    document = {"state": state.__dict__, "config": config}
    (tmp / "state.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in _checkpoints(directory)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _checkpoints(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith(_PREFIX))


def latest_checkpoint(directory: Path) -> Path | None:
    found = _checkpoints(directory)
    return found[-1] if found else None


def checkpoint_config(path: Path) -> dict[str, Any]:
    """The config a checkpoint was made with (to compare before loading anything)."""
    try:
        return json.loads((path / "state.json").read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError) as exc:
        raise WeightFileError(f"{path}: cannot read state.json: {exc}") from None


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rank: int
) -> TrainingState:
    """Restore model, optimiser and this rank's RNG; returns where the run stood."""
    try:
        document = json.loads((path / "state.json").read_text(encoding="utf-8"))
        model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
        rng_states = torch.load(path / "rng.pt", weights_only=True)
        state = TrainingState(**document["state"])
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise WeightFileError(f"{path}: cannot resume from this checkpoint: {exc}") from None
    if rank < len(rng_states):
        set_rng_state(rng_states[rank])
    return state
