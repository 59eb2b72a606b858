"""Recurrent cells: the step equations of each cell type, and the fused kernel where one exists.

Every cell runs one direction over ``(B, T, Din)``; :mod:`elmo.nn.recurrent` reverses sequences for
the backward stack.  Two ways to run a cell, equal up to float rounding:

- ``loop``: input projections a block of steps at a time, then per step one matmul by the
  recurrent weights plus pointwise math.  Needed for clipping and peepholes, and used for
  feature extraction on a CPU (see :func:`_loop_is_better`), where its products run in
  row tiles of checked sizes and its gate functions in whole SIMD blocks (:mod:`elmo.nn.tiles`).
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
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from elmo.config import RecurrentConfig
from elmo.nn.fused_rnn import run_packed
from elmo.nn.tiles import (
    addmm,
    addmm_,
    exact,
    row_major,
    sigmoid,
    split,
    step_matmul,
    step_tiles,
    tanh,
)

__all__ = ["Cell", "LSTMPCell", "build_cell", "host_to_device", "rnn_parameter"]

State = tuple[torch.Tensor, ...]
LoopWeights = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # (Din, G), (D, G), (H, D)

# Rows x steps of input projections made at once by the loop on a CPU: a (256, G) block stays in
# cache until its steps read it, which ran the default model's projections 2x faster than one
# product over every step (whose output is tens of MB).  A GPU makes them all in one product.
_CPU_INPUT_BLOCK_ROWS = 256


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
        """Step by step over rows sorted longest first, so that step ``t`` multiplies only the
        rows still running (a prefix), as a packed sequence would.  On a CPU without gradients
        every product runs in row tiles of checked sizes and the gates' functions in whole SIMD
        blocks (:mod:`elmo.nn.tiles`), so a row gets the same bits in any batch.  ``weights``:
        :meth:`loop_weights` made earlier, for a caller that runs a few steps at a time with
        weights it knows to be unchanged (:mod:`elmo.inference.streaming`)."""
        batch, steps = x.shape[0], x.shape[1]
        order = None
        if batch > 1 and bool((lengths[1:] > lengths[:-1]).any()):
            order = torch.argsort(lengths, descending=True, stable=True)  # (B,) on CPU
            on_device = host_to_device(order, x.device)
            x, lengths = x[on_device], lengths[order]
            state = tuple(s[on_device] for s in state)
        w_ih_t, w_hh_t, w_hr_t = weights or self.loop_weights()  # (Din, G), (D, G), (H, D)
        b_ih = self.input_bias()  # (G,)
        bias = None if self.additive else self.recurrent_bias()
        if torch.is_autocast_enabled(x.device.type):
            dtype = torch.get_autocast_dtype(x.device.type)
            x, w_ih_t, b_ih = x.to(dtype), w_ih_t.to(dtype), b_ih.to(dtype)
            w_hh_t = w_hh_t.to(dtype)
            w_hr_t = None if w_hr_t is None else w_hr_t.to(dtype)
            bias = None if bias is None else bias.to(dtype)
        running = [int(n) for n in (lengths.unsqueeze(0) > torch.arange(steps)[:, None]).sum(1)]
        running = [n for n in running if n > 0]  # rows that run step t, non-increasing
        grad = torch.is_grad_enabled()
        tiled = exact(x)
        tiles = step_tiles(w_hh_t) if tiled else None  # None: the steps multiply plainly
        block_rows = _CPU_INPUT_BLOCK_ROWS if x.device.type == "cpu" else None

        # On the tiled path every step runs whole tiles: rows past the running ones (zero
        # inputs at first, their states never read) fill the last tile, so that no product
        # pads anew.  ``padded(n)``: the rows a step of ``n`` running rows computes.
        covered = {n: n if tiles is None else sum(split(tiles, n)) for n in set(running) | {batch}}

        def padded(n: int) -> int:
            return covered[n]

        if padded(batch) > batch:
            extra = padded(batch) - batch
            state = tuple(torch.cat([s, s.new_zeros(extra, s.shape[1])]) for s in state)
        outputs = []  # per step (n_t, D)
        finished: list[State] = []  # final states of rows that ended, the last rows first
        live = batch  # rows of ``state`` that are still running
        xp, first, end = x, 0, 0  # the input products of steps first .. end - 1
        whole: torch.Tensor | None = None
        for t, n in enumerate(running):
            if n < live:
                finished.append(tuple(s[n:live] for s in state))
                state = tuple(_rows(s, padded(n)) for s in state)
                live = n
            if t == end:  # the next block of steps
                span = steps if block_rows is None else max(1, block_rows // n)
                first, end = t, t + span
                block = x[:n, first:end].transpose(0, 1)  # (<= span, n, Din)
                flat = block.reshape(-1, block.shape[-1])
                xp = addmm(b_ih, flat, w_ih_t) if tiled else torch.addmm(b_ih, flat, w_ih_t)
                xp = xp.view(block.shape[0], n, -1)  # (<= span, n, G)
                whole = None  # a step's rows and those that fill its last tile, reused
            # Time-major, so that a step's rows are one contiguous (n, G) piece: read from
            # a (n, span, G) block they lie a power of two apart and thrash the cache.
            x_t = xp[t - first, :n]  # (n, G)
            if padded(n) > n:
                if whole is None or whole.shape[0] < padded(n):
                    whole = xp.new_zeros(padded(n), xp.shape[2])
                whole[:n] = x_t
                x_t = whole[: padded(n)]
            h = state[0]  # (n or its tiles' rows, D)
            if bias is not None:
                hp = (
                    torch.addmm(bias, h, w_hh_t) if tiles is None else addmm(bias, h, w_hh_t, tiles)
                )
                state = self.step(x_t, hp, state, w_hr_t)
            elif grad:
                state = self.step(torch.addmm(x_t, h, w_hh_t), None, state, w_hr_t)
            else:  # accumulate into the block: its step t is not read again
                pre = x_t.addmm_(h, w_hh_t) if tiles is None else addmm_(x_t, h, w_hh_t, tiles)
                state = self.step(pre, None, state, w_hr_t)
            outputs.append(state[0] if padded(n) == n else state[0][:n])
        finished.append(tuple(s[:live] for s in state))
        final = tuple(torch.cat(parts) for parts in zip(*reversed(finished), strict=True))
        if outputs:
            sizes = torch.tensor(running, dtype=torch.int64)
            packed = PackedSequence(torch.cat(outputs), sizes)
            out, _ = pad_packed_sequence(packed, batch_first=True, total_length=steps)
        else:
            out = x.new_zeros(batch, steps, self.output_size)
        if order is not None:
            inverse = host_to_device(torch.argsort(order), x.device)
            out, final = out[inverse], tuple(s[inverse] for s in final)
        return out, final  # (B, T, D)

    def fused(
        self, x: torch.Tensor, lengths: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def loop_weights(self) -> LoopWeights:
        """Row-major copies of the transposed input, recurrent and projection matrices.

        On a CPU, ``h @ W^T`` from a transposed view takes MKL's slow path (1.5x for the
        ``(D, G)`` recurrent matrix, 4-6x for a ``(H, D)`` projection at 16-32 rows).
        """
        w_hr = self.projection_weight()
        return (
            row_major(self.input_weight()),
            row_major(self.recurrent_weight()),
            None if w_hr is None else row_major(w_hr),
        )


def _rows(state: torch.Tensor, rows: int) -> torch.Tensor:
    """The first ``rows`` rows of ``state (R, D)``, zero rows added past ``R`` (a step of fewer
    running rows may still cover more with its tiles)."""
    if rows <= state.shape[0]:
        return state[:rows]
    return torch.cat([state, state.new_zeros(rows - state.shape[0], state.shape[1])])


def host_to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor (an index, lengths) on ``device``, without making the host wait for a
    GPU's queue."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


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
        i, f, g, o = xp.chunk(4, dim=1)  # (B, H) each
        if exact(xp):  # one call for the three gates: an element's bits do not change
            i, f, _, o = sigmoid(xp).chunk(4, dim=1)
        else:
            i, f, o = sigmoid(i), sigmoid(f), sigmoid(o)
        c = _clip(f * c + i * tanh(g), self.cell_clip)
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

    def step(
        self,
        xp: torch.Tensor,
        hp: torch.Tensor | None,
        state: State,
        w_hr_t: torch.Tensor | None,
    ) -> State:
        c = state[1]
        f, g, o = xp.chunk(3, dim=1)  # (B, H) each
        forget = sigmoid(f)
        c = _clip(forget * c + (1 - forget) * tanh(g), self.cell_clip)
        return _lstm_output(sigmoid(o), c, w_hr_t, self.proj_clip), c


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

    def step(
        self,
        xp: torch.Tensor,
        hp: torch.Tensor | None,
        state: State,
        w_hr_t: torch.Tensor | None,
    ) -> State:
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
