"""The MODEL_CARD.md of a trained bundle: data, command, hardware, time and quality."""

from __future__ import annotations

import json
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import torch

from elmo.config import to_dict
from elmo.training.checkpoint import TrainingState
from elmo.training.config import TrainConfig
from elmo.training.prepare import TrainingData

__all__ = ["home_as_tilde", "model_card"]


def _hardware(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        cpu = platform.processor() or platform.machine()
        name = f"CPU ({cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return f"{world} × {name}" if world > 1 else name


def _continued(earlier: dict[str, Any] | None, state: TrainingState) -> str:
    """The card's lines on the weights a warm start began from (none for a random init)."""
    if earlier is None:
        return ""
    steps, tokens, seconds = state.step, state.tokens, state.elapsed_s
    chain: list[dict[str, Any]] = []
    record: dict[str, Any] | None = earlier
    while record is not None:
        chain.append(record)
        steps += record.get("steps", 0)
        tokens += record.get("tokens", 0)
        seconds += record.get("elapsed_s", 0.0)
        record = record.get("continued")
    first = chain[0]
    known = "steps" in first
    before = (
        f"{first['steps']} steps, {first['tokens']:,} tokens, {first['elapsed_s']:,.0f} s"
        if known
        else "no training record"
    )
    grown = first.get("grown_from")
    widened = ""
    if grown:
        sizes = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in grown.items())
        widened = f", grown from {sizes} (the new units began with zero outgoing weights)"
    line = (
        f"- warm start: from the weights of `{home_as_tilde(first['from'])}` ({before}){widened}, "
        "with a "
        "fresh optimizer and this run's warm-up\n"
    )
    if all("steps" in r for r in chain):
        line += (
            f"- in all, with the runs before: {steps} steps, {tokens:,} tokens, {seconds:,.0f} s\n"
        )
    return line


def _curve_image(curve: str | None) -> str:
    """The curve as a Markdown image, set off by a blank line from the table above it."""
    if curve is None:
        return ""
    return f"\n![Validation perplexity per direction against units seen]({quote(curve)})\n"


def home_as_tilde(text: str, home: str | None = None) -> str:
    """``text`` with every path that starts at the home directory written ``~/...``: a card,
    a bundle's training record and a recorded command name no user or machine, and the
    project's readers (``run.init_from``) expand ``~`` back to the same place."""
    home = (home or os.path.expanduser("~")).rstrip("/")
    if not home:
        return text
    # a path starts at home: not preceded by a path character, and home ends at a separator
    return re.sub(rf"(?<![\w.~/-]){re.escape(home)}(?=/|$|[\s\"'])", "~", text)


def _shown(path: Path) -> str:
    """A data path as the card names it: relative to where training ran when it lies below,
    else its name alone (a card does not carry the paths of the machine it was made on)."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return path.name


def model_card(
    config: TrainConfig,
    data: TrainingData,
    state: TrainingState,
    ppl: tuple[float, float],
    command: str,
    device: torch.device,
    world: int,
    earlier: dict[str, Any] | None = None,
    curve: str | None = None,
) -> str:
    """``earlier``: the training record of the bundle a warm start began from.  ``curve``: the
    training-curve PNG's path relative to the card (None when none was drawn: the card never
    links a missing picture)."""
    forward, backward = ppl
    stats = data.train.stats
    valid = (
        f"`{_shown(data.valid_path)}`"
        if data.valid_path
        else f"{len(data.valid)} sequences held out of the training text"
    )
    recurrent = config.model.recurrent
    hardware = _hardware(device, world)
    return f"""# Model card

ELMo-style biLM: char-CNN token encoder, {recurrent.num_layers} × {recurrent.cell} \
({recurrent.hidden_size} cells, projection {recurrent.projection_size}) per direction, trained
with `elmo train`.

## Data
- training text: `{_shown(data.train_path)}` — {stats.summary()}; {len(data.train)} training \
sequences
- validation: {valid}
- units: sentencepiece unigram, {data.units.vocab_size} pieces (byte fallback), `tokenizer.model`
- licences: the training text's (`elmo train` does not know them: state them when publishing)

## Training
- command: `{command}`
- steps: {state.step}; tokens seen: {state.tokens:,} (units incl. sentence boundaries)
- wall time: {state.elapsed_s:,.0f} s; hardware: {hardware}; torch {torch.__version__}
{_continued(earlier, state)}- finished: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}

## Validation perplexity (per predicted unit)
| forward | backward | joint (exp of mean NLL) |
| ---: | ---: | ---: |
| {forward:.2f} | {backward:.2f} | {(forward * backward) ** 0.5:.2f} |
{_curve_image(curve)}
## Configuration
```json
{home_as_tilde(json.dumps(to_dict(config), indent=2))}
```
"""
