"""The step loop: how any cell runs over a batch one time step at a time.

A cell (:mod:`elmo.nn.cells`) says what one step computes; this module runs the steps.  Input
projections are made a block of steps at a time, then each step multiplies the running rows'
state by the recurrent weights and applies the cell's equations.  Rows are sorted longest
first, so that step ``t`` multiplies only the rows still running (a prefix), as a packed
sequence would; a row that has ended keeps its final state and outputs exact zeros.

On a CPU without gradients every product runs in row tiles of checked sizes and the gates'
functions in whole SIMD blocks (:mod:`elmo.nn.tiles`), so that a row gets the same bits in
any batch.  The tiles are the one place that rule lives: a step of ``n`` running rows computes
the rows its tiles cover (:func:`_cover`), the rows past ``n`` are zeros whose results are
never read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from elmo.nn.tiles import Tiles, addmm, addmm_, double_columns, exact, split, step_tiles

if TYPE_CHECKING:
    from elmo.nn.cells import Cell, LoopWeights, State

__all__ = ["host_to_device", "run_loop"]

# Rows x steps of input projections made at once on a CPU: a (256, G) block stays in cache
# until its steps read it, which ran the default model's projections 2x faster than one
# product over every step (whose output is tens of MB).  A GPU makes them all in one product.
_CPU_INPUT_BLOCK_ROWS = 256


def host_to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor (an index, lengths) on ``device``, without making the host wait for a
    GPU's queue."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def run_loop(
    cell: Cell,
    x: torch.Tensor,
    lengths: torch.Tensor,
    state: State,
    weights: LoopWeights | None = None,
) -> tuple[torch.Tensor, State]:
    """``cell`` over ``x`` (B, T, Din) with per-row ``lengths`` (CPU) from ``state``: the
    outputs (B, T, D) and each row's state at its last step.  ``weights``:
    :meth:`~elmo.nn.cells.Cell.loop_weights` made earlier, for a caller that runs a few steps
    at a time with weights it knows to be unchanged (:mod:`elmo.inference.streaming`)."""
    batch, steps = x.shape[0], x.shape[1]
    order = None
    if batch > 1 and bool((lengths[1:] > lengths[:-1]).any()):
        order = torch.argsort(lengths, descending=True, stable=True)  # (B,) on CPU
        on_device = host_to_device(order, x.device)
        x, lengths = x[on_device], lengths[order]
        state = tuple(s[on_device] for s in state)
    running = [int(n) for n in (lengths.unsqueeze(0) > torch.arange(steps)[:, None]).sum(1)]
    running = [n for n in running if n > 0]  # rows that run step t, non-increasing
    outputs, final = _steps(cell, x, running, state, weights)
    if outputs:
        sizes = torch.tensor(running, dtype=torch.int64)
        packed = PackedSequence(torch.cat(outputs), sizes)
        out, _ = pad_packed_sequence(packed, batch_first=True, total_length=steps)
    else:
        out = x.new_zeros(batch, steps, cell.output_size)
    if order is not None:
        inverse = host_to_device(torch.argsort(order), x.device)
        out, final = out[inverse], tuple(s[inverse] for s in final)
    return out, final  # (B, T, D)


def _steps(
    cell: Cell,
    x: torch.Tensor,
    running: list[int],
    state: State,
    weights: LoopWeights | None,
) -> tuple[list[torch.Tensor], State]:
    """Every step of rows sorted longest first (``running[t]`` rows run step t): each step's
    outputs ``(n_t, D)`` and the final states, in row order."""
    tiled = exact(x)  # products in row tiles (the input products, and the steps' unless large)
    w_ih_t, w_hh_t, w_hr_t, b_ih, bias = _weights(cell, x, weights, tiled)
    x = _in_autocast_dtype(x)
    batch, steps = x.shape[0], x.shape[1]
    tiles = step_tiles(w_hh_t) if tiled else None  # None: the steps multiply plainly
    padded = _cover(tiles, set(running) | {batch})
    block_rows = _CPU_INPUT_BLOCK_ROWS if x.device.type == "cpu" else None
    if padded(batch) > batch:
        extra = padded(batch) - batch
        state = tuple(torch.cat([s, s.new_zeros(extra, s.shape[1])]) for s in state)
    outputs = []  # per step (n_t, D)
    finished: list[State] = []  # final states of rows that ended, the last rows first
    live = batch  # rows of ``state`` that are still running
    xp, first, end = x, 0, 0  # the input products of steps first .. end - 1
    whole: torch.Tensor | None = None  # a step's rows and those that fill its last tile
    for t, n in enumerate(running):
        if n < live:
            finished.append(tuple(s[n:live] for s in state))
            state = tuple(_rows(s, padded(n)) for s in state)
            live = n
        if t == end:  # the next block of steps
            span = steps if block_rows is None else max(1, block_rows // n)
            first, end = t, t + span
            xp, whole = _input_products(x[:n, first:end], w_ih_t, b_ih, tiled), None
        # Time-major, so that a step's rows are one contiguous (n, G) piece: read from a
        # (n, span, G) block they lie a power of two apart and thrash the cache.
        x_t = xp[t - first, :n]  # (n, G)
        if padded(n) > n:
            if whole is None or whole.shape[0] < padded(n):
                whole = xp.new_zeros(padded(n), xp.shape[2])
            whole[:n] = x_t
            x_t = whole[: padded(n)]
        state = _step(cell, x_t, state, w_hh_t, w_hr_t, bias, tiles)
        outputs.append(state[0] if padded(n) == n else state[0][:n])
    finished.append(tuple(s[:live] for s in state))
    return outputs, tuple(torch.cat(parts) for parts in zip(*reversed(finished), strict=True))


def _step(
    cell: Cell,
    x_t: torch.Tensor,
    state: State,
    w_hh_t: torch.Tensor,
    w_hr_t: torch.Tensor | None,
    bias: torch.Tensor | None,
    tiles: Tiles | None,
) -> State:
    """One step from the input products ``x_t`` (rows, G): the recurrent product, then the
    cell's equations."""
    h = state[0]  # (rows, D)
    if bias is not None:  # not additive: the cell needs the recurrent product apart
        hp = torch.addmm(bias, h, w_hh_t) if tiles is None else addmm(bias, h, w_hh_t, tiles)
        return cell.step(x_t, hp, state, w_hr_t)
    if torch.is_grad_enabled():
        return cell.step(torch.addmm(x_t, h, w_hh_t), None, state, w_hr_t)
    # accumulate into the block: its step t is not read again
    pre = x_t.addmm_(h, w_hh_t) if tiles is None else addmm_(x_t, h, w_hh_t, tiles)
    return cell.step(pre, None, state, w_hr_t)


