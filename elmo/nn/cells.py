"""Recurrent cells: the step equations of each cell type, and the fused kernel where one exists.

Every cell runs one direction over ``(B, T, Din)``; :mod:`elmo.nn.recurrent` reverses sequences for
the backward stack.  Two ways to run a cell, equal up to float rounding:

- ``loop``: the step loop (:mod:`elmo.nn.step_loop`) calls the cell's :meth:`Cell.step` once a
  time step.  Needed for clipping and peepholes, and used for feature extraction on a CPU (see
  :func:`_loop_is_better`), where its products run in row tiles of checked sizes and its gate
  functions in whole SIMD blocks (:mod:`elmo.nn.tiles`).
- ``fused``: PyTorch's ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (cuDNN on GPU, oneDNN on CPU) over a
  packed batch, used whenever the cell's equations are exactly what that kernel computes.

Rows whose sequence has ended keep their state and output exact zeros, so a sentence's result
never depends on the other rows of the batch.  Gate order follows PyTorch: LSTM (i, f, g, o),
GRU (r, z, n).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from elmo.config import RecurrentConfig
from elmo.nn.fused_rnn import run_packed
from elmo.nn.step_loop import run_loop
from elmo.nn.tiles import (
    exact,
    row_major,
    sigmoid,
    step_matmul,
    tanh,
    tanh_from_sigmoid,
)

__all__ = ["Cell", "LSTMPCell", "LoopWeights", "State", "build_cell", "rnn_parameter"]

State = tuple[torch.Tensor, ...]


class LoopWeights(NamedTuple):
    """The matrices the step loop multiplies by, row-major: ``(Din, G)``, ``(D, G)``, the
    projection ``(H, D)`` or None; ``doubled``: the gate columns doubled in the first two
    (:attr:`Cell.tanh_gates`, on the batch-invariant path), None when none are."""

    input: torch.Tensor
    recurrent: torch.Tensor
    projection: torch.Tensor | None
    doubled: tuple[int, int] | None = None


def rnn_parameter(rnn: nn.RNNBase, name: str) -> torch.Tensor:
    """A parameter that a PyTorch RNN module creates by name (``weight_ih_l0``, ...)."""
    value = getattr(rnn, name)
    assert isinstance(value, torch.Tensor)
    return value


class Cell(nn.Module):
    """One layer, one direction.  ``state`` is ``(h,)`` or ``(h, c)``; outputs are ``h``.

    ``additive`` cells use the input and recurrent products only through their sum (LSTMs,
    Elman): the loop then adds the input product inside the recurrent one
    (``addmm(xp, h, W_hh^T)``) and passes ``hp=None`` to :meth:`step`.  A GRU needs them apart.
    """

    state_sizes: tuple[int, ...]
    output_size: int
    additive = True
    # Columns of the pre-activation (G) whose tanh the step takes.  On the batch-invariant
    # path the loop doubles their weights and bias (loop_weights(exact=True)), so that one
    # sigmoid call over the whole pre-activation also gives sigmoid(2x) for tanh(x) =
    # 2 sigmoid(2x) - 1 (tiles.tanh, with the same bits).  None: the step takes none that way.
    tanh_gates: tuple[int, int] | None = None
    # Whether a layer's forward and backward cells may step together (elmo.nn.step_loop.
    # run_pair): the step reads no parameter of its own besides the loop's matrices and works
    # on states with a leading direction dimension, (2, rows, ...).
    pairable = False

    def can_fuse(self) -> bool:
        return False

    def initial_state(self, batch: int, like: torch.Tensor) -> State:
        return tuple(like.new_zeros(batch, size) for size in self.state_sizes)

    def input_weight(self) -> torch.Tensor:
        """The input matrix ``(G, Din)``."""
        raise NotImplementedError

    def input_bias(self) -> torch.Tensor:
        """The bias of the input product ``(G,)``: every bias of an additive cell."""
        raise NotImplementedError

    def recurrent_weight(self) -> torch.Tensor:
        """The recurrent matrix ``(G, D)``; the loop multiplies by its transpose."""
        raise NotImplementedError

    def recurrent_bias(self) -> torch.Tensor:
        """The bias added to ``h @ W_hh^T`` of a cell that is not additive, ``(G,)``."""
        raise NotImplementedError

    def projection_weight(self) -> torch.Tensor | None:
        """The output projection ``(D, H)`` of a projecting cell, else None."""
        return None

    def step(
        self,
        xp: torch.Tensor,
        hp: torch.Tensor | None,
        state: State,
        w_hr_t: torch.Tensor | None,
    ) -> State:
        """One time step: the new state (its output is state[0]).  For an additive cell ``xp``
        (B, G) is the whole pre-activation ``x W_ih^T + h W_hh^T + b`` and ``hp`` is None;
        otherwise ``xp`` is the input product and ``hp = h W_hh^T + recurrent_bias``.
        ``w_hr_t`` is the projection's transpose ``(H, D)`` as a row-major copy, or None."""
        raise NotImplementedError

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        state: State,
        use_fused: bool = True,
    ) -> tuple[torch.Tensor, State]:
        # x: (B, T, Din); lengths: (B,) int64 on CPU, each >= 1
        if use_fused and self.can_fuse() and not _loop_is_better(x):
            return self.fused(x, lengths, state)
        return self.loop(x, lengths, state)

    def loop(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        state: State,
        weights: LoopWeights | None = None,
    ) -> tuple[torch.Tensor, State]:
        """This cell through the step loop (:func:`elmo.nn.step_loop.run_loop`)."""
        return run_loop(self, x, lengths, state, weights)

    def fused(
        self, x: torch.Tensor, lengths: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def loop_weights(self, exact: bool = False) -> LoopWeights:
        """Row-major copies of the transposed input, recurrent and projection matrices.

        On a CPU, ``h @ W^T`` from a transposed view takes MKL's slow path (1.5x for the
        ``(D, G)`` recurrent matrix, 4-6x for a ``(H, D)`` projection at 16-32 rows).
        ``exact``: for the batch-invariant path, with the :attr:`tanh_gates` columns doubled.
        """
        w_hr = self.projection_weight()
        doubled = self.tanh_gates if exact else None
        return LoopWeights(
            row_major(self.input_weight(), doubled),
            row_major(self.recurrent_weight(), doubled),
            None if w_hr is None else row_major(w_hr),
            doubled,
        )


def _loop_is_better(x: torch.Tensor) -> bool:
    """On a CPU without gradients (feature extraction) the loop runs instead of PyTorch's
    kernel: it gives every sentence the same vectors whatever its batch (:mod:`elmo.nn.tiles`),
    while the kernel's products change with the number of rows still running at each step."""
    return exact(x)


def _uniform_(params: list[nn.Parameter], hidden_size: int) -> None:
    bound = 1.0 / math.sqrt(hidden_size)
    for p in params:
        nn.init.uniform_(p, -bound, bound)


def _clip(x: torch.Tensor, limit: float | None) -> torch.Tensor:
    return x if limit is None else x.clamp(-limit, limit)


def _lstm_output(
    o: torch.Tensor, c: torch.Tensor, w_hr_t: torch.Tensor | None, proj_clip: float | None
) -> torch.Tensor:
    """``h = o * tanh(c)`` (B, H), projected to (B, D) and clipped when the cell projects."""
    h = o * tanh(c)
    if w_hr_t is None:
        return h
    return _clip(step_matmul(h, w_hr_t), proj_clip)  # (B, H) @ (H, D)


class LSTMPCell(Cell):
    """ELMo's LSTM with projection: memory cell clipped to ±cell_clip, projection to ±proj_clip.

    Parameters live in an ``nn.LSTM`` so that the fused kernel can run them whenever no clipping
    is configured; its two biases add up (converted weights use ``bias_ih`` only).
    """

    pairable = True

    def __init__(self, input_size: int, config: RecurrentConfig) -> None:
        super().__init__()
        hidden, proj = config.hidden_size, config.projection_size
        self.rnn = nn.LSTM(
            input_size, hidden, batch_first=True, proj_size=proj if proj < hidden else 0
        )
        self.cell_clip, self.proj_clip = config.cell_clip, config.proj_clip
        self.state_sizes = (proj, hidden)
        self.output_size = proj
        self.tanh_gates = (2 * hidden, 3 * hidden)  # g
        with torch.no_grad():  # forget gate open at the start (Jozefowicz et al. 2015)
            rnn_parameter(self.rnn, "bias_ih_l0")[hidden : 2 * hidden].fill_(1.0)
            rnn_parameter(self.rnn, "bias_hh_l0")[hidden : 2 * hidden].zero_()

    def can_fuse(self) -> bool:
        return self.cell_clip is None and self.proj_clip is None

    def input_weight(self) -> torch.Tensor:
        return rnn_parameter(self.rnn, "weight_ih_l0")

    def input_bias(self) -> torch.Tensor:
        return rnn_parameter(self.rnn, "bias_ih_l0") + rnn_parameter(self.rnn, "bias_hh_l0")

    def recurrent_weight(self) -> torch.Tensor:
        return rnn_parameter(self.rnn, "weight_hh_l0")

    def projection_weight(self) -> torch.Tensor | None:
        return rnn_parameter(self.rnn, "weight_hr_l0") if self.rnn.proj_size else None

    def step(
        self,
        xp: torch.Tensor,
        hp: torch.Tensor | None,
        state: State,
        w_hr_t: torch.Tensor | None,
    ) -> State:
        c = state[1]  # (B, H)
        if exact(xp):  # g doubled (tanh_gates): one sigmoid call for all four
            i, f, g, o = sigmoid(xp).chunk(4, dim=-1)  # (B, H) each, (2, B, H) paired
            g = tanh_from_sigmoid(g)
        else:
            i, f, g, o = xp.chunk(4, dim=-1)
            i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        c = _clip(f * c + i * g, self.cell_clip)
        return _lstm_output(o, c, w_hr_t, self.proj_clip), c

    def fused(self, x: torch.Tensor, lengths: torch.Tensor, state: State):
        h, c = state
        out, (h_n, c_n) = run_packed(self.rnn, x, lengths, (h.unsqueeze(0), c.unsqueeze(0)))
        return out, (h_n[0], c_n[0])


class OwnWeightsLSTM(Cell):
    """Base of the LSTM variants that no fused kernel computes (peephole, CIFG)."""

    n_gates = 4

    def __init__(self, input_size: int, config: RecurrentConfig) -> None:
        super().__init__()
        hidden, proj = config.hidden_size, config.projection_size
        gates = self.n_gates * hidden
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates, proj))
        self.bias = nn.Parameter(torch.empty(gates))
        self.weight_hr = nn.Parameter(torch.empty(proj, hidden)) if proj < hidden else None
        self.cell_clip, self.proj_clip = config.cell_clip, config.proj_clip
        self.state_sizes = (proj, hidden)
        self.output_size = proj
        _uniform_(list(self.parameters()), hidden)
        with torch.no_grad():  # forget gate open at the start; CIFG has it first, LSTM second
            forget = 0 if self.n_gates == 3 else 1
            self.bias[forget * hidden : (forget + 1) * hidden].fill_(1.0)

    def input_weight(self) -> torch.Tensor:
        return self.weight_ih

    def input_bias(self) -> torch.Tensor:
        return self.bias

    def recurrent_weight(self) -> torch.Tensor:
        return self.weight_hh

    def projection_weight(self) -> torch.Tensor | None:
        return self.weight_hr


