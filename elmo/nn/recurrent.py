"""Forward and backward stacks of recurrent layers, residual from the second layer on.

The backward stack reads each sentence from its own last real unit: sequences are reversed
within their lengths (padding stays at the end), run left to right, and reversed back.  Every
sentence starts from the zero state, so outputs do not depend on the rest of the batch.

In eval mode on a CPU without gradients, a small batch steps the two stacks together, a
layer's two directions one batched call a step (:func:`elmo.nn.step_loop.run_pair`), with the
bits each direction gets alone: where the cells allow it and this machine keeps those bits
(:meth:`BiRecurrent.pairs`).

``stateful=True`` reproduces the original implementation instead: each batch row starts from
the final state that the same row reached in the previous batch (per direction and layer).  It
exists only to check parity with reference outputs that were produced that way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import nn

from elmo.config import RecurrentConfig
from elmo.nn.cells import Cell, LoopWeights, State, build_cell
from elmo.nn.step_loop import PairWeights, can_pair, host_to_device, pays_to_pair, run_pair
from elmo.nn.tiles import linear

__all__ = ["BiRecurrent", "RecurrentLayer", "RecurrentStack", "reverse_padded"]

Ran = tuple[torch.Tensor, State]  # a layer's output (B, T, D) and final state


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of ``x`` (B, T, ...) within its length; positions past it stay put."""
    batch, steps = x.shape[0], x.shape[1]
    t = torch.arange(steps, device=x.device).unsqueeze(0)  # (1, T)
    n = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(t < n, n - 1 - t, t)  # (B, T)
    index = index.view(batch, steps, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


class RecurrentLayer(nn.Module):
    """A cell plus, for GRU/Elman with ``D != H``, a linear output projection H → D."""

    def __init__(self, input_size: int, config: RecurrentConfig) -> None:
        super().__init__()
        self.cell: Cell = build_cell(input_size, config)
        needs_projection = self.cell.output_size != config.projection_size
        self.output_projection = (
            nn.Linear(self.cell.output_size, config.projection_size, bias=False)
            if needs_projection
            else None
        )

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        state: State,
        use_fused: bool = True,
        weights: LoopWeights | None = None,
    ) -> tuple[torch.Tensor, State]:
        """``weights``: the cell's loop weights made earlier; the step loop then runs with them
        (:mod:`elmo.inference.streaming` runs a few steps at a time)."""
        if weights is None:
            out, state = self.cell(x, lengths, state, use_fused)  # (B, T, H or D)
        else:
            out, state = self.cell.loop(x, lengths, state, weights)
        return self.project(out), state

    def project(self, out: torch.Tensor) -> torch.Tensor:
        """The cell's outputs (B, T, H or D) → the layer's (B, T, D)."""
        if self.output_projection is None:
            return out
        return linear(out, self.output_projection.weight)  # padding stays 0 (no bias)


class RecurrentStack(nn.Module):
    """One direction: ``num_layers`` layers; layer k > 1 adds its input to its output."""

    def __init__(self, input_size: int, config: RecurrentConfig, dropout: float = 0.0) -> None:
        super().__init__()
        self.residual = config.residual
        self.layers = nn.ModuleList(
            RecurrentLayer(input_size if k == 0 else config.projection_size, config)
            for k in range(config.num_layers)
        )
        self.dropout = nn.Dropout(dropout)

    def stack(self) -> Sequence[RecurrentLayer]:
        return cast("Sequence[RecurrentLayer]", self.layers)  # (ModuleList is not generic)

    def initial_states(self, batch: int, like: torch.Tensor) -> list[State]:
        return [layer.cell.initial_state(batch, like) for layer in self.stack()]

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        states: list[State] | None = None,
        use_fused: bool = True,
    ) -> tuple[list[torch.Tensor], list[State]]:
        # x: (B, T, D) → one (B, T, D) output per layer
        if states is None:
            states = self.initial_states(x.shape[0], x)

        def run_layer(k: int, layer: RecurrentLayer, x: torch.Tensor, state: State) -> Ran:
            return layer(self.dropout(x), lengths, state, use_fused)

        return self.run(x, states, run_layer)

    def run(
        self,
        x: torch.Tensor,
        states: Sequence[State],
        run_layer: Callable[[int, RecurrentLayer, torch.Tensor, State], Ran],
    ) -> tuple[list[torch.Tensor], list[State]]:
        """The stack over ``x`` (B, T, D), whoever runs its layers: layer k reads layer k - 1's
        output, and with ``residual`` adds it to its own (k > 0).  ``run_layer(k, layer, input,
        state)`` runs one layer: its forward here and in training, a block of steps of the
        running rows in the streaming engine.  Each layer's output (B, T, D) and final state."""
        outputs, finals = [], []
        for k, (layer, state) in enumerate(zip(self.stack(), states, strict=True)):
            out, final = run_layer(k, layer, x, state)
            if k > 0 and self.residual:
                out = out + x
            outputs.append(out)
            finals.append(final)
            x = out
        return outputs, finals


