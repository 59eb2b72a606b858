"""Scalar mix: ``gamma * sum_k softmax(s)_k * layer_k`` (Peters et al. 2018, eq. 1).

With ``layer_norm=True`` each layer is normalised before mixing, with the mean and variance of
each sentence's own real tokens (over all of their dimensions).  AllenNLP computes those
statistics over the whole batch, boundaries included, so its result for a sentence depends on
what else was in the batch; ours does not.  Padded positions are exactly 0 either way.

The mix itself is a sum of scaled layers, one elementwise product and add at a time, never a
contraction: a BLAS product over the layer axis (what ``einsum`` makes of it) rounds an element
by where it falls in the batch's buffer on some CPUs, and a sentence mixed alone would not get
the bits it gets in a batch.  Elementwise operations round each element alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from elmo.errors import InvalidInputError

__all__ = ["ScalarMix", "weighted_sum"]


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
        mixed = self.gamma * weighted_sum(weights, layers)  # (B, T, C)
        return torch.where(keep[0], mixed, 0.0)

    @staticmethod
    def _normalise(layers: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        # per layer and sentence, over real tokens and all C dimensions; each sentence's sums
        # run over its own positions only (up to its last real token), so that the padding a
        # longer neighbour brings cannot change how they are reduced
        if layers.shape[1] == 0:
            return layers
        positions = torch.arange(1, keep.shape[2] + 1, device=keep.device)  # (T,)
        ends = (keep[0, :, :, 0] * positions).amax(dim=1).tolist()  # (B,) last real token + 1
        count = (keep.sum(dim=2, keepdim=True) * layers.shape[-1]).clamp(min=1)  # (1, B, 1, 1)
        masked = torch.where(keep, layers, 0.0)
        sums = torch.stack(
            [masked[:, b, :n].contiguous().sum(dim=(1, 2)) for b, n in enumerate(ends)], dim=1
        )  # (L, B)
        mean = sums[:, :, None, None] / count  # (L, B, 1, 1)
        centred = torch.where(keep, layers - mean, 0.0)
        squares = torch.stack(
            [centred[:, b, :n].pow(2).sum(dim=(1, 2)) for b, n in enumerate(ends)], dim=1
        )  # (L, B)
        variance = squares[:, :, None, None] / count
        return centred / torch.sqrt(variance + 1e-12)


def weighted_sum(weights: torch.Tensor, layers: torch.Tensor) -> torch.Tensor:
    """``sum_k weights[k] * layers[k]`` for ``weights (L,)`` and ``layers (L, ...)``, added in
    layer order one elementwise operation at a time: every element gets the same bits wherever
    it lies in ``layers`` (the module docstring says why not a contraction)."""
    total = weights[0] * layers[0]
    for k in range(1, layers.shape[0]):
        total = total + weights[k] * layers[k]
    return total  # (...)