class PeepholeLSTMCell(OwnWeightsLSTM):
    """LSTM whose gates also read the memory cell (Gers & Schmidhuber 2000; TF ``use_peepholes``).

    Input and forget gates read ``c_{t-1}``, the output gate reads ``c_t``.
    """

    def __init__(self, input_size: int, config: RecurrentConfig) -> None:
        super().__init__(input_size, config)
        # rows: input, forget, output peephole weights (diagonal, one per memory cell)
        self.peephole = nn.Parameter(torch.empty(3, config.hidden_size))
        _uniform_([self.peephole], config.hidden_size)

    def step(
        self,
        xp: torch.Tensor,
        hp: torch.Tensor | None,
        state: State,
        w_hr_t: torch.Tensor | None,
    ) -> State:
        c = state[1]
        i, f, g, o = xp.chunk(4, dim=1)  # (B, H) each
        w_i, w_f, w_o = self.peephole
        c = sigmoid(f + w_f * c) * c + sigmoid(i + w_i * c) * tanh(g)
        c = _clip(c, self.cell_clip)
        return _lstm_output(sigmoid(o + w_o * c), c, w_hr_t, self.proj_clip), c


class CIFGCell(OwnWeightsLSTM):
    """Coupled input-forget gate LSTM (Greff et al. 2017): input gate = 1 - forget gate."""

    n_gates = 3
    pairable = True

    def __init__(self, input_size: int, config: RecurrentConfig) -> None:
        super().__init__(input_size, config)
        self.tanh_gates = (config.hidden_size, 2 * config.hidden_size)  # g, of (f, g, o)

    def step(
        self,
        xp: torch.Tensor,
        hp: torch.Tensor | None,
        state: State,
        w_hr_t: torch.Tensor | None,
    ) -> State:
        c = state[1]
        if exact(xp):  # g doubled (tanh_gates): one sigmoid call for the three
            forget, g, o = sigmoid(xp).chunk(3, dim=-1)  # (B, H) each, (2, B, H) paired
            g = tanh_from_sigmoid(g)
        else:
            f, g, o = xp.chunk(3, dim=-1)
            forget, g, o = sigmoid(f), tanh(g), sigmoid(o)
        c = _clip(forget * c + (1 - forget) * g, self.cell_clip)
        return _lstm_output(o, c, w_hr_t, self.proj_clip), c


