import pytest
import torch
from torch.nn import functional

from elmo import tiles
from elmo.tiles import (
    BULK_ROWS,
    LARGE_BULK_ROWS,
    STEP_ROWS,
    addmm,
    addmm_,
    check_rows,
    linear,
    pointwise,
    row_major,
)

# Row counts of the acceptance check: 1 takes a matrix-vector kernel on every BLAS we know, the
# others cross the kernels' blocking sizes; 300 holds them all.
ROW_COUNTS = (1, 2, 3, 7, 16, 31, 64, 129)
SHAPES = ((80, 512), (128, 2048), (512, 128), (512, 1024), (13, 7))


def platform_keeps_rows(inner: int, outer: int, rows: int) -> None:
    """The one platform property the tiles rely on, checked before a test that needs it."""
    assert check_rows(inner, outer, rows), (
        f"platform property failed: this CPU/BLAS computes a row of a ({rows}, {inner}) @ "
        f"({inner}, {outer}) product differently at different positions of the call "
        f"(threads: {torch.get_num_threads()}); elmo.tiles cannot make products batch-invariant"
    )


def test_row_major_is_the_transpose_laid_out_by_rows():
    weight = torch.randn(5, 3)
    copy = row_major(weight)
    assert copy.is_contiguous() and torch.equal(copy, weight.t())


@pytest.mark.parametrize("shape", [(7, 12), (2, 3, 12), (0, 12), (130, 12)])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("grad", [True, False])
def test_linear_equals_torch_linear_for_any_leading_shape(shape, with_bias, grad):
    x, weight = torch.randn(*shape), torch.randn(9, 12)
    bias = torch.randn(9) if with_bias else None
    with torch.set_grad_enabled(grad):
        got = linear(x, weight, bias)
    assert got.shape == (*shape[:-1], 9)
    torch.testing.assert_close(got, functional.linear(x, weight, bias), rtol=1e-5, atol=1e-5)


def test_linear_passes_gradients_to_input_weight_and_bias():
    x = torch.randn(4, 6, requires_grad=True)
    weight, bias = torch.randn(3, 6, requires_grad=True), torch.randn(3, requires_grad=True)
    linear(x, weight, bias).sum().backward()
    reference = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
    functional.linear(*reference).sum().backward()
    for ours, theirs in zip((x, weight, bias), reference, strict=True):
        torch.testing.assert_close(ours.grad, theirs.grad)


@pytest.mark.parametrize(("inner", "outer"), SHAPES)
@pytest.mark.parametrize("tile", [STEP_ROWS, BULK_ROWS, LARGE_BULK_ROWS])
def test_rows_get_the_same_bits_in_products_of_any_number_of_rows(inner, outer, tile):
    platform_keeps_rows(inner, outer, tile)
    generator = torch.Generator().manual_seed(inner * outer)
    x = torch.randn(300, inner, generator=generator)
    w_t = torch.randn(inner, outer, generator=generator)
    bias = torch.randn(outer, generator=generator)
    add = torch.randn(300, outer, generator=generator)
    for extra in (None, bias):
        full = addmm(extra, x, w_t, tile)  # (300, outer)
        for rows in ROW_COUNTS:
            got = addmm(extra, x[:rows], w_t, tile)
            assert torch.equal(got, full[:rows]), (inner, outer, rows, tile)
    full = addmm_(add.clone(), x, w_t, tile)  # accumulated in place
    for rows in ROW_COUNTS:
        got = addmm_(add[:rows].clone(), x[:rows], w_t, tile)
        assert torch.equal(got, full[:rows]), (inner, outer, rows, tile)
    for rows in ROW_COUNTS:  # the same rows further down a product, after others
        after = addmm(bias, torch.cat([x[rows : 2 * rows + 5], x[:rows]]), w_t, tile)
        assert torch.equal(after[rows + 5 :], addmm(bias, x, w_t, tile)[:rows]), (rows, tile)


