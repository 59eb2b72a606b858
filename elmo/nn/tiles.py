"""Batch invariance by construction on a CPU: products in row tiles of checked sizes, pointwise
math in whole SIMD blocks.

A sentence's vectors must not depend on what it is batched with.  Two things in a CPU forward
pass break that if left to themselves, whatever the CPU:

- **Matrix products.**  A BLAS picks its kernel, blocking and threading from the shape of the
  product, and kernels round differently: the same row multiplied inside products of 1, 2, 31
  or 300 rows gets other bits, on some CPUs for some of those counts only.  Here every product
  the inference path makes is cut into tiles, each one BLAS product of a few fixed sizes (the
  last tile padded with zero rows), so the kernel does not depend on the batch.  What remains
  is the BLAS's own behaviour on those sizes, and it differs between machines: MKL's AVX-512
  kernels give a row the same bits in tiles of any size from 2 to 64 rows, its AVX2 kernels
  (Intel CPUs without AVX-512) run 6 rows at a time and round the 2 left over in an 8-row tile
  apart, and only sizes 4, 16 and 64 agree with each other there.  So the sizes are not
  constants: for each weight shape and thread count the library checks once per process which
  sizes this machine computes alike at every position of a call (:func:`check_rows`) and which
  of them give a row the same bits as each other, and cuts products only into that family
  (:func:`family`; ``python -m elmo.machine`` prints them).  When no two sizes agree, the family
  is one size; when no size keeps rows alike, 1-row products (which rely on nothing but equal
  calls giving equal results); failing even that, products run plainly and a warning says that
  vectors depend on the batch.
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

import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable, Hashable, Iterator

import torch
from torch.nn import functional
from torch.utils.weak import WeakIdKeyDictionary

__all__ = [
    "CALL_COST",
    "LANES",
    "LARGEST",
    "LARGE_LARGEST",
    "LARGE_WEIGHT",
    "SIZES",
    "Tiles",
    "addmm",
    "addmm_",
    "check_rows",
    "double_columns",
    "exact",
    "family",
    "forget_copies",
    "kept_copies",
    "largest",
    "linear",
    "paired_addmm_",
    "paired_mm",
    "pairs_agree",
    "pointwise",
    "row_major",
    "row_major_pair",
    "sigmoid",
    "split",
    "step_matmul",
    "step_tiles",
    "tanh",
    "tanh_from_sigmoid",
    "tiles_for",
]

logger = logging.getLogger(__name__)

Tiles = tuple[int, ...]
"""A family of tile sizes, ascending, whose products give a row the same bits at any position."""

# Tile sizes a product may be cut into, and the largest a weight's products use: as large as
# keeps the BLAS near its speed on many rows, larger for large weights, which each call packs
# anew.  A step of a recurrent layer uses the smallest sizes that hold its running rows.
SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
LARGEST = 64
LARGE_LARGEST = 256
LARGE_WEIGHT = 1 << 22  # elements: 2048 x 4096 (the published highway layers) and more
# What one more BLAS call costs, in rows of work, when a product is cut into tiles: a lone
# sentence's step costs a 2-row call rather than an 8-row one, but 7 rows take one 8-row call
# rather than 4 + 2 + 2 (measured with MKL on the default model's shapes: a call is about
# 16 us + 5.5 us a row).
CALL_COST = 4

# Elements of a pointwise buffer: a multiple of twice the widest SIMD register's float32 lanes
# (PyTorch's loops take two registers a turn; 2048-bit SVE holds 64 floats).
LANES = 128
# Elements of one pointwise call when several threads are set: below ATen's grain size
# (32,768), under which an operation runs on one thread, so that no thread split falls inside.
_PIECE = 16384


def exact(x: torch.Tensor) -> bool:
    """Whether ``x``'s computation takes the batch-invariant path: a CPU without gradients."""
    return x.is_cpu and not torch.is_grad_enabled()


_COPIES: WeakIdKeyDictionary = WeakIdKeyDictionary()
_KEEP: contextvars.ContextVar[bool] = contextvars.ContextVar("elmo_tiles_keep", default=False)


