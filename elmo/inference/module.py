"""``Elmo``: the biLM as a layer of a task model, with learned scalar mixes.

Give it token lists, get ``num_output_representations`` mixes of the biLM layers (one per place
the task model uses ELMo, as in Peters et al. 2018) and the mask.  The biLM is frozen unless
``requires_grad=True``; the mixes always learn.  For sentencepiece models each word's vector is
the mean of its pieces' vectors, computed inside the graph so that fine-tuning works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from elmo.errors import InvalidInputError
from elmo.io.bundle import load_model, load_tokenizer
from elmo.nn.bilm import BiLM
from elmo.nn.chars import MAX_CHARS, sentence_char_ids, validate_sentences
from elmo.nn.scalar_mix import ScalarMix
from elmo.tokenization import SentencePieceUnits

__all__ = ["Elmo", "ElmoOutput"]


@dataclass(frozen=True)
class ElmoOutput:
    """``representations``: one ``(B, T, 2D)`` tensor per mix; ``mask``: ``(B, T)`` bool."""

    representations: list[torch.Tensor]
    mask: torch.Tensor


class Elmo(nn.Module):
    """Args:
    model: a bundle/original-files directory, or a loaded :class:`BiLM`.
    num_output_representations: how many independent scalar mixes to return.
    dropout: applied to each representation (training mode only).
    requires_grad: fine-tune the biLM too (default: frozen).
    layer_norm: normalise each layer per sentence before mixing.
    units: the sentencepiece units when ``model`` is a BiLM trained here.
    """

    unit_char_ids: torch.Tensor  # a buffer: (V, 50)

    def __init__(
        self,
        model: str | Path | BiLM,
        num_output_representations: int = 1,
        dropout: float = 0.5,
        requires_grad: bool = False,
        layer_norm: bool = False,
        units: SentencePieceUnits | None = None,
    ) -> None:
        super().__init__()
        if num_output_representations < 1:
            raise InvalidInputError("num_output_representations must be >= 1")
        if isinstance(model, BiLM):
            self.bilm = model
        else:
            self.bilm = load_model(model)
            units = load_tokenizer(model)
        self.units = units
        table = units.unit_char_ids() if units is not None else torch.zeros(0, MAX_CHARS)
        self.register_buffer("unit_char_ids", table.long(), persistent=False)  # (V, 50)
        self.fine_tune = requires_grad
        for param in self.bilm.parameters():
            param.requires_grad_(requires_grad)
        layers = self.bilm.config.num_output_layers
        self.mixes = nn.ModuleList(
            ScalarMix(layers, layer_norm=layer_norm) for _ in range(num_output_representations)
        )
        self.dropout = nn.Dropout(dropout)

    @property
    def output_dim(self) -> int:
        return self.bilm.config.output_dim

    def forward(self, sentences: Sequence[Sequence[str]]) -> ElmoOutput:
        return self.mix_layers(*self.layers(sentences))

    def layers(self, sentences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The biLM's layers per word, ``(L, B, T, 2D)``, and the ``(B, T)`` mask, before any
        mix: what a frozen biLM gives a task model, which may keep them across epochs."""
        sentences = validate_sentences(sentences)
        device = self.unit_char_ids.device
        if self.units is None:
            rows = [sentence_char_ids(s) for s in sentences]
            return self._run(rows, device)  # (L, B, T, 2D), (B, T)
        return self._run_pieces(sentences, device)

    def mix_layers(self, layers: torch.Tensor, mask: torch.Tensor) -> ElmoOutput:
        """Each representation's scalar mix of ``layers`` ``(L, B, T, 2D)``, dropout, and
        exact zeros where ``mask`` ``(B, T)`` is False."""
        outputs = [self.dropout(mix(layers, mask)) for mix in self.mixes]
        return ElmoOutput([torch.where(mask[..., None], o, 0.0) for o in outputs], mask)

    def train(self, mode: bool = True) -> Elmo:
        """A frozen biLM stays in eval mode (no dropout inside the features it gives)."""
        super().train(mode)
        self.bilm.train(mode and self.fine_tune)
        return self

    def _run(self, rows: list[torch.Tensor], device: torch.device):
        char_ids = pad_sequence(rows, batch_first=True).to(device)  # (B, T, 50)
        with torch.set_grad_enabled(self.fine_tune and torch.is_grad_enabled()):
            output = self.bilm(char_ids)
        return output.layers, output.mask

    def _run_pieces(self, sentences: list[list[str]], device: torch.device):
        """Run the pieces, then average each word's pieces: the words' first pieces scaled by
        one over their counts, plus their second pieces so scaled, and so on, one elementwise
        operation at a time.  A product with a pooling matrix over the padded pieces would
        round a word by what else was in the batch on some CPUs, and adding into the words by
        index would add in no fixed order on a GPU."""
        assert self.units is not None
        pieces = [self.units.encode_words(s) for s in sentences]
        flat = [torch.tensor([i for w in p for i in w], dtype=torch.long) for p in pieces]
        rows = [self.unit_char_ids[ids.to(device)].cpu() for ids in flat]
        layers, _ = self._run(rows, device)  # (L, B, P, 2D)
        count, batch, padded, width = layers.shape
        words = max((len(s) for s in sentences), default=0)
        most = max((len(ids) for p in pieces for ids in p), default=0)
        # sources[j][b * W + w]: the row in (B * P) of word w's j-th piece (0 where it has none,
        # scaled by 0 then); scales[j][...]: one over the word's count of pieces, or 0
        sources = [[0] * (batch * words) for _ in range(most)]
        scales = [[0.0] * (batch * words) for _ in range(most)]
        for b, word_pieces in enumerate(pieces):
            start = 0
            for w, ids in enumerate(word_pieces):
                for j in range(len(ids)):
                    sources[j][b * words + w] = b * padded + start + j
                    scales[j][b * words + w] = 1.0 / len(ids)
                start += len(ids)
        flat_layers = layers.reshape(count, batch * padded, width)
        pooled = layers.new_zeros(count, batch * words, width)  # (L, B * W, 2D)
        for j in range(most):
            source = torch.tensor(sources[j], dtype=torch.long, device=device)
            scale = torch.tensor(scales[j], dtype=layers.dtype, device=device)[:, None]
            pooled = pooled + flat_layers[:, source] * scale
        mask = torch.zeros(len(sentences), words, dtype=torch.bool, device=device)
        for b, s in enumerate(sentences):
            mask[b, : len(s)] = True
        return pooled.reshape(count, batch, words, width), mask  # (L, B, W, 2D)
