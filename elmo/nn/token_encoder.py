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

__all__ = ["TokenEncoder", "distinct_rows"]

# Multipliers of a row's hash: odd 63-bit constants from a fixed seed (int64 products wrap).
_HASH = torch.randint(1, 1 << 62, (64,), generator=torch.Generator().manual_seed(0)) * 2 + 1


def distinct_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows (N, W)`` of integers → the distinct rows ``(U, W)`` and each row's index among
    them ``(N,)``: ``distinct[inverse]`` equals ``rows``.

    Sorting rows of 50 char ids (``torch.unique(dim=0)``) was a large part of layer 0's time
    on text of few repeats; this sorts one 64-bit hash a row instead and checks that equal
    hashes hold equal rows (falling back to the sort when two rows share a hash).  The order
    of the distinct rows is no promise: each is encoded on its own."""
    if rows.dim() != 2 or rows.shape[1] > _HASH.numel() or rows.dtype != torch.int64:
        return torch.unique(rows, dim=0, return_inverse=True)
    keys = (rows * _HASH[: rows.shape[1]].to(rows.device)).sum(1)  # (N,), wrapping
    _, inverse = torch.unique(keys, return_inverse=True)  # (N,)
    count = int(inverse.max()) + 1 if inverse.numel() else 0
    positions = torch.arange(rows.shape[0], device=rows.device)
    first = torch.full((count,), rows.shape[0], device=rows.device, dtype=torch.int64)
    first.scatter_reduce_(0, inverse, positions, reduce="amin")  # (U,): a row of each hash
    distinct = rows[first]
    if not torch.equal(distinct[inverse], rows):  # two rows share a hash
        return torch.unique(rows, dim=0, return_inverse=True)
    return distinct, inverse


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
        unique, inverse = distinct_rows(flat)  # (U, W), (N,)
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