@contextlib.contextmanager
def kept_copies() -> Iterator[None]:
    """Within this block (of this thread), :func:`row_major` keeps its copies for later calls.

    For owners of a model that treat its weights as fixed between calls (:class:`elmo.Embedder`):
    a lone sentence's forward pass otherwise spends a quarter of its time transposing weights.
    A kept copy is used again while the weight's storage, layout and version counter stay the
    same: every in-place change through the parameter (an optimizer's, ``load_state_dict``'s)
    counts, a change through ``.data`` does not, and needs :func:`forget_copies`."""
    token = _KEEP.set(True)
    try:
        yield
    finally:
        _KEEP.reset(token)


def row_major(weight: torch.Tensor, doubled: tuple[int, int] | None = None) -> torch.Tensor:
    """``weight (out, in)`` → its transpose ``(in, out)`` laid out row-major: a new copy, or
    within :func:`kept_copies` one kept from an earlier call.

    ``doubled``: rows ``[start, stop)`` of ``weight`` (columns of the copy) times two, for the
    batch-invariant path (no gradients): pre-activations of gates whose ``tanh`` a cell
    takes as ``2 sigmoid(2x) - 1`` (:func:`tanh`), so that one ``sigmoid`` call covers them
    with the cell's other gates.  Doubling is exact in floating point, in every product and
    sum that makes a pre-activation from these weights too, so the results keep the bits of
    the undoubled path.  It is done in the one kept copy: steps that read a second copy of
    each matrix (same values, same layout) ran markedly slower with the published 4096-cell
    model on an AMD EPYC (BENCHMARKS.md, "Fewer operations a step")."""
    return _kept((weight,), doubled, lambda ws: _transposed(ws[0], doubled))


def row_major_pair(
    weights: tuple[torch.Tensor, torch.Tensor], doubled: tuple[int, int] | None = None
) -> torch.Tensor:
    """Two weights ``(out, in)`` of one shape (a layer's forward and backward matrices) →
    ``(2, in, out)``, each as :func:`row_major` lays it out, for products that step both
    directions in one batched call (:func:`paired_addmm_`).  Kept like :func:`row_major`'s
    copies, and apart from them: an owner that runs batches of both kinds, small ones paired
    and large ones apart, keeps both layouts (pairing is only for matrices below
    :data:`LARGE_WEIGHT`)."""

    def make(ws: tuple[torch.Tensor, ...]) -> torch.Tensor:
        stacked = torch.stack([w.t() for w in ws])  # (2, in, out), row-major
        if doubled is not None:
            stacked[..., doubled[0] : doubled[1]] *= 2.0  # exact, as in double_columns
        return stacked

    return _kept(weights, ("pair", doubled), make)


def _kept(
    weights: tuple[torch.Tensor, ...],
    variant: Hashable,
    make: Callable[[tuple[torch.Tensor, ...]], torch.Tensor],
) -> torch.Tensor:
    """``make(weights)``, or within :func:`kept_copies` what it made earlier from these
    ``weights`` (keyed by the first, weakly) while their storage, layout and version stay the
    same; a kept copy is made from them detached."""
    if not _KEEP.get() or (torch.is_grad_enabled() and any(w.requires_grad for w in weights)):
        return make(weights)
    key = tuple((w._version, w.data_ptr(), w.shape, w.stride(), w.dtype) for w in weights)
    kept = _COPIES.get(weights[0])
    if kept is None:
        kept = _COPIES[weights[0]] = {}
    copy = kept.get(variant)
    if copy is not None and copy[0] == key:
        return copy[1]
    made = make(tuple(w.detach() for w in weights))
    kept[variant] = (key, made)
    return made


def _transposed(weight: torch.Tensor, doubled: tuple[int, int] | None) -> torch.Tensor:
    if doubled is None:
        return weight.t().contiguous()
    return double_columns(weight.t(), doubled)


def double_columns(t: torch.Tensor, columns: tuple[int, int]) -> torch.Tensor:
    """A new contiguous copy of ``t (..., G)`` (never ``t`` itself) with its last dimension's
    ``[start, stop)`` times two: the tanh gates of :func:`row_major`'s ``doubled``."""
    copy = t.clone(memory_format=torch.contiguous_format)
    copy[..., columns[0] : columns[1]] *= 2.0
    return copy


def forget_copies() -> None:
    """Drop the kept row-major copies (after changing weights through ``.data``)."""
    _COPIES.clear()


