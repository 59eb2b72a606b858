"""One optimizer step of biLM training, shared by the trainer and the training benchmark.

The loss of each batch is its summed NLL divided by the number of predictions of the whole step
(all ranks, all accumulated batches), so the step's gradient is the gradient of the step's mean
loss however its batches are spread.  Nothing here reads a value back from the device.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from elmo.training.data import EncodedCorpus, make_batch

__all__ = ["StepSettings", "autocast", "run_step"]


@dataclass(frozen=True)
class StepSettings:
    device: torch.device
    precision: str  # "fp32" or "bf16"
    grad_clip: float | None
    lr: float
    world: int = 1


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def run_step(
    wrapped: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    corpus: EncodedCorpus,
    unit_chars: np.ndarray,
    step_batches: list[np.ndarray],
    mine: list[np.ndarray],
    settings: StepSettings,
) -> torch.Tensor:
    """Forward/backward ``mine`` (this rank's share of ``step_batches``), clip, update.

    ``wrapped`` is the objective, possibly inside DistributedDataParallel.  Returns this rank's
    part of the step's mean loss, on the device.
    """
    for group in optimizer.param_groups:
        group["lr"] = settings.lr
    total = sum(int((corpus.lengths[b] - 1).sum()) for b in step_batches)
    step_loss = torch.zeros((), device=settings.device)
    for k, indices in enumerate(mine):
        batch = make_batch(corpus, indices, unit_chars).to(settings.device)
        last = k == len(mine) - 1
        # DistributedDataParallel's no_sync (world > 1 means wrapped is one)
        no_sync = wrapped.no_sync() if settings.world > 1 and not last else nullcontext()  # type: ignore[operator]
        with no_sync, autocast(settings.precision, settings.device):
            forward, backward = wrapped(batch)
            loss = (forward + backward) / (2 * total)
        (loss * settings.world).backward()  # DDP averages over ranks; this undoes it
        step_loss += loss.detach()
    if settings.grad_clip is not None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return step_loss
