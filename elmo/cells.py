"""Recurrent cells: the step equations of each cell type, and the fused kernel where one exists.

Every cell runs one direction over ``(B, T, Din)``; :mod:`elmo.recurrent` reverses sequences for
the backward stack.  Two ways to run a cell, equal up to float rounding:

- ``loop``: the input projections of all steps in one matmul, then per step one matmul by the
  recurrent weights plus pointwise math.  Needed for clipping and peepholes.
- ``fused``: PyTorch's ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (cuDNN on GPU, oneDNN on CPU) over a
  packed batch, used whenever the cell's equations are exactly what that kernel computes.

Rows whose sequence has ended keep their state and output exact zeros, so a sentence's result
never depends on the other rows of the batch.  Gate order follows PyTorch: LSTM (i, f, g, o),
GRU (r, z, n).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from elmo.config import RecurrentConfig
from elmo.fused_rnn import run_packed

__all__ = ["Cell", "build_cell"]

State = tuple[torch.Tensor, ...]


class Cell(nn.Module):
    """One layer, one direction.  ``state`` is ``(h,)`` or ``(h, c)``; outputs are ``h``."""

    state_sizes: tuple[int, ...]
    output_size: int

    def can_fuse(self) -> bool:
        return False

    def initial_state(self, batch: int, like: torch.Tensor) -> State:
        return tuple(like.new_zeros(batch, size) for size in self.state_sizes)

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def recurrent_weight(self) -> torch.Tensor:
        """The recurrent matrix ``(G, D)``; the loop multiplies by its transpose."""
        raise NotImplementedError

    def loop_bias(self) -> torch.Tensor:
        """The bias added at each step of the loop, ``(G,)``.  It is kept out of the
        all-steps input product, where broadcasting it would cost a pass over (B, T, G)."""
        raise NotImplementedError

    def step(self, xp: torch.Tensor, hp: torch.Tensor, state: State) -> State:
        """One time step from the projected input ``xp`` (B, G) and the recurrent product
        ``hp = h @ W_hh^T + loop_bias`` (B, G): the new state (its output is state[0])."""
        raise NotImplementedError

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        state: State,
        use_fused: bool = True,
        device_lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        # x: (B, T, Din); lengths: (B,) int64 on CPU, each >= 1; device_lengths: the same on x's
        # device (given by callers that already moved it without a host sync)
        if use_fused and self.can_fuse():
            return self.fused(x, lengths, state)
        if device_lengths is None:
            device_lengths = lengths.to(x.device)
        return self.loop(x, lengths, device_lengths, state)

    def loop(
        self, x: torch.Tensor, lengths: torch.Tensor, device_lengths: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, State]:
        batch, steps = x.shape[0], x.shape[1]
        xp = self.project_inputs(x)  # (B, T, G): all input projections in one matmul
        # A (D, G) row-major copy: on CPU, h @ W^T runs 1.5-2.5x faster from it than from a
        # transposed view.  Under autocast it is cast once here rather than at every step.
        w_hh_t = self.recurrent_weight().t().contiguous()
        bias = self.loop_bias()
        if torch.is_autocast_enabled(x.device.type):
            dtype = torch.get_autocast_dtype(x.device.type)
            w_hh_t, bias = w_hh_t.to(dtype), bias.to(dtype)
        active_rows = [int((lengths > t).sum()) for t in range(steps)]
        active = (
            device_lengths.unsqueeze(0) > torch.arange(steps, device=x.device)[:, None]
        )  # (T, B)
        outputs = []
        for t in range(steps):
            new_state = self.step(xp[:, t], torch.addmm(bias, state[0], w_hh_t), state)
            if active_rows[t] < batch:
                keep = active[t].unsqueeze(-1)  # (B, 1)
                new_state = tuple(
                    torch.where(keep, n, o) for n, o in zip(new_state, state, strict=True)
                )
                outputs.append(torch.where(keep, new_state[0], 0.0))
            else:
                outputs.append(new_state[0])
            state = new_state
        out = torch.stack(outputs, dim=1) if outputs else x.new_zeros(batch, 0, self.output_size)
        return out, state  # (B, T, D)

    def fused(
        self, x: torch.Tensor, lengths: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, State]:
        raise NotImplementedError


def _uniform_(params: list[nn.Parameter], hidden_size: int) -> None:
    bound = 1.0 / math.sqrt(hidden_size)
    for p in params:
        nn.init.uniform_(p, -bound, bound)


def _clip(x: torch.Tensor, limit: float | None) -> torch.Tensor:
    return x if limit is None else x.clamp(-limit, limit)


def _lstm_output(
    o: torch.Tensor, c: torch.Tensor, weight_hr: torch.Tensor | None, proj_clip: float | None
) -> torch.Tensor:
    """``h = o * tanh(c)`` (B, H), projected to (B, D) and clipped when the cell projects."""
    h = o * torch.tanh(c)
    if weight_hr is None:
        return h
    return _clip(torch.nn.functional.linear(h, weight_hr), proj_clip)


class LSTMPCell(Cell):
    """ELMo's LSTM with projection: memory cell clipped to ±cell_clip, projection to ±proj_clip.

    Parameters live in an ``nn.LSTM`` so that the fused kernel can run them whenever no clipping
    is configured; its two biases add up (converted weights use ``bias_ih`` only).
    """

    def __init__(self, input_size: int, config: RecurrentConfig) -> None:
        super().__init__()
        hidden, proj = config.hidden_size, config.projection_size
        self.rnn = nn.LSTM(
            input_size, hidden, batch_first=True, proj_size=proj if proj < hidden else 0
        )
        self.cell_clip, self.proj_clip = config.cell_clip, config.proj_clip
        self.state_sizes = (proj, hidden)
        self.output_size = proj
        with torch.no_grad():  # forget gate open at the start (Jozefowicz et al. 2015)
            self.rnn.bias_ih_l0[hidden : 2 * hidden].fill_(1.0)
            self.rnn.bias_hh_l0[hidden : 2 * hidden].zero_()

    def can_fuse(self) -> bool:
        return self.cell_clip is None and self.proj_clip is None

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.rnn.weight_ih_l0)  # (B, T, 4H)

    def recurrent_weight(self) -> torch.Tensor:
        return self.rnn.weight_hh_l0

    def loop_bias(self) -> torch.Tensor:
        return self.rnn.bias_ih_l0 + self.rnn.bias_hh_l0

    def step(self, xp: torch.Tensor, hp: torch.Tensor, state: State) -> State:
        c = state[1]  # (B, H)
        i, f, g, o = (xp + hp).chunk(4, dim=1)  # (B, H) each
        c = _clip(torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g), self.cell_clip)
        weight_hr = self.rnn.weight_hr_l0 if self.rnn.proj_size else None
        return _lstm_output(torch.sigmoid(o), c, weight_hr, self.proj_clip), c

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

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.weight_ih)  # (B, T, G)

    def recurrent_weight(self) -> torch.Tensor:
        return self.weight_hh

    def loop_bias(self) -> torch.Tensor:
        return self.bias


class PeepholeLSTMCell(OwnWeightsLSTM):
    """LSTM whose gates also read the memory cell (Gers & Schmidhuber 2000; TF ``use_peepholes``).

    Input and forget gates read ``c_{t-1}``, the output gate reads ``c_t``.
    """

    def __init__(self, input_size: int, config: RecurrentConfig) -> None:
        super().__init__(input_size, config)
        # rows: input, forget, output peephole weights (diagonal, one per memory cell)
        self.peephole = nn.Parameter(torch.empty(3, config.hidden_size))
        _uniform_([self.peephole], config.hidden_size)

    def step(self, xp: torch.Tensor, hp: torch.Tensor, state: State) -> State:
        c = state[1]
        i, f, g, o = (xp + hp).chunk(4, dim=1)  # (B, H) each
        w_i, w_f, w_o = self.peephole
        c = torch.sigmoid(f + w_f * c) * c + torch.sigmoid(i + w_i * c) * torch.tanh(g)
        c = _clip(c, self.cell_clip)
        return _lstm_output(torch.sigmoid(o + w_o * c), c, self.weight_hr, self.proj_clip), c


class CIFGCell(OwnWeightsLSTM):
    """Coupled input-forget gate LSTM (Greff et al. 2017): input gate = 1 - forget gate."""

    n_gates = 3

    def step(self, xp: torch.Tensor, hp: torch.Tensor, state: State) -> State:
        c = state[1]
        f, g, o = (xp + hp).chunk(3, dim=1)  # (B, H) each
        forget = torch.sigmoid(f)
        c = _clip(forget * c + (1 - forget) * torch.tanh(g), self.cell_clip)
        return _lstm_output(torch.sigmoid(o), c, self.weight_hr, self.proj_clip), c


class FusedCell(Cell):
    """GRU or Elman RNN, stored in the matching PyTorch module; H-dim state, no projection."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn
        self.state_sizes = (rnn.hidden_size,)
        self.output_size = rnn.hidden_size

    def can_fuse(self) -> bool:
        return True

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.rnn.weight_ih_l0, self.rnn.bias_ih_l0)

    def recurrent_weight(self) -> torch.Tensor:
        return self.rnn.weight_hh_l0

    def loop_bias(self) -> torch.Tensor:
        return self.rnn.bias_hh_l0  # GRU: must stay with h (the reset gate multiplies it)

    def fused(self, x: torch.Tensor, lengths: torch.Tensor, state: State):
        out, h_n = run_packed(self.rnn, x, lengths, state[0].unsqueeze(0))
        return out, (h_n[0],)


class GRUCell(FusedCell):
    """Gated recurrent unit (Cho et al. 2014), PyTorch's formulation (reset gate inside ``n``)."""

    def step(self, xp: torch.Tensor, hp: torch.Tensor, state: State) -> State:
        (h,) = state
        x_r, x_z, x_n = xp.chunk(3, dim=1)
        h_r, h_z, h_n = hp.chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return ((1 - z) * n + z * h,)


class ElmanCell(FusedCell):
    """Simple recurrent network (Elman 1990): ``h_t = tanh(W x_t + U h_{t-1} + b)``."""

    def step(self, xp: torch.Tensor, hp: torch.Tensor, state: State) -> State:
        return (torch.tanh(xp + hp),)


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
