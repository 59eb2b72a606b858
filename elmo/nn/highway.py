"""Highway layers (Srivastava et al. 2015) as ELMo uses them.

``y = g * relu(W_t x + b_t) + (1 - g) * x`` with gate ``g = sigmoid(W_g x + b_g)``.  In bilm-tf
files the gate's weights are called "carry" (``W_carry``), which reads backwards: a large gate
lets the *transformed* value through.  The activation is relu whatever the CNN's activation is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from torch import nn

from elmo.nn.tiles import linear, sigmoid

__all__ = ["Highway"]

GATE_BIAS_INIT = -2.0


class Highway(nn.Module):
    """``(..., F)`` → ``(..., F)``; each layer computes transform and gate in one matmul."""

    def __init__(self, size: int, num_layers: int) -> None:
        super().__init__()
        # weight rows [0:F] are the transform, rows [F:2F] the gate
        self.layers = nn.ModuleList(nn.Linear(size, 2 * size) for _ in range(num_layers))
        for layer in self.linears():
            # start close to the identity (gate ≈ 0.12): a fresh highway that mixes in half of an
            # untrained transform slows early language-model training down markedly
            nn.init.constant_(layer.bias[size:], GATE_BIAS_INIT)

    def linears(self) -> Iterable[nn.Linear]:
        return cast("Iterable[nn.Linear]", self.layers)  # (ModuleList is not generic)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.linears():
            transform, gate = linear(x, layer.weight, layer.bias).chunk(2, dim=-1)  # each (..., F)
            g = sigmoid(gate)
            x = g * torch.relu(transform) + (1 - g) * x
        return x