def test_every_product_is_made_of_tiles_of_exactly_the_tile_rows(monkeypatch):
    seen = []
    real_bmm, real_baddbmm = torch.bmm, torch.baddbmm

    def bmm(x, w, **kwargs):
        seen.append((x.shape[0], x.shape[1], w.shape[0] == x.shape[0]))
        return real_bmm(x, w, **kwargs)

    def baddbmm(add, x, w, **kwargs):
        seen.append((x.shape[0], x.shape[1], w.shape[0] == x.shape[0]))
        return real_baddbmm(add, x, w, **kwargs)

    monkeypatch.setattr(torch, "bmm", bmm)
    monkeypatch.setattr(torch, "baddbmm", baddbmm)
    w_t, bias = torch.randn(12, 5), torch.randn(5)
    for rows in ROW_COUNTS:
        for extra in (None, bias):
            seen.clear()
            out = addmm(extra, torch.randn(rows, 12), w_t, rows=16)
            assert out.shape == (rows, 5)
            assert {(r, same) for _, r, same in seen} == {(16, True)}, (rows, seen)
            assert sum(t for t, _, _ in seen) == -(-rows // 16)  # tiles, in one call or several


def test_accumulating_in_place_is_made_of_tiles_of_exactly_the_tile_rows(monkeypatch):
    seen = []
    real = torch.Tensor.baddbmm_

    def spy(self, x, w, **kwargs):
        seen.append((self.shape[0], self.shape[1], x.shape[1]))
        return real(self, x, w, **kwargs)

    monkeypatch.setattr(torch.Tensor, "baddbmm_", spy)
    w_t = torch.randn(12, 5)
    for rows in ROW_COUNTS:
        seen.clear()
        out = torch.randn(rows, 5)
        before = out.clone()
        result = addmm_(out, torch.randn(rows, 12), w_t, rows=8)
        assert result is out and not torch.equal(out, before)
        assert {(a, b) for _, a, b in seen} == {(8, 8)}, (rows, seen)
        assert sum(t for t, _, _ in seen) == -(-rows // 8)


def test_a_non_contiguous_input_gets_the_bits_of_its_contiguous_copy():
    x, w_t = torch.randn(40, 24), torch.randn(12, 6)
    view = x[:, ::2]  # (40, 12), strided
    assert torch.equal(addmm(None, view, w_t, 16), addmm(None, view.contiguous(), w_t, 16))


def test_check_rows_finds_a_product_whose_rows_depend_on_where_they_are():
    def last_row_apart(add, x, w_t, rows):
        out = addmm(add, x, w_t, rows)
        out[-1] = torch.nextafter(out[-1], torch.full_like(out[-1], float("inf")))
        return out

    def last_tile_apart(add, x, w_t, rows):
        out = addmm(add, x, w_t, rows)
        if x.shape[0] > rows:
            out[-rows:] = torch.nextafter(out[-rows:], torch.full_like(out[-rows:], 1e30))
        return out

    assert check_rows(64, 32, 16)
    assert not check_rows(64, 32, 16, product=last_row_apart)
    assert not check_rows(64, 32, 16, product=last_tile_apart)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("fn", [torch.sigmoid, torch.tanh, torch.exp])
def test_pointwise_gives_an_element_the_same_bits_at_any_position_size_or_thread_count(fn, threads):
    # torch.sigmoid itself fails this on x86 CPUs: the last elements of a tensor (and of each
    # thread's share) take scalar code that rounds differently from the vector code.
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.randn(70_001, generator=torch.Generator().manual_seed(1)) * 4
        reference = pointwise(fn, x)
        for lo, hi in ((0, 1), (3, 40), (17, 150), (5, 33_000), (1, 70_001), (69_990, 70_001)):
            assert torch.equal(pointwise(fn, x[lo:hi]), reference[lo:hi]), (lo, hi)
        grid = x[:69_000].view(300, 230)
        got = pointwise(fn, grid[:, 7:100])  # a strided view
        assert torch.equal(got, reference[:69_000].view(300, 230)[:, 7:100])
        assert got.shape == (300, 93)
    finally:
        torch.set_num_threads(previous)


def test_plain_sigmoid_is_not_position_invariant_here_or_the_pointwise_test_proves_little():
    """Documents the platform behaviour that makes :func:`pointwise` necessary.  Where scalar
    and vector code agree (no SIMD, or a libm equal to the vector code) this is skipped."""
    x = torch.randn(20_000, generator=torch.Generator().manual_seed(0)) * 4
    vector = torch.sigmoid(x)
    scalar = torch.stack([torch.sigmoid(x[i : i + 1])[0] for i in range(2_000)])
    if torch.equal(scalar, vector[:2_000]):
        pytest.skip("this CPU's scalar and vector sigmoid agree")
    assert torch.equal(
        torch.stack([pointwise(torch.sigmoid, x[i : i + 1])[0] for i in range(2_000)]),
        pointwise(torch.sigmoid, x)[:2_000],
    )


def test_the_tiled_path_runs_only_on_a_cpu_without_gradients():
    x = torch.randn(3, 4)
    assert not tiles.exact(x)  # gradients are on by default: training
    with torch.no_grad():
        assert tiles.exact(x)
    with torch.inference_mode():
        assert tiles.exact(x)


def test_tile_sizes_are_a_function_of_the_weight_alone():
    assert tiles.bulk_rows(torch.empty(512, 1024)) == BULK_ROWS
    assert tiles.bulk_rows(torch.empty(2048, 4096)) == LARGE_BULK_ROWS
    assert tiles.step_rows(torch.empty(128, 2048)) == STEP_ROWS  # models/default, "small"
    assert tiles.step_rows(torch.empty(256, 8192)) == STEP_ROWS  # "medium"
    assert tiles.step_rows(torch.empty(512, 16384)) is None  # "original": multiplied plainly


@pytest.mark.parametrize("threads", [1, 2])
def test_a_tile_among_others_gets_its_bits_alone_whatever_the_threads(threads):
    # Seen with two threads before each tile got a call of its own: a 4096-deep product's
    # tiles among others rounded apart from the same tile alone.
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(3)
        x = torch.randn(3 * BULK_ROWS, 4096, generator=generator)
        w_t = torch.randn(4096, 512, generator=generator)
        bias = torch.randn(512, generator=generator)
        together = addmm(bias, x, w_t, BULK_ROWS)
        for i in range(3):
            tile = x[i * BULK_ROWS : (i + 1) * BULK_ROWS]
            alone = addmm(bias, tile, w_t, BULK_ROWS)
            assert torch.equal(together[i * BULK_ROWS : (i + 1) * BULK_ROWS], alone), i
        assert check_rows(4096, 512, BULK_ROWS)
    finally:
        torch.set_num_threads(previous)
