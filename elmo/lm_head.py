"""The language-model head: one softmax shared by both directions, and the joint loss.

The forward top layer at position t predicts unit t + 1, the backward top layer at t predicts
unit t - 1; the loss is the mean of the two cross-entropies (each averaged over its predicted
positions).  Only real positions are scored, so padding costs no softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

__all__ = ["LMHead", "LMLoss"]


@dataclass(frozen=True)
class LMLoss:
    """Mean cross-entropies (nats per predicted unit) and the number of predictions each."""

    forward: torch.Tensor
    backward: torch.Tensor
    count: int

    @property
    def loss(self) -> torch.Tensor:
        return (self.forward + self.backward) / 2


class LMHead(nn.Module):
    """``(…, D)`` → ``(…, V)`` logits; the same weights serve both directions."""

    def __init__(self, dim: int, vocab_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.softmax = nn.Linear(dim, vocab_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.softmax(self.dropout(hidden))

    def loss(
        self,
        forward_top: torch.Tensor,
        backward_top: torch.Tensor,
        unit_ids: torch.Tensor,
        lengths: torch.Tensor,
    ) -> LMLoss:
        # forward_top, backward_top: (B, T, D); unit_ids: (B, T); lengths: (B,) incl. boundaries
        steps = unit_ids.shape[1]
        positions = torch.arange(steps - 1, device=unit_ids.device).unsqueeze(0)  # (1, T-1)
        scored = positions < (lengths.to(unit_ids.device) - 1).unsqueeze(1)  # (B, T-1)
        fwd = functional.cross_entropy(self(forward_top[:, :-1][scored]), unit_ids[:, 1:][scored])
        bwd = functional.cross_entropy(self(backward_top[:, 1:][scored]), unit_ids[:, :-1][scored])
        return LMLoss(forward=fwd, backward=bwd, count=int(scored.sum()))

    def summed_losses(
        self,
        forward_top: torch.Tensor,
        backward_top: torch.Tensor,
        forward_targets: torch.Tensor,
        backward_targets: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed forward and backward cross-entropies, for training without host syncs.

        forward_top, backward_top: (B, T, D); targets (B, T - 1), -100 where nothing is
        predicted.  The forward top at t is scored against ``forward_targets[:, t]`` (unit
        t + 1), the backward top at t + 1 against ``backward_targets[:, t]`` (unit t).
        """
        vocab = self.softmax.out_features
        fwd = self(forward_top[:, :-1]).reshape(-1, vocab)  # (B·(T-1), V)
        bwd = self(backward_top[:, 1:]).reshape(-1, vocab)
        return (
            functional.cross_entropy(fwd, forward_targets.reshape(-1), reduction="sum"),
            functional.cross_entropy(bwd, backward_targets.reshape(-1), reduction="sum"),
        )