def _weights(
    cell: Cell, x: torch.Tensor, weights: LoopWeights | None, tiled: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
    """``(Din, G)``, ``(D, G)``, ``(H, D)`` or None, the input bias ``(G,)`` and the recurrent
    bias of a cell that is not additive, in autocast's dtype where it is on.  On the tiled
    path the cell's :attr:`~elmo.nn.cells.Cell.tanh_gates` come doubled (its step expects
    them so), elsewhere not: ``weights`` made for the other path are made again."""
    doubled = cell.tanh_gates if tiled else None
    if weights is None or weights.doubled != doubled:
        weights = cell.loop_weights(exact=tiled)
    w_ih_t, w_hh_t, w_hr_t, _ = weights
    b_ih = cell.input_bias()
    if doubled is not None:
        b_ih = double_columns(b_ih, doubled)
    bias = None if cell.additive else cell.recurrent_bias()
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
        w_ih_t, w_hh_t, b_ih = w_ih_t.to(dtype), w_hh_t.to(dtype), b_ih.to(dtype)
        w_hr_t = None if w_hr_t is None else w_hr_t.to(dtype)
        bias = None if bias is None else bias.to(dtype)
    return w_ih_t, w_hh_t, w_hr_t, b_ih, bias


def _in_autocast_dtype(x: torch.Tensor) -> torch.Tensor:
    if torch.is_autocast_enabled(x.device.type):
        return x.to(torch.get_autocast_dtype(x.device.type))
    return x


def _input_products(
    block: torch.Tensor, w_ih_t: torch.Tensor, b_ih: torch.Tensor, tiled: bool
) -> torch.Tensor:
    """``(n, span, Din)`` → the input products ``(span, n, G)``, time-major."""
    steps = block.transpose(0, 1)  # (span, n, Din)
    flat = steps.reshape(-1, steps.shape[-1])
    xp = addmm(b_ih, flat, w_ih_t) if tiled else torch.addmm(b_ih, flat, w_ih_t)
    return xp.view(steps.shape[0], steps.shape[1], -1)


def _cover(tiles: Tiles | None, counts: set[int]) -> Callable[[int], int]:
    """``padded(n)``: the rows a step of ``n`` running rows computes, the rows of its whole
    tiles (``n`` itself without tiles), so that no product pads anew."""
    covered = {n: n if tiles is None else sum(split(tiles, n)) for n in counts}
    return covered.__getitem__


def _rows(state: torch.Tensor, rows: int) -> torch.Tensor:
    """The first ``rows`` rows of ``state (R, D)``, zero rows added past ``R`` (a step of fewer
    running rows may still cover more with its tiles)."""
    if rows <= state.shape[0]:
        return state[:rows]
    return torch.cat([state, state.new_zeros(rows - state.shape[0], state.shape[1])])
