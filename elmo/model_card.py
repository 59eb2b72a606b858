"""The MODEL_CARD.md of a trained bundle: data, command, hardware, time and quality."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime

import torch

from elmo.checkpoint import TrainingState
from elmo.config import to_dict
from elmo.train_config import TrainConfig
from elmo.train_data import TrainingData

__all__ = ["model_card"]


def _hardware(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        cpu = platform.processor() or platform.machine()
        name = f"CPU ({cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return f"{world} × {name}" if world > 1 else name


def model_card(
    config: TrainConfig,
    data: TrainingData,
    state: TrainingState,
    ppl: tuple[float, float],
    command: str,
    device: torch.device,
    world: int,
) -> str:
    forward, backward = ppl
    stats = data.train.stats
    valid = (
        str(data.valid_path)
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
- training text: `{data.train_path}` — {stats.summary()}; {len(data.train)} training sequences
- validation: {valid}
- units: sentencepiece unigram, {data.units.vocab_size} pieces (byte fallback), `tokenizer.model`
- licences: those of the training text above; list them here when publishing this model

## Training
- command: `{command}`
- steps: {state.step}; tokens seen: {state.tokens:,} (units incl. sentence boundaries)
- wall time: {state.elapsed_s:,.0f} s; hardware: {hardware}; torch {torch.__version__}
- finished: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}

## Validation perplexity (per predicted unit)
| forward | backward | joint (exp of mean NLL) |
| ---: | ---: | ---: |
| {forward:.2f} | {backward:.2f} | {(forward * backward) ** 0.5:.2f} |

## Configuration
```json
{json.dumps(to_dict(config), indent=2)}
```
"""