class FusedCell(Cell):
    """GRU or Elman RNN, stored in the matching PyTorch module; H-dim state, no projection."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn
        self.state_sizes = (rnn.hidden_size,)
        self.output_size = rnn.hidden_size

    def can_fuse(self) -> bool:
        return True

    def input_weight(self) -> torch.Tensor:
        return rnn_parameter(self.rnn, "weight_ih_l0")

    def input_bias(self) -> torch.Tensor:
        if self.additive:
            return rnn_parameter(self.rnn, "bias_ih_l0") + rnn_parameter(self.rnn, "bias_hh_l0")
        return rnn_parameter(self.rnn, "bias_ih_l0")

    def recurrent_weight(self) -> torch.Tensor:
        return rnn_parameter(self.rnn, "weight_hh_l0")

    def recurrent_bias(self) -> torch.Tensor:
        return rnn_parameter(
            self.rnn, "bias_hh_l0"
        )  # GRU: must stay with h (the reset gate multiplies it)

    def fused(self, x: torch.Tensor, lengths: torch.Tensor, state: State):
        out, h_n = run_packed(self.rnn, x, lengths, state[0].unsqueeze(0))
        return out, (h_n[0],)


class GRUCell(FusedCell):
    """Gated recurrent unit (Cho et al. 2014), PyTorch's formulation (reset gate inside ``n``)."""

    additive = False

    def step(
        self,
        xp: torch.Tensor,
        hp: torch.Tensor | None,
        state: State,
        w_hr_t: torch.Tensor | None,
    ) -> State:
        assert hp is not None
        (h,) = state
        x_r, x_z, x_n = xp.chunk(3, dim=1)
        h_r, h_z, h_n = hp.chunk(3, dim=1)
        r = sigmoid(x_r + h_r)
        z = sigmoid(x_z + h_z)
        n = tanh(x_n + r * h_n)
        return ((1 - z) * n + z * h,)


class ElmanCell(FusedCell):
    """Simple recurrent network (Elman 1990): ``h_t = tanh(W x_t + U h_{t-1} + b)``."""

    pairable = True

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__(rnn)
        self.tanh_gates = (0, rnn.hidden_size)

    def step(
        self,
        xp: torch.Tensor,
        hp: torch.Tensor | None,
        state: State,
        w_hr_t: torch.Tensor | None,
    ) -> State:
        if exact(xp):  # the whole pre-activation doubled (tanh_gates)
            return (tanh_from_sigmoid(sigmoid(xp)),)
        return (tanh(xp),)


def build_cell(input_size: int, config: RecurrentConfig) -> Cell:
    """The cell of ``config.cell`` reading ``input_size`` features."""
    if config.cell == "lstm":
        return LSTMPCell(input_size, config)
    if config.cell == "lstm_peephole":
        return PeepholeLSTMCell(input_size, config)
    if config.cell == "cifg":
        return CIFGCell(input_size, config)
    if config.cell == "gru":
        return GRUCell(nn.GRU(input_size, config.hidden_size, batch_first=True))
    return ElmanCell(nn.RNN(input_size, config.hidden_size, batch_first=True))
