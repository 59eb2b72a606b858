"""The training objective as a module, so that DistributedDataParallel can wrap it.

It reads batches of unit ids (see :mod:`elmo.training.data`): the char ids of each distinct unit
come from a table computed once for the whole vocabulary, each distinct unit of the batch is encoded
once, and the loss is returned as forward and backward sums so that the caller can normalise by the
number of predictions in the whole (possibly distributed, accumulated) step.
"""

from __future__ import annotations

import torch
from torch import nn

from elmo.nn.bilm import BiLM
from elmo.training.data import Batch

__all__ = ["LanguageModelObjective"]


class LanguageModelObjective(nn.Module):
    """``Batch`` → (summed forward NLL, summed backward NLL); needs a model with an LM head."""

    unit_char_ids: torch.Tensor  # a buffer: (V, 50)

    def __init__(self, model: BiLM, unit_char_ids: torch.Tensor) -> None:
        super().__init__()
        if model.lm_head is None:
            raise ValueError("the model has no LM head to train")
        self.model = model
        self.register_buffer("unit_char_ids", unit_char_ids, persistent=False)  # (V, 50)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        char_ids = self.unit_char_ids[batch.units]  # (U, 50)
        vectors = self.model.token_encoder.encode_units(char_ids, batch.longest_chars)  # (U, D)
        tokens = vectors[batch.inverse]  # (B, T, D)
        forward, backward = self.model.recurrent(tokens, batch.lengths)
        assert self.model.lm_head is not None
        return self.model.lm_head.summed_losses(
            forward[-1], backward[-1], batch.forward_targets, batch.backward_targets
        )
