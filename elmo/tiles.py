"""Batch invariance by construction on a CPU: products in fixed-size row tiles, pointwise math
in whole SIMD blocks.

A sentence's vectors must not depend on what it is batched with.  Two things in a CPU forward
pass break that if left to themselves, whatever the CPU:

- **Matrix products.**  A BLAS picks its kernel, blocking and threading from the shape of the
  product, and kernels round differently: the same row multiplied inside products of 2, 31 or
  300 rows gets other bits, on some CPUs for some of those counts only (MKL on Intel AVX-512 keeps
  rows of >= 2-row products identical from a row-major weight; on AMD Zen 3 it does not).  Here
  every product the inference path makes is made of tiles of exactly ``rows`` rows (the last
  tile padded with zero rows), a size fixed by the weight, and each tile is one product of
  that shape for the BLAS (one batched call of all tiles on one thread, a call per tile on
  several): the kernel is the same whatever the batch.  What remains is that a GEMM computes
  every row of a tile the same way wherever it sits in it: no GEMM mixes rows, and its
  micro-kernels run the same instructions for each row they hold.  :func:`check_rows` tests
  that on the machine at hand (``python -m elmo.machine``).
- **Pointwise math.**  PyTorch's CPU loops run whole SIMD registers and finish a tensor's (or a
  thread's) last elements with scalar code, which for ``sigmoid`` rounds differently (measured:
  4 % of float32 inputs).  Where an element falls depends on the tensor's size and the thread
  split, so :func:`pointwise` runs the transcendental functions on flat buffers padded to a
  multiple of :data:`LANES` elements, in pieces that one thread computes: every element goes
  through the vector code.  Additions, products and maxima are correctly rounded in both paths
  and need nothing.

Both apply on a CPU without gradients (feature extraction).  Training and GPUs use PyTorch's
operations as they are.  Weights are multiplied from row-major ``(in, out)`` copies
(:func:`row_major`): MKL's kernels for a transposed view run 4-6x slower at 16-32 rows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional

__all__ = [
    "BULK_ROWS",
    "LANES",
    "LARGE_BULK_ROWS",
    "LARGE_WEIGHT",
    "STEP_ROWS",
    "STEP_WEIGHT_LIMIT",
    "addmm",
    "addmm_",
    "bulk_rows",
    "check_rows",
    "exact",
    "linear",
    "pointwise",
    "row_major",
    "sigmoid",
    "step_matmul",
    "step_rows",
    "tanh",
]

# Rows of one BLAS call, a function of the weight alone, so that a weight is always multiplied
# in tiles of one size.  In each time step (recurrent and projection matrices, a few dozen rows
# a step) tiles are small, to waste little on padding; elsewhere (token encoder, input
# products) they are as large as keeps the BLAS near its speed on many rows, larger for large
# weights, which each call packs anew.
STEP_ROWS = 8
BULK_ROWS = 64
LARGE_BULK_ROWS = 256
LARGE_WEIGHT = 1 << 22  # elements: 2048 x 4096 (the published highway layers) and more
# A step weight above this many elements (the 4096-cell published model's 512 x 16384
# recurrent matrix) streams from memory at every call: several small calls per step would
# multiply that traffic, so its steps multiply plainly and are not batch-invariant.
STEP_WEIGHT_LIMIT = 1 << 21

# Elements of a pointwise buffer: a multiple of twice the widest SIMD register's float32 lanes
# (PyTorch's loops take two registers a turn; 2048-bit SVE holds 64 floats).
LANES = 128
# Elements of one pointwise call when several threads are set: below ATen's grain size
# (32,768), under which an operation runs on one thread, so that no thread split falls inside.
_PIECE = 16384


def exact(x: torch.Tensor) -> bool:
    """Whether ``x``'s computation takes the batch-invariant path: a CPU without gradients."""
    return x.is_cpu and not torch.is_grad_enabled()


def row_major(weight: torch.Tensor) -> torch.Tensor:
    """``weight (out, in)`` → its transpose ``(in, out)`` laid out row-major.  Made at each
    call: a copy kept across calls would go stale when a weight is changed through ``.data``."""
    return weight.t().contiguous()


