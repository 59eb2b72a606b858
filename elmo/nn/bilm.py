"""The biLM: token encoder, forward and backward recurrent stacks, and the optional LM head.

``forward`` is what feature extraction uses: it adds ``<S>``/``</S>`` around every sentence,
runs the model, removes them again and returns the ELMo layers
``[[x0; x0], [f1; b1], [f2; b2], ...]``, exactly 0 at padded positions.  ``language_model_loss``
is what training uses: it reads sequences that already carry their boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from elmo.config import ModelConfig
from elmo.errors import InvalidInputError
from elmo.nn.chars import BOS_CHAR_IDS, EOS_CHAR_IDS, MAX_CHARS, PADDING_CHAR_ID
from elmo.nn.lm_head import LMHead, LMLoss
from elmo.nn.recurrent import BiRecurrent
from elmo.nn.token_cache import TokenCache
from elmo.nn.token_encoder import TokenEncoder

__all__ = ["BiLM", "BiLMOutput", "add_sentence_boundaries", "mask_and_lengths"]


@dataclass(frozen=True)
class BiLMOutput:
    """``layers``: (L, B, T, 2D) float; ``mask``: (B, T) bool, True at real tokens."""

    layers: torch.Tensor
    mask: torch.Tensor


def check_char_ids(char_ids: torch.Tensor) -> None:
    """Reject tensors that are not a batch of char ids, before an embedding fails on them."""
    if not isinstance(char_ids, torch.Tensor):
        raise InvalidInputError(f"char ids must be a tensor, got {type(char_ids).__name__}")
    if char_ids.dim() != 3 or char_ids.shape[-1] != MAX_CHARS:
        raise InvalidInputError(
            f"char ids must have shape (batch, tokens, {MAX_CHARS}), got {tuple(char_ids.shape)}"
        )
    if char_ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise InvalidInputError(f"char ids must be integers, got {char_ids.dtype}")
    if char_ids.numel() and (int(char_ids.min()) < 0 or int(char_ids.max()) > PADDING_CHAR_ID):
        raise InvalidInputError(f"char ids must lie in 0..{PADDING_CHAR_ID}")


def mask_and_lengths(char_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask (B, T) and lengths (B,) of a char-id batch; tokens must be left-aligned."""
    check_char_ids(char_ids)
    mask = char_ids.gt(0).any(-1)  # (B, T)
    lengths = mask.sum(-1)  # (B,)
    steps = torch.arange(char_ids.shape[1], device=char_ids.device)
    if not torch.equal(mask, steps.unsqueeze(0) < lengths.unsqueeze(1)):
        raise InvalidInputError("char ids have empty token slots before real tokens")
    return mask, lengths


def add_sentence_boundaries(char_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, W) → (B, T + 2, W) with ``<S>`` at 0 and ``</S>`` right after each sentence."""
    batch, steps, width = char_ids.shape
    out = char_ids.new_zeros(batch, steps + 2, width)
    out[:, 1 : steps + 1] = char_ids
    out[:, 0] = char_ids.new_tensor(BOS_CHAR_IDS)
    out[torch.arange(batch, device=char_ids.device), lengths + 1] = char_ids.new_tensor(
        EOS_CHAR_IDS
    )
    return out


class BiLM(nn.Module):
    """Char-CNN token encoder + biLSTM (or other cell) stacks + optional shared-softmax LM head."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.recurrent.projection_size
        self.token_encoder = TokenEncoder(config.char_cnn, dim)
        self.recurrent = BiRecurrent(dim, config.recurrent, config.dropout)
        self.lm_head = LMHead(dim, config.vocab_size, config.dropout) if config.vocab_size else None

    @property
    def stateful(self) -> bool:
        return self.recurrent.stateful

    @stateful.setter
    def stateful(self, value: bool) -> None:
        """Carry each row's final states into the next batch (original-implementation parity)."""
        self.recurrent.stateful = value
        self.recurrent.reset_states()

    def encode(
        self,
        char_ids: torch.Tensor,
        lengths: torch.Tensor,
        token_cache: TokenCache | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Sequences that already carry boundaries → token vectors (B, T, D) and per-layer
        forward and backward outputs (each (B, T, D)); lengths count the boundaries."""
        tokens = self.token_encoder(char_ids, token_cache)  # (B, T, D)
        forward, backward = self.recurrent(tokens, lengths)
        return tokens, forward, backward

    def forward(self, char_ids: torch.Tensor, token_cache: TokenCache | None = None) -> BiLMOutput:
        # char_ids: (B, T, W) without boundaries; 0 marks padded token slots.  token_cache:
        # layer-0 vectors kept across calls (elmo.nn.token_cache), for frozen feature extraction
        mask, lengths = mask_and_lengths(char_ids)
        steps = char_ids.shape[1]
        tokens, forward, backward = self.encode(
            add_sentence_boundaries(char_ids, lengths), lengths + 2, token_cache
        )
        # Each piece copied once into the output, the boundaries left out, then the padding
        # zeroed in place (stacking, concatenating and masking made four full copies).
        dim = tokens.shape[-1]
        pairs = [(tokens, tokens), *zip(forward, backward, strict=True)]
        layers = tokens.new_empty(len(pairs), tokens.shape[0], steps, 2 * dim)  # (L, B, T, 2D)
        for k, (f, b) in enumerate(pairs):
            layers[k, ..., :dim] = f[:, 1 : steps + 1]
            layers[k, ..., dim:] = b[:, 1 : steps + 1]
        layers.masked_fill_(~mask[None, :, :, None], 0.0)
        return BiLMOutput(layers=layers, mask=mask)

    def language_model_loss(self, char_ids: torch.Tensor, unit_ids: torch.Tensor) -> LMLoss:
        """Joint loss on sequences with boundaries: char ids (B, T, W), unit ids (B, T)."""
        if self.lm_head is None:
            raise InvalidInputError("this model has no LM head (vocab_size is null)")
        _, lengths = mask_and_lengths(char_ids)
        if unit_ids.shape != char_ids.shape[:2]:
            raise InvalidInputError(
                f"unit ids have shape {tuple(unit_ids.shape)}, char ids {tuple(char_ids.shape[:2])}"
            )
        if char_ids.shape[0] == 0 or int(lengths.min()) < 2:
            raise InvalidInputError("every sequence needs at least 2 units (<S> ... </S>)")
        unit_ids = unit_ids.to(char_ids.device)
        if int(unit_ids.min()) < 0 or int(unit_ids.max()) >= self.lm_head.softmax.out_features:
            raise InvalidInputError(
                f"unit ids must lie in 0..{self.lm_head.softmax.out_features - 1}"
            )
        _, forward, backward = self.encode(char_ids, lengths)
        return self.lm_head.loss(forward[-1], backward[-1], unit_ids, lengths)
