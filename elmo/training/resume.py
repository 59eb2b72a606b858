"""Continuing training: resuming a run from its checkpoint, or warm-starting a new run from
a bundle's weights.

A run resumes only with the config it started with (the limits, threads and LSTM path may
change); evaluations logged after the checkpoint are forgotten, as the steps after it are
done again.  A warm start takes a bundle of the same architecture and tokenizer and records
where it came from, so that every later model card of the run says so.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from elmo.config import differences, from_dict, to_dict
from elmo.errors import ConfigError
from elmo.io.bundle import load_bundle, load_config, load_tokenizer, read_training
from elmo.nn.bilm import BiLM
from elmo.training.config import TrainConfig
from elmo.training.growth import check_growable, grow_state
from elmo.training.model_card import home_as_tilde
from elmo.training.prepare import TrainingData

__all__ = [
    "WARM_START_FILE",
    "check_resumable",
    "drop_metrics_after",
    "earlier_record",
    "warm_start",
]


WARM_START_FILE = "warm_start.json"


def warm_start(
    model: BiLM, path: str, data: TrainingData, output: Path | None, grow: bool = False
) -> None:
    """Load the weights of the bundle at ``path`` into ``model`` (a fresh run's) and, on the
    main rank, note in ``output`` where they came from and how they were trained, for the
    model card of every later export of the run (resumed or not).  ``grow``: the bundle may be
    narrower than ``model`` (run.init_grow).  A ``~`` in ``path`` is the home directory, as
    the recorded commands and cards write it."""
    path = os.path.expanduser(path)
    bundle_config = load_config(path)  # first: a path that is no bundle is named as such
    theirs = to_dict(bundle_config)
    units = load_tokenizer(path)
    if units is None or units.model_proto != data.units.model_proto:
        raise ConfigError(
            f"run.init_from={path!r}: its tokenizer is not the run's (set tokenizer.model to "
            "its tokenizer.model)"
        )
    ours = to_dict(model.config)
    for document in (theirs, ours):
        document.pop("dropout", None)  # dropout shapes no weight
    grown: dict[str, int] | None = None
    state = load_bundle(path).state_dict()
    if theirs != ours and grow and not check_growable(bundle_config, model.config):
        state = grow_state(state, model.state_dict(), bundle_config, model.config)
        recurrent = bundle_config.recurrent
        grown = {"hidden_size": recurrent.hidden_size}
        if recurrent.projection_size is not None:
            grown["projection_size"] = recurrent.projection_size
    elif theirs != ours:
        different = sorted(_differences(theirs, ours))
        hint = ""
        if grow:
            why = check_growable(bundle_config, model.config)
            hint = " (run.init_grow: " + "; ".join(why) + ")"
        raise ConfigError(
            f"run.init_from={path!r}: its architecture differs from [model] in "
            + ", ".join(different)
            + hint
        )
    model.load_state_dict(state, strict=True)
    if output is not None:
        record = {"from": home_as_tilde(str(path)), **(read_training(path) or {})}
        if grown is not None:
            record["grown_from"] = grown
        (output / WARM_START_FILE).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [
        f"{key} ({left!r} there, {right!r} here)" for key, left, right in differences(a, b, "model")
    ]


def earlier_record(output: Path) -> dict[str, Any] | None:
    """The record of the bundle this run was warm-started from, if it was."""
    path = output / WARM_START_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def drop_metrics_after(path: Path, step: int) -> None:
    """Forget evaluations logged after the checkpoint (the run is killed and resumed there)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept))


def check_resumable(previous: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """A run resumes only with the config it started with (limits, threads and the LSTM path
    may change)."""

    def comparable(document: dict[str, Any]) -> dict[str, Any]:
        train = document["train"]
        # settings added since the checkpoint was made count with their defaults; one this
        # version does not know leaves the document as it is, and so unequal
        with contextlib.suppress(ConfigError):
            train = to_dict(from_dict(TrainConfig, train, where="train"))
        run = {
            k: v
            for k, v in train["run"].items()
            if k not in ("max_steps", "max_time_s", "threads", "lstm")
        }
        return {**document, "train": {**train, "run": run}}

    if comparable(previous) != comparable(current):
        raise ConfigError(
            f"{path}: the checkpoint was made with another config, data or number of ranks; "
            "use the same config "
            "and data (only run.max_steps, run.max_time_s, run.threads and run.lstm may change) "
            "or another --output"
        )
