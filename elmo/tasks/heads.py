"""Task models on the biLM: one learned scalar mix of its layers feeding a small head.

Peters et al. (2018) adapt a pretrained biLM to a task by learning only ``gamma`` and the
softmax layer weights of a mix (eq. 1) plus the task model on top; the biLM itself stays frozen.
:class:`TaskModel` is that recipe with the smallest useful task models: a linear layer, or a
one-layer BiLSTM under it when word order matters beyond what the biLM already encodes.

- ``classify``: the mix is mean-pooled over the sentence's real tokens → label logits;
- ``tag``: label logits per token.

The head reads only real tokens (packed sequences in the BiLSTM, a masked mean), so padding
never reaches a prediction.  The output layer's product runs in the biLM's row tiles
(:func:`elmo.nn.tiles.linear`), so a linear head's probabilities have the same bits whatever
batch a sentence comes in; the BiLSTM head's recurrence is PyTorch's and may differ in the
last bits with the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from elmo.config import from_dict, to_dict
from elmo.errors import ConfigError
from elmo.inference.module import Elmo
from elmo.nn.tiles import linear
from elmo.tasks.data import TaskKind

__all__ = ["HeadKind", "TaskConfig", "TaskModel"]

HeadKind = Literal["linear", "bilstm"]


@dataclass(frozen=True)
class TaskConfig:
    """How a task model is built and trained; kept in ``task.json`` so that a bundle records
    what made it and a resumed run can check it continues the same run.

    ``hidden_size``: per direction of the BiLSTM head (unused by ``linear``).  ``dropout``: on
    the mix and before the output layer.  ``patience``: epochs without a better validation
    accuracy before stopping.  ``fine_tune``: train the biLM's weights too (slow; the paper
    keeps them frozen).  ``layer_norm``: normalise each layer before mixing.  ``layers``: the
    biLM layers the mix reads (``(0,)``: the context-free layer alone, the baseline a contextual
    model is measured against); None: all of them.
    """

    task: TaskKind = "classify"
    head: HeadKind = "linear"
    hidden_size: int = 64
    dropout: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 0.01
    epochs: int = 20
    batch_size: int = 16
    patience: int = 3
    fine_tune: bool = False
    layer_norm: bool = False
    layers: tuple[int, ...] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("hidden_size", "epochs", "batch_size", "patience")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.layers is not None and (
            not self.layers or min(self.layers) < 0 or len(set(self.layers)) != len(self.layers)
        ):
            raise ConfigError(f"layers must be distinct indices >= 0, got {list(self.layers)}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(
                f"lr must be > 0 and weight_decay >= 0 ({self.lr}, {self.weight_decay})"
            )

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "config") -> TaskConfig:
        return from_dict(cls, data, where)


class TaskModel(nn.Module):
    """``Elmo`` (one representation) → optional BiLSTM → dropout → linear, for ``labels``."""

    def __init__(self, elmo: Elmo, config: TaskConfig, labels: Sequence[str]) -> None:
        super().__init__()
        if len(elmo.mixes) != 1:
            raise ConfigError("a task model reads one ELMo representation")
        if len(labels) < 2:
            raise ConfigError(f"a task needs at least 2 labels, got {list(labels)}")
        self.config = config
        self.labels = list(labels)
        self.elmo = elmo
        width = elmo.output_dim
        self.encoder: nn.LSTM | None = None
        if config.head == "bilstm":
            self.encoder = nn.LSTM(width, config.hidden_size, batch_first=True, bidirectional=True)
            width = 2 * config.hidden_size
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(width, len(self.labels))
        self._layers: dict[tuple[str, ...], torch.Tensor] = {}  # see remember()
        count = elmo.bilm.config.num_output_layers
        self.layer_ids = list(config.layers) if config.layers is not None else list(range(count))
        if max(self.layer_ids) >= count:
            raise ConfigError(f"layers {self.layer_ids}: the biLM has layers 0..{count - 1}")

    def remember(self, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> None:
        """Compute the frozen biLM's layers of ``sentences`` once, for every later epoch.

        With the biLM frozen its layers do not change during training, and running it is nearly
        all of an epoch's time: kept, an epoch costs only the mix and the head.  The memory is
        ``L x words x 2D`` floats for all the sentences.  A fine-tuned biLM is never kept.
        """
        if self.config.fine_tune:
            return
        distinct = list(dict.fromkeys(tuple(s) for s in sentences if tuple(s) not in self._layers))
        distinct.sort(key=len)  # batches of similar lengths pad less
        with torch.no_grad():
            for start in range(0, len(distinct), batch_size):
                chunk = distinct[start : start + batch_size]
                layers, _ = self.elmo.layers([list(s) for s in chunk])  # (L, B, T, 2D)
                for row, sentence in enumerate(chunk):
                    self._layers[sentence] = layers[:, row, : len(sentence)].clone()  # (L, n, 2D)

    def forget(self) -> None:
        """Drop the kept layers (a trained model predicts from the biLM itself)."""
        self._layers.clear()

    def forward(self, sentences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits, ``(B, K)`` for classify or ``(B, T, K)`` for tag, and the ``(B, T)`` mask."""
        keys = [tuple(s) for s in sentences]
        if self._layers and all(k in self._layers for k in keys):
            kept = [self._layers[k] for k in keys]  # (L, n_b, 2D) each
            longest = max((t.shape[1] for t in kept), default=0)
            layers = kept[0].new_zeros(kept[0].shape[0], len(kept), longest, kept[0].shape[2])
            mask = torch.zeros(len(kept), longest, dtype=torch.bool, device=layers.device)
            for row, t in enumerate(kept):
                layers[:, row, : t.shape[1]] = t
                mask[row, : t.shape[1]] = True
        else:
            layers, mask = self.elmo.layers(sentences)  # (L, B, T, 2D), (B, T)
        return self.forward_layers(layers, mask)

    def forward_layers(
        self, layers: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What :meth:`forward` does after the biLM: the biLM's ``(L, B, T, 2D)`` layers and
        the ``(B, T)`` mask → the logits and the mask (the layers may come from elsewhere,
        e.g. the service's biLM, as long as they are this model's base model's)."""
        if self.config.layers is not None:
            layers = layers[self.layer_ids]  # (K, B, T, 2D): the layers the mix reads
        elmo = self.elmo.mix_layers(layers, mask)
        features, mask = elmo.representations[0], elmo.mask  # (B, T, 2D), (B, T)
        if self.encoder is not None:
            features = self._encode(features, mask)  # (B, T, 2H)
        if self.config.task == "classify":
            count = mask.sum(dim=1, keepdim=True).clamp(min=1)  # (B, 1)
            keep = mask[..., None]  # (B, T, 1)
            features = torch.where(keep, features, 0.0).sum(dim=1) / count  # (B, C)
        features = self.dropout(features)
        return linear(features, self.output.weight, self.output.bias), mask  # (B, [T,] K)

    def _encode(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        assert self.encoder is not None
        lengths = mask.sum(dim=1).clamp(min=1).cpu()  # (B,)
        packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.encoder(packed)
        padded, _ = pad_packed_sequence(output, batch_first=True, total_length=mask.shape[1])
        return torch.where(mask[..., None], padded, 0.0)  # (B, T, 2H)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The weights a task bundle stores: the head and the mix, and the biLM's only when it
        was fine-tuned (frozen, it is the base model's file, named by its hash); never the LM
        softmax, which task training does not touch."""
        return {
            k: v.detach().contiguous().cpu()
            for k, v in self.state_dict().items()
            if (self.config.fine_tune or not k.startswith("elmo.bilm."))
            and not k.startswith("elmo.bilm.lm_head.")
        }
