"""Training configuration: a TOML file of sections, validated, unknown keys rejected.

Sections and their defaults (``elmo train --show-config`` prints the effective values):

- ``[model]``, ``[model.char_cnn]``, ``[model.recurrent]``: :class:`elmo.config.ModelConfig`
  (default: the published "original" ELMo architecture); ``vocab_size`` comes from the tokenizer.
- ``[tokenizer]``: train a sentencepiece unigram model of ``vocab_size`` on the training text, or
  reuse ``model`` (a ``tokenizer.model`` path).
- ``[optim]``: ``adamw`` or ``adagrad`` (the paper's), learning rate, linear warm-up, then
  ``constant``/``linear``/``cosine`` decay to ``min_lr_ratio`` × lr at ``total_steps`` (default
  ``run.max_steps``; fix it to stop and extend a run without changing its schedule), gradient
  norm clipping, weight decay (AdamW only).
- ``[data]``: tokens per batch (padded rows × longest), units per sequence (with boundaries).
- ``[run]``: seed, device, precision, limits, evaluation/checkpoint intervals.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from elmo.config import ModelConfig, from_dict, require, to_dict
from elmo.errors import ConfigError

__all__ = [
    "DataConfig",
    "OptimConfig",
    "RunConfig",
    "TokenizerConfig",
    "TrainConfig",
    "apply_override",
    "load_train_config",
    "to_toml",
]


@dataclass(frozen=True)
class TokenizerConfig:
    vocab_size: int = 32000
    model: str | None = None  # reuse this tokenizer.model instead of training one
    character_coverage: float = 0.9995
    max_sentences: int = 2_000_000  # lines sampled for sentencepiece training

    def __post_init__(self) -> None:
        require(self.vocab_size >= 300, "tokenizer.vocab_size must be >= 300 (256 byte pieces)")
        require(
            0.98 <= self.character_coverage <= 1.0,
            "tokenizer.character_coverage must be in [0.98, 1] (sentencepiece's range)",
        )


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adamw", "adagrad"] = "adamw"
    lr: float = 1e-3
    warmup_steps: int = 1000
    decay: Literal["constant", "linear", "cosine"] = "cosine"
    total_steps: int | None = None  # length of the schedule; default: run.max_steps
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    adagrad_initial_accumulator: float = 1.0

    def __post_init__(self) -> None:
        require(self.lr > 0, "optim.lr must be > 0")
        require(self.warmup_steps >= 0, "optim.warmup_steps must be >= 0")
        require(self.total_steps is None or self.total_steps >= 1, "optim.total_steps >= 1")
        require(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio must be in [0, 1]")
        require(self.grad_clip is None or self.grad_clip > 0, "optim.grad_clip: null or > 0")
        require(self.weight_decay >= 0, "optim.weight_decay must be >= 0")
        require(all(0 <= b < 1 for b in self.betas), "optim.betas must lie in [0, 1)")


@dataclass(frozen=True)
class DataConfig:
    batch_tokens: int = 16384  # padded tokens per batch and device
    max_units: int = 64  # units per training sequence, boundaries included
    grad_accum: int = 1  # batches per optimizer step and device

    def __post_init__(self) -> None:
        require(self.max_units >= 3, "data.max_units must be >= 3")
        require(self.batch_tokens >= self.max_units, "data.batch_tokens must be >= max_units")
        require(self.grad_accum >= 1, "data.grad_accum must be >= 1")


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    device: Literal["cpu", "cuda"] = "cpu"
    precision: Literal["fp32", "bf16"] = "fp32"
    max_steps: int = 10000
    max_time_s: float | None = None  # training time over all resumes, data preparation excluded
    eval_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    valid_fraction: float = 0.01  # held out of --train when no --valid is given
    # torch intra-op threads of each process (rank).  1: a CPU run is bit-reproducible, resumed
    # or not (with more, MKL may split a product's sums differently from run to run), and one
    # thread per process ran fastest on shared 2-core machines.  null: PyTorch's default.
    threads: int | None = 1
    # The LSTM's gradient path: PyTorch's kernel ("fused", cuDNN on a GPU) or the library's
    # step loop ("loop"); "auto": the loop on a CPU, where it trained faster per CPU-second
    # (benchmarks/bench_train.py --run-configs), the kernel elsewhere.  The same arithmetic up
    # to float rounding, so, like threads, it may change when a run resumes.  Clipped cells
    # always take the loop.
    lstm: Literal["auto", "fused", "loop"] = "auto"
    # A bundle whose weights (LM head included) start the run instead of a random init: a warm
    # start, with a fresh optimizer and this config's warm-up (keep optim.warmup_steps short).
    # Its architecture and tokenizer must be the run's.  Read when the run starts; resuming
    # from the run's own checkpoints does not read it again.
    init_from: str | None = None
    # Let run.init_from be narrower than [model]: a larger model.recurrent.hidden_size and/or
    # projection_size (LSTM cells), everything else the same.  The bundle's weights are copied
    # in and the new units start with zero outgoing weights, so the run begins from the
    # bundle's loss (elmo/training/growth.py).
    init_grow: bool = False

    def __post_init__(self) -> None:
        require(self.max_steps >= 1, "run.max_steps must be >= 1")
        require(self.threads is None or self.threads >= 1, "run.threads: null or >= 1")
        require(0 <= self.seed < 2**31, "run.seed must be in [0, 2**31)")
        require(self.max_time_s is None or self.max_time_s > 0, "run.max_time_s: null or > 0")
        for name in ("eval_every", "checkpoint_every", "keep_checkpoints", "log_every"):
            require(getattr(self, name) >= 1, f"run.{name} must be >= 1")
        require(0 < self.valid_fraction < 0.5, "run.valid_fraction must be in (0, 0.5)")


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        require(self.model.vocab_size is None, "model.vocab_size is set from the tokenizer")


def load_train_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Defaults, then the TOML file, then ``section.key=value`` overrides (TOML values)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for item in overrides:
        apply_override(data, item)
    try:
        return from_dict(TrainConfig, data, where="config")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set ``a.b.c=value`` in nested ``data``; the value is parsed as TOML (bare words as str)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected section.key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    *parents, leaf = key.strip().split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    node[leaf] = value


def to_toml(config: TrainConfig) -> str:
    """The effective config as TOML (null is written as the string "none", which reads back)."""
    lines: list[str] = []

    def emit(table: dict[str, Any], prefix: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"\n[{prefix}]")
        for key, value in scalars.items():
            lines.append(f'{key} = "none"' if value is None else f"{key} = {_toml_value(value)}")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(value, f"{prefix}.{key}" if prefix else key)

    document = to_dict(config)
    document["model"].pop("vocab_size", None)
    emit(document, "")
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
