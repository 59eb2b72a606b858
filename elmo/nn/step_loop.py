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

There, too, a layer's forward and backward cells can step together (:func:`run_pair`): both
run the same rows for the same number of steps (the backward one over reversed sentences), so
each step's products of the two directions go to one batched call and its gate functions to
one call each over ``(2, rows, ...)``.  A lone sentence's step costs a fixed amount per call
more than per row, so this takes most from small batches; every row keeps the bits it gets
when each direction steps alone (:func:`can_pair` checks the machine for that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from elmo.nn.tiles import (
    LARGE_WEIGHT,
    Tiles,
    addmm,
    addmm_,
    double_columns,
    exact,
    paired_addmm_,
    pairs_agree,
    row_major,
    row_major_pair,
    split,
    step_tiles,
)

if TYPE_CHECKING:
    from elmo.nn.cells import Cell, LoopWeights, State

__all__ = [
    "PairWeights",
    "can_pair",
    "host_to_device",
    "pair_weights",
    "pays_to_pair",
    "run_loop",
    "run_pair",
]

Pair = tuple["Cell", "Cell"]  # a layer's forward and backward cells

# Rows x steps of input projections made at once on a CPU: a (256, G) block stays in cache
# until its steps read it, which ran the default model's projections 2x faster than one
# product over every step (whose output is tens of MB).  A GPU makes them all in one product.
_CPU_INPUT_BLOCK_ROWS = 256
# Pre-activations a direction (rows x G) up to which a layer's directions step together
# (pays_to_pair): below, the calls a paired step saves outweigh the larger working set of two
# directions; above, the loop ran as fast or slower paired (MKL, one thread, the default
# model's and "small"'s shapes: BENCHMARKS.md, "Both directions a step").
_PAIRED_MAX_ELEMENTS = 1 << 15


class PairWeights(NamedTuple):
    """What :func:`run_pair` multiplies by: each direction's input matrix ``(Din, G)``, the two
    recurrent matrices ``(2, D, G)`` and the two input biases ``(2, G)``, all with the cells'
    :attr:`~elmo.nn.cells.Cell.tanh_gates` columns doubled, and the two projections
    ``(2, H, D)`` or None."""

    input: tuple[torch.Tensor, torch.Tensor]
    recurrent: torch.Tensor
    projection: torch.Tensor | None
    bias: torch.Tensor


def pair_weights(cells: Pair) -> PairWeights:
    """The :class:`PairWeights` of a layer's two cells (kept within
    :func:`~elmo.nn.tiles.kept_copies`, like the step loop's own)."""
    forward, backward = cells
    doubled = forward.tanh_gates
    w_hr = (forward.projection_weight(), backward.projection_weight())
    bias = torch.stack([forward.input_bias(), backward.input_bias()])  # (2, G)
    return PairWeights(
        (row_major(forward.input_weight(), doubled), row_major(backward.input_weight(), doubled)),
        row_major_pair((forward.recurrent_weight(), backward.recurrent_weight()), doubled),
        None if w_hr[0] is None or w_hr[1] is None else row_major_pair((w_hr[0], w_hr[1])),
        bias if doubled is None else double_columns(bias, doubled),
    )


def can_pair(cells: Pair, like: torch.Tensor) -> bool:
    """Whether ``cells`` (a layer's forward and backward cells) can step together over input
    like ``like``: on the batch-invariant path (a CPU without gradients, no autocast), cells
    of one kind and shape that allow it, recurrent matrices below
    :data:`~elmo.nn.tiles.LARGE_WEIGHT` (the published 4096-cell model's ran as fast either
    way), and a machine that gives each direction of a batched pair of products the bits it
    gets alone (:func:`~elmo.nn.tiles.pairs_agree`)."""
    forward, backward = cells
    if not exact(like) or torch.is_autocast_enabled("cpu") or like.dtype != torch.float32:
        return False
    if type(forward) is not type(backward) or not forward.pairable:
        return False
    shapes = [
        (c.input_weight().shape, c.recurrent_weight().shape, _shape(c.projection_weight()))
        for c in cells
    ]
    if shapes[0] != shapes[1]:
        return False
    if forward.recurrent_weight().numel() >= LARGE_WEIGHT:
        return False  # as fast either way, and a second kept copy of large matrices
    products = [forward.recurrent_weight().shape[::-1]]  # (D, G)
    projection = forward.projection_weight()
    if projection is not None:
        products.append(projection.shape[::-1])  # (H, D)
    for inner, outer in products:
        tiles = step_tiles(torch.empty(inner, outer))
        if tiles is None or not pairs_agree(inner, outer, tiles):
            return False
    return True


def pays_to_pair(cell: Cell, rows: int) -> bool:
    """Whether a batch of ``rows`` is small enough that stepping a layer's two directions
    together saves time (every row's bits are the same either way)."""
    return rows * cell.recurrent_weight().shape[0] <= _PAIRED_MAX_ELEMENTS


def _shape(weight: torch.Tensor | None) -> tuple[int, ...] | None:
    return None if weight is None else tuple(weight.shape)


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
    order, lengths = _order(lengths)
    if order is not None:
        on_device = host_to_device(order, x.device)
        x, state = x[on_device], tuple(s[on_device] for s in state)
    running = _running(lengths, x.shape[1])
    outputs, final = _steps(cell, x, running, state, weights)
    out = _assembled(outputs, running, x, cell.output_size)
    if order is not None:
        inverse = host_to_device(torch.argsort(order), x.device)
        out, final = out[inverse], tuple(s[inverse] for s in final)
    return out, final  # (B, T, D)


def run_pair(
    cells: Pair,
    xs: tuple[torch.Tensor, torch.Tensor],
    lengths: torch.Tensor,
    states: tuple[State, State],
    weights: PairWeights | None = None,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[State, State]]:
    """A layer's two cells stepped together where :func:`can_pair` allows it: what
    :func:`run_loop` gives each, ``cells[d]`` over ``xs[d]`` (B, T, Din) from ``states[d]``,
    both with the per-row ``lengths`` (the backward input reversed within them).
    ``weights``: :func:`pair_weights` made earlier."""
    order, lengths = _order(lengths)
    if order is not None:
        xs = (xs[0][order], xs[1][order])
        states = (tuple(s[order] for s in states[0]), tuple(s[order] for s in states[1]))
    running = _running(lengths, xs[0].shape[1])
    outputs, final = _paired_steps(cells, xs, running, states, weights or pair_weights(cells))
    size = cells[0].output_size
    outs = tuple(_assembled([o[d] for o in outputs], running, xs[d], size) for d in range(2))
    finals = tuple(tuple(s[d] for s in final) for d in range(2))
    if order is not None:
        inverse = torch.argsort(order)
        outs = tuple(out[inverse] for out in outs)
        finals = tuple(tuple(s[inverse] for s in f) for f in finals)
    return (outs[0], outs[1]), (finals[0], finals[1])  # (B, T, D) each


def _order(lengths: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The rows longest first (None: they are already) and their lengths in that order."""
    if len(lengths) > 1 and bool((lengths[1:] > lengths[:-1]).any()):
        order = torch.argsort(lengths, descending=True, stable=True)  # (B,) on CPU
        return order, lengths[order]
    return None, lengths


def _running(lengths: torch.Tensor, steps: int) -> list[int]:
    """Rows that run step t of rows sorted longest first: non-increasing, all > 0."""
    running = [int(n) for n in (lengths.unsqueeze(0) > torch.arange(steps)[:, None]).sum(1)]
    return [n for n in running if n > 0]


def _assembled(
    outputs: Sequence[torch.Tensor], running: list[int], x: torch.Tensor, size: int
) -> torch.Tensor:
    """Each step's outputs ``(n_t, D)`` → ``(B, T, D)`` like ``x``, zeros past a row's end."""
    batch, steps = x.shape[0], x.shape[1]
    if not outputs:
        return x.new_zeros(batch, steps, size)
    sizes = torch.tensor(running, dtype=torch.int64)
    packed = PackedSequence(torch.cat(list(outputs)), sizes)
    return pad_packed_sequence(packed, batch_first=True, total_length=steps)[0]


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


def _paired_steps(
    cells: Pair,
    xs: tuple[torch.Tensor, torch.Tensor],
    running: list[int],
    states: tuple[State, State],
    weights: PairWeights,
) -> tuple[list[torch.Tensor], State]:
    """:func:`_steps` of both directions at once, on the batch-invariant path: each step's
    outputs ``(2, n_t, D)`` and the final states ``(2, B, ...)``, in row order."""
    w_hh_t, w_hr_t = weights.recurrent, weights.projection  # (2, D, G), (2, H, D) or None
    batch, steps = xs[0].shape[0], xs[0].shape[1]
    tiles = step_tiles(w_hh_t[0])
    assert tiles is not None, "directions step together only in tiles (can_pair)"
    padded = _cover(tiles, set(running) | {batch})
    state = tuple(torch.stack(parts) for parts in zip(*states, strict=True))  # (2, B, ...)
    state = tuple(_rows(s, padded(batch)) for s in state)
    outputs = []  # per step (2, n_t, D)
    finished: list[State] = []  # final states of rows that ended, the last rows first
    live = batch  # rows of ``state`` that are still running
    xp, first, end = xs[0], 0, 0  # the input products of steps first .. end - 1
    whole: torch.Tensor | None = None  # a step's rows and those that fill its last tile
    for t, n in enumerate(running):
        if n < live:
            finished.append(tuple(s[:, n:live] for s in state))
            state = tuple(_rows(s, padded(n)) for s in state)
            live = n
        if t == end:  # the next block of steps
            first = t
            end = min(steps, t + max(1, _CPU_INPUT_BLOCK_ROWS // (2 * n)))  # rows in all
            xp = xs[0].new_empty(2, end - first, n, w_hh_t.shape[2])  # (2, span, n, G)
            for d in range(2):
                _input_products(
                    xs[d][:n, first:end], weights.input[d], weights.bias[d], True, out=xp[d]
                )
            whole = None
        # Both directions' rows into one contiguous buffer (padded to the step's tiles): a
        # batched product into anything else runs a matrix at a time, with copies.  In the
        # small batches that pair (pays_to_pair) the copy costs less than the call it saves.
        if whole is None or whole.shape[1] < padded(n):
            whole = xp.new_zeros(2, padded(n), xp.shape[3])
        whole[:, :n] = xp[:, t - first, :n]
        x_t = whole[:, : padded(n)]  # (2, rows, G)
        pre = paired_addmm_(x_t, state[0], w_hh_t, tiles)  # accumulated into the buffer
        state = cells[0].step(pre, None, state, w_hr_t)
        outputs.append(state[0] if padded(n) == n else state[0][:, :n])
    finished.append(tuple(s[:, :live] for s in state))
    final = tuple(torch.cat(parts, dim=1) for parts in zip(*reversed(finished), strict=True))
    return outputs, final


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
    block: torch.Tensor,
    w_ih_t: torch.Tensor,
    b_ih: torch.Tensor,
    tiled: bool,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(n, span, Din)`` → the input products ``(span, n, G)``, time-major; ``out``: a
    contiguous ``(span, n, G)`` to write them into (``tiled`` only)."""
    steps = block.transpose(0, 1)  # (span, n, Din)
    flat = steps.reshape(-1, steps.shape[-1])
    into = None if out is None else out.view(flat.shape[0], -1)
    xp = addmm(b_ih, flat, w_ih_t, out=into) if tiled else torch.addmm(b_ih, flat, w_ih_t)
    return xp.view(steps.shape[0], steps.shape[1], -1)


def _cover(tiles: Tiles | None, counts: set[int]) -> Callable[[int], int]:
    """``padded(n)``: the rows a step of ``n`` running rows computes, the rows of its whole
    tiles (``n`` itself without tiles), so that no product pads anew."""
    covered = {n: n if tiles is None else sum(split(tiles, n)) for n in counts}
    return covered.__getitem__


def _rows(state: torch.Tensor, rows: int) -> torch.Tensor:
    """The first ``rows`` rows of ``state (R, D)`` (or ``(2, R, D)``, both directions), zero
    rows added past ``R`` (a step of fewer running rows may still cover more with its
    tiles)."""
    have = state.shape[-2]
    if rows <= have:
        return state[..., :rows, :]
    extra = state.new_zeros(*state.shape[:-2], rows - have, state.shape[-1])
    return torch.cat([state, extra], dim=-2)