def bulk_rows(w_t: torch.Tensor) -> int:
    """Rows of a bulk product's calls by ``w_t (K, N)``."""
    return LARGE_BULK_ROWS if w_t.numel() >= LARGE_WEIGHT else BULK_ROWS


def step_rows(w_t: torch.Tensor) -> int | None:
    """Rows of a time step's calls by ``w_t (K, N)``; None: multiplied plainly."""
    return STEP_ROWS if w_t.numel() <= STEP_WEIGHT_LIMIT else None


def addmm(
    add: torch.Tensor | None, x: torch.Tensor, w_t: torch.Tensor, rows: int | None = None
) -> torch.Tensor:
    """``add + x @ w_t`` for ``x (M, K)``, a row-major ``w_t (K, N)`` and ``add`` None or a bias
    ``(N,)``, as products of exactly ``rows`` rows each (default: :func:`bulk_rows`) → a new
    ``(M, N)``.  A row's bits depend only on the row, ``w_t`` and ``add``, never on ``M``.

    The tiles go to one batched product (``bmm`` over ``(T, rows, K)`` and ``w_t`` expanded):
    PyTorch hands it to the BLAS as ``T`` products of one shape, without a Python call each.
    """
    rows = rows or bulk_rows(w_t)
    m, k = x.shape
    tiles = _tiles(x, rows)  # (T, rows, K)
    weights = w_t.expand(tiles.shape[0], k, w_t.shape[1])  # (T, K, N), no copy
    if _one_tile_a_call(tiles):
        out = tiles.new_empty(tiles.shape[0], rows, w_t.shape[1])
        for i in range(tiles.shape[0]):
            if add is None:
                torch.bmm(tiles[i : i + 1], weights[:1], out=out[i : i + 1])
            else:
                torch.baddbmm(add, tiles[i : i + 1], weights[:1], out=out[i : i + 1])
    else:
        out = torch.bmm(tiles, weights) if add is None else torch.baddbmm(add, tiles, weights)
    return out.view(-1, w_t.shape[1])[:m]  # (M, N)


def addmm_(out: torch.Tensor, x: torch.Tensor, w_t: torch.Tensor, rows: int) -> torch.Tensor:
    """``out += x @ w_t`` in place for a contiguous ``out (M, N)`` and ``x (M, K)``, the
    products accumulating into ``out`` (no copy when ``M`` is a multiple of ``rows``), in
    tiles of exactly ``rows`` rows.  Returns ``out``."""
    m, k = x.shape
    n = out.shape[1]
    tiles = _tiles(x, rows)  # (T, rows, K)
    weights = w_t.expand(tiles.shape[0], k, n)
    acc = out.view(-1, rows, n) if m % rows == 0 else _tiles(out, rows)  # else a padded copy
    if _one_tile_a_call(tiles):
        for i in range(tiles.shape[0]):
            acc[i : i + 1].baddbmm_(tiles[i : i + 1], weights[:1])
    else:
        acc.baddbmm_(tiles, weights)
    if m % rows:
        out.copy_(acc.view(-1, n)[:m])
    return out


def _one_tile_a_call(tiles: torch.Tensor) -> bool:
    """With several threads, PyTorch may share out the tiles of one batched product between
    threads rather than the work of each tile (and a tile alone splits its sums between them,
    which rounds differently: measured for a 4096-deep product at 64 rows); then every tile
    gets a call of its own, so that each is computed as it would be alone."""
    return tiles.shape[0] > 1 and torch.get_num_threads() > 1