def largest(w_t: torch.Tensor) -> int:
    """The largest tile a product by ``w_t (K, N)`` uses."""
    return LARGE_LARGEST if w_t.numel() >= LARGE_WEIGHT else LARGEST


def tiles_for(w_t: torch.Tensor) -> Tiles | None:
    """The tile sizes of products by ``w_t (K, N)``; None: multiplied plainly."""
    return family(w_t.shape[0], w_t.shape[1], largest(w_t), w_t.dtype)


def step_tiles(w_t: torch.Tensor) -> Tiles | None:
    """The tile sizes of a time step's products by ``w_t (K, N)``; None: multiplied plainly.

    The same as any product's, the published 4096-cell model's 512 x 16384 recurrent matrix
    included: a step of up to the family's largest tile is one call, which streams the
    weight once as a plain product does, and measured at 32-256 rows it ran as fast as
    plain (so that model's vectors, too, do not depend on the batch)."""
    return tiles_for(w_t)


def family(
    inner: int, outer: int, most: int = LARGEST, dtype: torch.dtype = torch.float32
) -> Tiles | None:
    """The tile sizes (of :data:`SIZES` up to ``most``) that cut ``(M, inner) @ (inner,
    outer)`` products on this machine with the threads set now: each computes a row alike at
    every position of a call, and all give a row the same bits.  The largest such family,
    the one with the smaller sizes between equals; ``(1,)`` when no size keeps rows alike;
    None when not even 1-row products do (then products run plainly).  Checked once per
    process, shape and thread count."""
    return _family(inner, outer, most, dtype, torch.get_num_threads())


@functools.cache
def _family(inner: int, outer: int, most: int, dtype: torch.dtype, threads: int) -> Tiles | None:
    with torch.no_grad():
        kept = [r for r in SIZES if r <= most and check_rows(inner, outer, r, dtype=dtype)]
        groups = _same_bits(inner, outer, kept, dtype)
        if groups:
            chosen = max(groups, key=lambda g: (len(g), -g[0]))
        elif check_rows(inner, outer, 1, dtype=dtype):
            chosen = (1,)
        else:
            logger.warning(
                "no tile size keeps the rows of a (%d, %d) product alike on this machine"
                " (threads: %d): such products run plainly and vectors depend on the batch",
                inner,
                outer,
                threads,
            )
            return None
    if chosen != tuple(r for r in SIZES if r <= most):
        logger.info(
            "tiles of %s rows for (%d, %d) weights (threads: %d): this machine rounds rows of"
            " other sizes apart",
            ", ".join(map(str, chosen)),
            inner,
            outer,
            threads,
        )
    return chosen


def _same_bits(inner: int, outer: int, sizes: list[int], dtype: torch.dtype) -> list[Tiles]:
    """``sizes`` grouped by the bits their tiles give the same rows."""
    if not sizes:
        return []
    generator = torch.Generator().manual_seed(1)
    w_t = torch.randn(inner, outer, generator=generator).to(dtype)
    bias = torch.randn(outer, generator=generator).to(dtype)
    x = torch.randn(2 * max(sizes) + 3, inner, generator=generator).to(dtype)
    groups: list[tuple[list[int], torch.Tensor]] = []
    for rows in sizes:
        out = addmm(bias, x, w_t, rows)
        for members, bits in groups:
            if torch.equal(bits, out):
                members.append(rows)
                break
        else:
            groups.append(([rows], out))
    return [tuple(members) for members, _ in groups]


@functools.lru_cache(maxsize=8192)
def split(tiles: Tiles, m: int) -> tuple[int, ...]:
    """The tiles, largest first, that an ``m``-row product is cut into: as many of the largest
    size as fit, then the cover of the rest that costs least, a call counting
    :data:`CALL_COST` rows.  Their sum, at least ``m``, is the rows the product computes."""
    whole, rest = divmod(m, tiles[-1])
    return (tiles[-1],) * whole + _cover(tiles, rest)