class BiRecurrent(nn.Module):
    """Separate forward and backward stacks over the same token vectors."""

    def __init__(self, input_size: int, config: RecurrentConfig, dropout: float = 0.0) -> None:
        super().__init__()
        self.forward_stack = RecurrentStack(input_size, config, dropout)
        self.backward_stack = RecurrentStack(input_size, config, dropout)
        self.stateful = False
        self.use_fused = True
        self._saved: dict[str, list[State]] = {}

    def reset_states(self) -> None:
        """Forget the states carried across batches (``stateful`` mode only)."""
        self._saved = {}

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        # x: (B, T, D); lengths: (B,) >= 1 → per layer (B, T, D) forward and backward outputs
        lengths = lengths.cpu()
        on_device = host_to_device(lengths, x.device)
        reversed_x = reverse_padded(x, on_device)
        initial = (
            self._initial("forward", self.forward_stack, x),
            self._initial("backward", self.backward_stack, x),
        )
        if self.pairs(x):
            states = (
                initial[0] or self.forward_stack.initial_states(x.shape[0], x),
                initial[1] or self.backward_stack.initial_states(x.shape[0], x),
            )
            (fwd, bwd_reversed), (fwd_final, bwd_final) = self.run_pair(
                (x, reversed_x), lengths, states
            )
        else:
            fwd, fwd_final = self.forward_stack(x, lengths, initial[0], self.use_fused)
            bwd_reversed, bwd_final = self.backward_stack(
                reversed_x, lengths, initial[1], self.use_fused
            )
        bwd = [reverse_padded(out, on_device) for out in bwd_reversed]
        if self.stateful:
            self._save("forward", fwd_final)
            self._save("backward", bwd_final)
        return fwd, bwd

    def layer_pairs(self) -> list[tuple[RecurrentLayer, RecurrentLayer]]:
        """Each layer's forward and backward halves."""
        return list(zip(self.forward_stack.stack(), self.backward_stack.stack(), strict=True))

    def pairs(self, x: torch.Tensor) -> bool:
        """Whether the two stacks step together over ``x`` (B, T, D): in eval mode (dropout
        would draw its masks in another order), for a batch small enough that it pays
        (:func:`pays_to_pair`), where every layer's cells can (:func:`can_pair`)."""
        if self.training:
            return False
        layers = self.layer_pairs()
        if not pays_to_pair(layers[0][0].cell, x.shape[0]):
            return False
        return all(can_pair((f.cell, b.cell), x) for f, b in layers)

    def run_pair(
        self,
        xs: tuple[torch.Tensor, torch.Tensor],
        lengths: torch.Tensor,
        states: tuple[Sequence[State], Sequence[State]],
        weights: Sequence[PairWeights] | None = None,
    ) -> tuple[tuple[list[torch.Tensor], list[torch.Tensor]], tuple[list[State], list[State]]]:
        """Both stacks, a layer's directions stepping together (where :meth:`pairs`): the
        forward stack over ``xs[0]`` and the backward one over ``xs[1]`` (B, T, D), the input
        already reversed within ``lengths``, from ``states[d]`` per layer.  Per direction
        each layer's output (B, T, D), as its stack's :meth:`RecurrentStack.run` gives it,
        and final state.  ``weights``: each layer's :func:`~elmo.nn.step_loop.pair_weights`
        made earlier (:mod:`elmo.inference.streaming` runs a few steps at a time)."""
        outputs: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])
        finals: tuple[list[State], list[State]] = ([], [])
        residual = self.forward_stack.residual
        for k, (forward, backward) in enumerate(self.layer_pairs()):
            ran, final = run_pair(
                (forward.cell, backward.cell),
                xs,
                lengths,
                (states[0][k], states[1][k]),
                None if weights is None else weights[k],
            )
            outs = (forward.project(ran[0]), backward.project(ran[1]))
            if k > 0 and residual:
                outs = (outs[0] + xs[0], outs[1] + xs[1])
            for d in range(2):
                outputs[d].append(outs[d])
                finals[d].append(final[d])
            xs = outs
        return outputs, finals

    def _initial(self, name: str, stack: RecurrentStack, x: torch.Tensor) -> list[State] | None:
        if not self.stateful or name not in self._saved:
            return None
        batch = x.shape[0]
        fresh = stack.initial_states(batch, x)
        states = []
        for saved, zero in zip(self._saved[name], fresh, strict=True):
            rows = min(batch, saved[0].shape[0])
            states.append(
                tuple(
                    torch.cat([s[:rows].to(z), z[rows:]]) for s, z in zip(saved, zero, strict=True)
                )
            )
        return states

    def _save(self, name: str, finals: list[State]) -> None:
        finals = [tuple(s.detach() for s in state) for state in finals]
        previous = self._saved.get(name)
        if previous is not None:
            # rows beyond this batch keep what they had (a smaller batch updates only its rows)
            merged = []
            for old, new in zip(previous, finals, strict=True):
                rows = new[0].shape[0]
                merged.append(
                    tuple(torch.cat([n, o[rows:].to(n)]) for n, o in zip(new, old, strict=True))
                )
            finals = merged
        self._saved[name] = finals