def _tiles(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x (M, K)`` → ``(T, rows, K)``, contiguous, the last tile padded with zero rows."""
    m, k = x.shape
    size = -(-m // rows) * rows
    if size == m:
        return x.contiguous().view(-1, rows, k)
    padded = x.new_zeros(size, k)
    padded[:m] = x
    return padded.view(-1, rows, k)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight^T + bias`` for ``x (..., in)``, ``weight (out, in)`` → ``(..., out)``:
    :func:`addmm` from a row-major copy on a CPU without gradients, ``F.linear`` otherwise."""
    if not exact(x):
        return functional.linear(x, weight, bias)
    flat = x.reshape(-1, x.shape[-1])  # (N, in)
    out = addmm(bias, flat, row_major(weight))  # (N, out)
    return out.reshape(*x.shape[:-1], weight.shape[0])


def pointwise(fn: Callable[..., torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` for a unary pointwise ``fn`` (``torch.sigmoid``, ``torch.tanh``, ...) with
    every element computed by the same (vector) code, whatever ``x``'s size, layout or the
    number of threads.  ``fn`` must accept ``out=``.

    PyTorch runs a tensor's innermost contiguous stretches through its vector loop one at a
    time (the whole tensor when it is contiguous, else each row of a 2-D view with unit
    stride), so stretches of a multiple of :data:`LANES` elements that one thread computes
    leave no element to the scalar tail: those go as they are, anything else is copied into a
    padded buffer first.
    """
    n = x.numel()
    one_thread = n <= _PIECE or torch.get_num_threads() == 1
    if one_thread and (
        (x.is_contiguous() and n % LANES == 0)
        or (x.dim() == 2 and x.stride(1) == 1 and x.shape[1] % LANES == 0)
    ):
        return fn(x)
    size = -(-n // LANES) * LANES
    flat = x.new_zeros(size)
    flat[:n] = x.reshape(-1)
    if one_thread or size <= _PIECE:
        out = fn(flat)
    else:
        out = torch.empty_like(flat)
        for lo in range(0, size, _PIECE):
            fn(flat[lo : lo + _PIECE], out=out[lo : lo + _PIECE])
    return out[:n].view(x.shape)


def step_matmul(x: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
    """``x (M, K) @ w_t (K, N)`` in a time step: on a CPU without gradients in tiles of
    :func:`step_rows`, else ``x @ w_t``."""
    rows = step_rows(w_t) if exact(x) else None
    return x @ w_t if rows is None else addmm(None, x, w_t, rows)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``torch.sigmoid``, through :func:`pointwise` on a CPU without gradients."""
    return pointwise(torch.sigmoid, x) if exact(x) else torch.sigmoid(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """``torch.tanh``, through :func:`pointwise` on a CPU without gradients."""
    return pointwise(torch.tanh, x) if exact(x) else torch.tanh(x)


def check_rows(
    inner: int,
    outer: int,
    rows: int,
    seed: int = 0,
    product: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor] | None = None,
) -> bool:
    """Whether this machine computes a row of an ``(rows, inner) @ (inner, outer)`` tile
    identically wherever it is, with the threads set now: the one property of the platform
    that :func:`addmm` relies on.  A tile whose rows are all one row must give ``rows`` equal
    rows; the rows of a tile in another order, the same rows in that order; a tile among
    others or stored elsewhere in memory, the same rows.  ``product(bias, x, w_t, rows)``:
    the product to check (default :func:`addmm`)."""
    run = product or addmm
    generator = torch.Generator().manual_seed(seed)
    w_t = torch.randn(inner, outer, generator=generator)
    bias = torch.randn(outer, generator=generator)
    x = torch.randn(3 * rows, inner, generator=generator)
    tile = x[:rows]
    same = run(bias, tile[:1].expand(rows, inner).contiguous(), w_t, rows)
    if not bool((same == same[:1]).all()):
        return False
    alone = run(bias, tile, w_t, rows)  # (rows, outer)
    for shift in sorted({1, rows // 2, rows - 1} - {0}):
        rolled = run(bias, torch.roll(tile, shift, 0).contiguous(), w_t, rows)
        if not torch.equal(torch.roll(alone, shift, 0), rolled):
            return False
    among = run(bias, torch.cat([x[rows:], tile]), w_t, rows)[2 * rows :]  # the third tile
    moved = torch.cat([x.new_zeros(1, inner), tile])[1:]  # other alignment
    return torch.equal(among, alone) and torch.equal(run(bias, moved, w_t, rows), alone)