@functools.lru_cache(maxsize=4096)
def _cover(tiles: Tiles, rows: int) -> tuple[int, ...]:
    # best[r]: (cost, rows computed, tiles) of the cheapest cover of r rows
    best: list[tuple[int, int, tuple[int, ...]]] = [(0, 0, ())]
    for r in range(1, rows + 1):
        best.append(
            min(
                (
                    (cost + size + CALL_COST, total + size, (size, *parts))
                    for size in tiles
                    for cost, total, parts in (best[max(0, r - size)],)
                ),
            )
        )
    return tuple(sorted(best[rows][2], reverse=True))


def _groups(sizes: tuple[int, ...]) -> Iterator[tuple[int, int, int]]:
    """(first row, size, count) of each run of equal sizes."""
    offset, i = 0, 0
    while i < len(sizes):
        j = i
        while j < len(sizes) and sizes[j] == sizes[i]:
            j += 1
        yield offset, sizes[i], j - i
        offset += sizes[i] * (j - i)
        i = j


def addmm(
    add: torch.Tensor | None,
    x: torch.Tensor,
    w_t: torch.Tensor,
    tiles: Tiles | int | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``add + x @ w_t`` for ``x (M, K)``, a row-major ``w_t (K, N)`` and ``add`` None or a bias
    ``(N,)``, as products of the sizes of ``tiles`` (default: :func:`tiles_for`; an int: that
    size only) → a new ``(M, N)``, or ``out``, a contiguous ``(M, N)`` it is written into.  A
    row's bits depend only on the row, ``w_t`` and ``add``, never on ``M`` (nor on ``out``:
    the same kernels write there).

    Tiles of one size go to one batched product (``bmm`` over ``(T, rows, K)`` and ``w_t``
    expanded): PyTorch hands it to the BLAS as ``T`` products of one shape, without a Python
    call each.
    """
    tiles = (tiles,) if isinstance(tiles, int) else tiles or tiles_for(w_t)
    if tiles is None:
        if out is None:
            return torch.mm(x, w_t) if add is None else torch.addmm(add, x, w_t)
        return torch.mm(x, w_t, out=out) if add is None else torch.addmm(add, x, w_t, out=out)
    m, k = x.shape
    n = w_t.shape[1]
    sizes = split(tiles, m)
    total = sum(sizes)
    xs = _padded(x, total)  # (total, K)
    if len(sizes) == 1 and out is None:  # the common step: one tile
        one = xs.view(1, total, k)
        weight = w_t.expand(1, k, n)
        result = torch.bmm(one, weight) if add is None else torch.baddbmm(add, one, weight)
        return result.view(total, n)[:m]
    target = out if out is not None and total == m else xs.new_empty(total, n)
    for first, rows, count in _groups(sizes):
        a = xs[first : first + rows * count].view(count, rows, k)
        o = target[first : first + rows * count].view(count, rows, n)
        for lo, hi in _calls(count):
            weights = w_t.expand(hi - lo, k, n)  # no copy
            if add is None:
                torch.bmm(a[lo:hi], weights, out=o[lo:hi])
            else:
                torch.baddbmm(add, a[lo:hi], weights, out=o[lo:hi])
    if out is not None and target is not out:
        return out.copy_(target[:m])
    return target[:m]  # (M, N)


def addmm_(
    out: torch.Tensor, x: torch.Tensor, w_t: torch.Tensor, tiles: Tiles | int
) -> torch.Tensor:
    """``out += x @ w_t`` in place for a contiguous ``out (M, N)`` and ``x (M, K)``, the
    products accumulating into ``out`` (no copy when the tiles hold exactly ``M`` rows), in
    tiles of the sizes of ``tiles`` (an int: that size only).  Returns ``out``."""
    tiles = (tiles,) if isinstance(tiles, int) else tiles
    m, k = x.shape
    n = out.shape[1]
    sizes = split(tiles, m)
    total = sum(sizes)
    xs = _padded(x, total)
    acc = out if total == m and out.is_contiguous() else _padded(out, total)
    if len(sizes) == 1:  # the common step: one tile
        acc.view(1, total, n).baddbmm_(xs.view(1, total, k), w_t.expand(1, k, n))
        if acc is not out:
            out.copy_(acc[:m])
        return out
    for first, rows, count in _groups(sizes):
        a = xs[first : first + rows * count].view(count, rows, k)
        o = acc[first : first + rows * count].view(count, rows, n)
        for lo, hi in _calls(count):
            o[lo:hi].baddbmm_(a[lo:hi], w_t.expand(hi - lo, k, n))
    if acc is not out:
        out.copy_(acc[:m])
    return out


def paired_addmm_(
    out: torch.Tensor, x: torch.Tensor, w_t: torch.Tensor, tiles: Tiles
) -> torch.Tensor:
    """:func:`addmm_` for both directions of a layer at once: ``out[d] += x[d] @ w_t[d]`` for
    ``out (2, M, N)`` (each ``out[d]`` contiguous, the two anywhere), ``x (2, M, K)`` and the
    :func:`row_major_pair` ``w_t (2, K, N)``.  A step of one tile into a contiguous ``out``
    is one batched call of two products, which gives each direction the bits of its call
    alone where :func:`pairs_agree` says so (its caller's condition); otherwise
    :func:`addmm_` per direction.  Returns ``out``."""
    m = x.shape[1]
    sizes = split(tiles, m)
    if len(sizes) == 1 and sizes[0] == m and out.is_contiguous():
        # (PyTorch multiplies into a non-contiguous ``out`` a matrix at a time, with copies)
        return out.baddbmm_(x.contiguous(), w_t)  # (a state just cut to fewer rows is not)
    for d in range(2):
        addmm_(out[d], x[d], w_t[d], tiles)
    return out


def paired_mm(x: torch.Tensor, w_t: torch.Tensor, tiles: Tiles) -> torch.Tensor:
    """``x[d] @ w_t[d]`` for ``x (2, M, K)`` and ``w_t (2, K, N)`` → ``(2, M, N)``: one batched
    call for a product of one tile, as :func:`paired_addmm_`, else :func:`addmm` per
    direction."""
    m = x.shape[1]
    sizes = split(tiles, m)
    if len(sizes) == 1 and sizes[0] == m:
        return torch.bmm(x.contiguous(), w_t)
    return torch.stack([addmm(None, x[d], w_t[d], tiles) for d in range(2)])


def pairs_agree(inner: int, outer: int, tiles: Tiles, dtype: torch.dtype = torch.float32) -> bool:
    """Whether this machine, with the threads set now, gives each direction's product in
    :func:`paired_addmm_` and :func:`paired_mm` (a batched pair for one tile of each size in
    ``tiles``, a product per direction from the stacked copy for several tiles) the bits that
    the same product gets alone in :func:`addmm_` / :func:`addmm` from its own copy of the
    weight: the property that lets a layer step its two directions together.  A BLAS may
    hand the two products of one call to two threads, pick another kernel for a batch, or
    round by where an operand lies; checked once per process, shape, tiles and thread
    count."""
    return _pairs_agree(inner, outer, tiles, dtype, torch.get_num_threads())


@functools.cache
def _pairs_agree(inner: int, outer: int, tiles: Tiles, dtype: torch.dtype, threads: int) -> bool:
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        # laid out as row_major_pair and row_major lay out a layer's weights
        alone = [torch.randn(inner, outer, generator=generator).to(dtype) for _ in range(2)]
        w_t = torch.stack(alone)  # (2, K, N)
        # every tile size alone (one batched call of the pair), and a product of several
        # tiles (a product per direction, from the stacked copy)
        for rows in (*tiles, 2 * tiles[-1] + tiles[0] + 1):
            x = torch.randn(2, rows, inner, generator=generator).to(dtype)
            # the accumulated pre-activations as a block of steps holds them: two directions
            # a block apart, and as one contiguous buffer (a step padded to its tile)
            block = torch.randn(2, 3, rows, outer, generator=generator).to(dtype)
            for target in (block.clone()[:, 1], block[:, 2].contiguous()):
                expected = [addmm_(target[d].clone(), x[d], alone[d], tiles) for d in range(2)]
                paired = paired_addmm_(target, x, w_t, tiles)
                if not all(torch.equal(paired[d], expected[d]) for d in range(2)):
                    return False
            products = paired_mm(x, w_t, tiles)
            for d in range(2):
                if not torch.equal(products[d], addmm(None, x[d], alone[d], tiles)):
                    return False
    return True


def _calls(count: int) -> list[tuple[int, int]]:
    """The tiles of one size that go to each call.  With several threads, PyTorch may share
    out the tiles of one batched product between threads rather than the work of each tile
    (and a tile alone splits its sums between them, which rounds differently: measured for a
    4096-deep product at 64 rows); then every tile gets a call of its own, so that each is
    computed as it would be alone."""
    if count > 1 and torch.get_num_threads() > 1:
        return [(i, i + 1) for i in range(count)]
    return [(0, count)]


def _padded(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x (M, K)`` contiguous with zero rows up to ``rows``."""
    m, k = x.shape
    if rows == m:
        return x.contiguous()
    padded = x.new_zeros(rows, k)
    padded[:m] = x
    return padded


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
    time (the whole tensor when it is contiguous, else each row of a view whose last
    dimension has unit stride, or runs of rows that lie back to back), so stretches of a
    multiple of :data:`LANES` elements that one thread computes leave no element to the
    scalar tail: those go as they are, anything else is copied into a padded buffer first.
    """
    n = x.numel()
    one_thread = n <= _PIECE or torch.get_num_threads() == 1
    if one_thread and (
        (x.is_contiguous() and n % LANES == 0)
        or (x.dim() >= 2 and x.stride(-1) == 1 and x.shape[-1] % LANES == 0)
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
    """``x (M, K) @ w_t (K, N)`` in a time step: on a CPU without gradients in the tiles of
    :func:`step_tiles`, else ``x @ w_t``.  Both directions of a layer stepping together:
    ``x (2, M, K)`` and a :func:`row_major_pair` ``w_t (2, K, N)``, by :func:`paired_mm`."""
    if w_t.dim() == 3:
        tiles = step_tiles(w_t[0])
        assert tiles is not None, "directions step together only in tiles"
        return paired_mm(x, w_t, tiles)
    tiles = step_tiles(w_t) if exact(x) else None
    return x @ w_t if tiles is None else addmm(None, x, w_t, tiles)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``torch.sigmoid``, through :func:`pointwise` on a CPU without gradients."""
    return pointwise(torch.sigmoid, x) if exact(x) else torch.sigmoid(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """``tanh(x)`` on a CPU without gradients as ``2 sigmoid(2x) - 1`` through :func:`pointwise`
    (``torch.tanh`` elsewhere).

    PyTorch's CPU ``tanh`` took about nine times as long per element as its ``sigmoid`` on
    the AVX-512 machines measured (the LSTM's two ``tanh`` a step were a tenth of the
    inference time of "small"), and the identity through ``sigmoid`` costs about twice a
    ``sigmoid``.  It is within 2e-7 of ``tanh`` (``torch.tanh``: 3e-8), an absolute error far
    below the float32 noise of the products around it; doubling and subtracting one are exact
    or correctly rounded per element, so a row's bits still do not depend on the batch.
    """
    if not exact(x):
        return torch.tanh(x)
    return tanh_from_sigmoid(pointwise(torch.sigmoid, x * 2.0))


_MINUS_ONE = torch.tensor(-1.0)


def tanh_from_sigmoid(s: torch.Tensor) -> torch.Tensor:
    """``tanh(x) = 2 s - 1`` from ``s = sigmoid(2x)``, in one operation: doubling is exact, so
    the one rounding of ``-1 + 2 s`` gives the bits of doubling and then subtracting one."""
    return torch.add(_MINUS_ONE, s, alpha=2.0)


def check_rows(
    inner: int,
    outer: int,
    rows: int,
    seed: int = 0,
    product: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
) -> bool:
    """Whether this machine computes a row of an ``(rows, inner) @ (inner, outer)`` tile
    identically wherever it is, with the threads set now: the one property of the platform
    that :func:`addmm` relies on.  A tile whose rows are all one row must give ``rows`` equal
    rows; the rows of a tile in another order, the same rows in that order; a tile among
    others or stored elsewhere in memory, the same rows.  ``product(bias, x, w_t, rows)``:
    the product to check (default :func:`addmm`)."""
    run = product or addmm
    generator = torch.Generator().manual_seed(seed)
    w_t = torch.randn(inner, outer, generator=generator).to(dtype)
    bias = torch.randn(outer, generator=generator).to(dtype)
    x = torch.randn(3 * rows, inner, generator=generator).to(dtype)
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
