"""Optimisers and the learning-rate schedule of training."""

from __future__ import annotations

import math

import torch

from elmo.training.config import OptimConfig

__all__ = ["build_optimizer", "learning_rate"]


def build_optimizer(
    model: torch.nn.Module, config: OptimConfig, device: torch.device
) -> torch.optim.Optimizer:
    """AdamW (weight decay on matrices and conv kernels only) or Adagrad as in the paper."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.name == "adagrad":
        return torch.optim.Adagrad(
            params, lr=config.lr, initial_accumulator_value=config.adagrad_initial_accumulator
        )
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=fused)


def learning_rate(config: OptimConfig, max_steps: int, step: int) -> float:
    """The rate for optimizer step ``step`` (0-based): linear warm-up, then the decay over
    ``config.total_steps`` (or ``max_steps``)."""
    max_steps = config.total_steps or max_steps
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.decay == "constant":
        return config.lr
    span = max(max_steps - config.warmup_steps, 1)
    progress = min((step - config.warmup_steps) / span, 1.0)
    floor = config.min_lr_ratio
    if config.decay == "linear":
        return config.lr * (1 - (1 - floor) * progress)
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
