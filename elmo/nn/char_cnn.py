"""Character CNN: char embedding, one convolution per width, max over positions, activation.

Two facts make this much cheaper than the textbook 50-slot convolution, with results equal up to
float rounding:

- Positions past a word's end hold only the padding char, so every window lying wholly in
  padding has the same value for a given filter.  The convolution runs only over the window
  starts that the longest word of the batch reaches; the constant all-padding window is computed
  once per filter and joins the max wherever the full 50-slot convolution would have seen one.
- With the kernels of every width zero-padded to the widest one, all filters read the same
  windows, so the whole bank is one matrix product over unfolded windows instead of one
  convolution per width (the widest convolution used to dominate).  A matrix product also keeps
  GPU results in full fp32 (cuDNN convolutions default to TF32).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from torch import nn
from torch.nn import functional

from elmo.config import CharCNNConfig
from elmo.nn.chars import MAX_CHARS, PADDING_CHAR_ID
from elmo.nn.tiles import addmm, exact, tanh

__all__ = ["CharCNN"]

# Window scores (tokens × starts × F floats) are made and max-pooled a chunk of tokens at a time:
# on a CPU a chunk that stays in cache runs ~2.5x faster than one big product; on a GPU the
# budget only bounds memory.
_SCORE_BUDGET = {"cpu": 3 * 2**18, "other": 2**28}


class CharCNN(nn.Module):
    """``(N, 50)`` char ids → ``(N, F)`` features; N is any number of tokens."""

    filter_widths: torch.Tensor  # a buffer: each filter's width, (F,)

    def __init__(self, config: CharCNNConfig) -> None:
        super().__init__()
        self.config = config
        # Row 0 (a padded token slot) stays zero, as in the original (it is not in its weights).
        self.char_embedding = nn.Embedding(config.n_characters, config.embedding_dim, padding_idx=0)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, count, kernel_size=width)
            for width, count in config.filters
        )
        self.widest = max(width for width, _ in config.filters)
        widths = [width for width, count in config.filters for _ in range(count)]
        self.register_buffer("filter_widths", torch.tensor(widths), persistent=False)  # (F,)
        self.activation = torch.relu if config.activation == "relu" else tanh

    def kernels(self) -> Iterable[nn.Conv1d]:
        return cast("Iterable[nn.Conv1d]", self.convolutions)  # (ModuleList is not generic)

    def _bank(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All kernels zero-padded to the widest: weight (E·w_max, F), bias (F,).

        The weight is a row-major ``(K, F)`` copy: on CPU, ``windows @ W`` runs about twice as fast
        from it as from a transposed view.
        """
        kernels = [
            functional.pad(c.weight, (0, self.widest - c.weight.shape[-1])) for c in self.kernels()
        ]
        weight = torch.cat(kernels).flatten(1).t().contiguous()  # (E * w_max, F), E-major
        biases = [cast(torch.Tensor, c.bias) for c in self.kernels()]  # Conv1d(bias=True)
        return weight, torch.cat(biases)

    def forward(self, char_ids: torch.Tensor, longest: int | None = None) -> torch.Tensor:
        # char_ids: (N, W) with W = 50.  ``longest``: the most slots any unit uses, when the caller
        # knows it (training does, from its vocabulary); otherwise it is read off the ids, which
        # costs a host sync on a GPU.
        if longest is None:
            used = ((char_ids != 0) & (char_ids != PADDING_CHAR_ID)).any(0)  # (W,)
            longest = int(used.nonzero().max()) + 1 if bool(used.any()) else 1
        if longest + self.widest <= MAX_CHARS:
            # every word has windows wholly in padding, for every width
            return self._pooled(char_ids, starts=longest, with_pad_window=True)
        # a word of more than 50 - w_max slots: all 50 slots, and for each width only the window
        # starts that fit in them (rare: words of over 42 bytes)
        return self._pooled(char_ids, starts=MAX_CHARS, with_pad_window=False)

    def _pooled(self, char_ids: torch.Tensor, starts: int, with_pad_window: bool) -> torch.Tensor:
        """Max over window starts ``0 .. starts-1`` of every filter, then bias and activation."""
        weight, bias = self._bank()
        span = starts + self.widest - 1
        if span > MAX_CHARS:  # slots past 50 only meet zero-padded kernel columns
            char_ids = functional.pad(char_ids, (0, span - MAX_CHARS), value=PADDING_CHAR_ID)
        # window start s of a width-w filter exists in the 50-slot convolution iff s + w <= 50
        outside = None
        if starts + self.widest > MAX_CHARS + 1:
            s = torch.arange(starts, device=char_ids.device).unsqueeze(1)  # (starts, 1)
            outside = s + self.filter_widths > MAX_CHARS  # (starts, F)
        budget = _SCORE_BUDGET["cpu" if char_ids.device.type == "cpu" else "other"]
        chunk = max(1, budget // (starts * weight.shape[1]))
        pieces = []
        for lo in range(0, char_ids.shape[0], chunk):
            chars = self.char_embedding(char_ids[lo : lo + chunk, :span]).transpose(1, 2)
            windows = chars.unfold(2, self.widest, 1).transpose(1, 2)  # (n, starts, E, w_max)
            scores = self._scores(windows.flatten(2), weight)  # (n, starts, F)
            if outside is not None:
                scores = scores.masked_fill(outside, float("-inf"))
            pieces.append(scores.amax(dim=1))  # (n, F)
        pooled = torch.cat(pieces) if pieces else bias.new_zeros(0, bias.shape[0])
        if with_pad_window:
            pad = self.char_embedding.weight[PADDING_CHAR_ID]  # (E,)
            # value of a window wholly in padding, per filter, without bias: (F,).  Two equal
            # rows, because outside the tiles a one-row product rounds differently from the
            # window scores above, and a window of padding inside a word's scores must not
            # beat it by a rounding.
            window = pad.unsqueeze(-1).expand(-1, self.widest).reshape(1, 1, -1)  # (1, 1, E·w)
            pad_window = self._scores(window.expand(1, 2, -1), weight)[0, :1]  # (1, F)
            pooled = torch.maximum(pooled, pad_window)
        # the bias joins after the max: fl(x + b) is monotonic in x, so this is exact
        return self.activation(pooled + bias)  # (N, F)

    @staticmethod
    def _scores(windows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``(n, starts, K) @ (K, F)``; on a CPU without gradients in row tiles of checked sizes, so
        that a window's score does not depend on how many windows the batch has."""
        if not exact(windows):
            return windows @ weight
        flat = windows.reshape(-1, windows.shape[-1])  # (n * starts, K)
        return addmm(None, flat, weight).view(*windows.shape[:-1], weight.shape[1])
