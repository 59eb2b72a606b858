"""The context-free token encoder: char-CNN → highway layers → linear projection to D.

Its output is layer 0 of ELMo.  It sees one unit at a time, so a unit's vector depends only on
its string: each distinct unit of a batch is encoded once (real text repeats "the", "," and the
boundary units in every sentence, and all padded slots are one "unit").
"""

from __future__ import annotations

import torch
from torch import nn

from elmo.config import CharCNNConfig
from elmo.nn.char_cnn import CharCNN
from elmo.nn.highway import Highway
from elmo.nn.tiles import linear
from elmo.nn.token_cache import TokenCache

__all__ = ["TokenEncoder"]


class TokenEncoder(nn.Module):
    """``(..., 50)`` char ids → ``(..., D)`` token vectors."""

    def __init__(self, config: CharCNNConfig, output_dim: int) -> None:
        super().__init__()
        self.char_cnn = CharCNN(config)
        self.highway = Highway(config.n_filters, config.n_highway)
        self.projection = nn.Linear(config.n_filters, output_dim)

    def forward(self, char_ids: torch.Tensor, cache: TokenCache | None = None) -> torch.Tensor:
        """``cache``: vectors of units seen by earlier calls (:mod:`elmo.nn.token_cache`); it
        is bypassed while gradients flow into the encoder (a cached row carries no graph)."""
        leading = char_ids.shape[:-1]
        flat = char_ids.reshape(-1, char_ids.shape[-1])  # (N, W)
        unique, inverse = torch.unique(flat, dim=0, return_inverse=True)  # (U, W), (N,)
        if cache is None or (torch.is_grad_enabled() and self.projection.weight.requires_grad):
            vectors = self.encode_units(unique)  # (U, D)
        else:
            versions = tuple(p._version for p in self.parameters())
            vectors = cache.encode(unique, self.encode_units, versions)  # (U, D)
        return vectors[inverse].reshape(*leading, self.projection.out_features)  # (..., D)

    def encode_units(self, char_ids: torch.Tensor, longest: int | None = None) -> torch.Tensor:
        """``(U, 50)`` char ids of distinct units → ``(U, D)``; ``longest`` as in CharCNN."""
        features = self.highway(self.char_cnn(char_ids, longest))  # (U, F)
        return linear(features, self.projection.weight, self.projection.bias)  # (U, D)
