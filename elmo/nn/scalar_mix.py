"""Scalar mix: ``gamma * sum_k softmax(s)_k * layer_k`` (Peters et al. 2018, eq. 1).

With ``layer_norm=True`` each layer is normalised before mixing, with the mean and variance of
each sentence's own real tokens (over all of their dimensions).  AllenNLP computes those
statistics over the whole batch, boundaries included, so its result for a sentence depends on
what else was in the batch; ours does not.  Padded positions are exactly 0 either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from elmo.errors import InvalidInputError

__all__ = ["ScalarMix"]


class ScalarMix(nn.Module):
    """Mix ``(L, B, T, C)`` layers into ``(B, T, C)``; weights and gamma are parameters."""

    def __init__(
        self,
        num_layers: int,
        layer_norm: bool = False,
        initial_weights: Sequence[float] | None = None,
        gamma: float = 1.0,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        weights = [0.0] * num_layers if initial_weights is None else list(initial_weights)
        if len(weights) != num_layers:
            raise InvalidInputError(
                f"scalar mix: {len(weights)} initial weights for {num_layers} layers"
            )
        self.num_layers = num_layers
        self.layer_norm = layer_norm
        self.weights = nn.Parameter(torch.tensor(weights), requires_grad=trainable)
        self.gamma = nn.Parameter(torch.tensor(float(gamma)), requires_grad=trainable)

    def forward(self, layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # layers: (L, B, T, C); mask: (B, T) bool
        if layers.shape[0] != self.num_layers:
            raise InvalidInputError(
                f"scalar mix expects {self.num_layers} layers, got {layers.shape[0]}"
            )
        keep = mask[None, :, :, None]  # (1, B, T, 1)
        if self.layer_norm:
            layers = self._normalise(layers, keep)
        weights = torch.softmax(self.weights, dim=0).to(layers.dtype)  # (L,)
        mixed = self.gamma * torch.einsum("l,lbtc->btc", weights, layers)  # (B, T, C)
        return torch.where(keep[0], mixed, 0.0)

    @staticmethod
    def _normalise(layers: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        # per layer and sentence, over real tokens and all C dimensions
        count = (keep.sum(dim=2, keepdim=True) * layers.shape[-1]).clamp(min=1)  # (1, B, 1, 1)
        masked = torch.where(keep, layers, 0.0)
        mean = masked.sum(dim=(2, 3), keepdim=True) / count  # (L, B, 1, 1)
        centred = torch.where(keep, layers - mean, 0.0)
        variance = centred.pow(2).sum(dim=(2, 3), keepdim=True) / count
        return centred / torch.sqrt(variance + 1e-12)
