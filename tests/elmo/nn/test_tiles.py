import pytest
import torch
from torch.nn import functional

from elmo.nn import tiles
from elmo.nn.tiles import (
    LARGE_LARGEST,
    LARGEST,
    SIZES,
    addmm,
    addmm_,
    check_rows,
    family,
    linear,
    pointwise,
    row_major,
    row_major_pair,
    split,
    tanh_from_sigmoid,
)

# Row counts of the acceptance check: 1 takes a matrix-vector kernel on every BLAS we know, the
# others cross the kernels' blocking sizes; 300 holds them all.
ROW_COUNTS = (1, 2, 3, 7, 16, 31, 64, 129)
SHAPES = ((80, 512), (128, 2048), (512, 128), (512, 1024), (13, 7))


def platform_family(inner: int, outer: int, most: int) -> tuple[int, ...]:
    """The tile sizes the library uses here for this shape; fails, naming the platform
    property, when this machine keeps a row's bits at no tile size, not even 1."""
    sizes = family(inner, outer, most)
    assert sizes is not None, (
        f"platform property failed: this CPU/BLAS computes a row of a (r, {inner}) @ "
        f"({inner}, {outer}) product differently at different positions of the call for every "
        f"r in {SIZES} and 1 (threads: {torch.get_num_threads()}); elmo.nn.tiles cannot make "
        "products batch-invariant"
    )
    return sizes


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
@pytest.mark.parametrize("most", [LARGEST, LARGE_LARGEST, 8])
def test_rows_get_the_same_bits_in_products_of_any_number_of_rows(inner, outer, most):
    tile = platform_family(inner, outer, most)
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
            out = addmm(extra, torch.randn(rows, 12), w_t, tiles=16)
            assert out.shape == (rows, 5)
            assert {(r, same) for _, r, same in seen} == {(16, True)}, (rows, seen)
            assert sum(t for t, _, _ in seen) == -(-rows // 16)  # tiles, in one call or several
    for rows in ROW_COUNTS:  # a family: tiles of its sizes only, as split() cuts them
        seen.clear()
        out = addmm(bias, torch.randn(rows, 12), w_t, tiles=(2, 4, 8))
        assert out.shape == (rows, 5) and {same for _, _, same in seen} == {True}
        assert sorted((r for t, r, _ in seen for _ in range(t)), reverse=True) == list(
            split((2, 4, 8), rows)
        )


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
        result = addmm_(out, torch.randn(rows, 12), w_t, tiles=8)
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


@pytest.mark.parametrize("threads", [1, 2])
def test_tanh_on_the_inference_path_is_within_2e7_of_torch_tanh_and_position_invariant(threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.cat([torch.linspace(-30, 30, 50_001), torch.tensor([0.0, 1e-30, -1e-8])])
        with torch.inference_mode():
            got = tiles.tanh(x)
            torch.testing.assert_close(got, torch.tanh(x), rtol=0, atol=2.5e-7)
            assert got[[0, -3]].tolist() == [-1.0, 0.0]  # saturates, and 0 stays 0
            for lo, hi in ((0, 1), (3, 40), (17, 150), (49_000, 50_004)):
                assert torch.equal(tiles.tanh(x[lo:hi]), got[lo:hi]), (lo, hi)
            grid = x[:50_000].view(250, 200)
            assert torch.equal(tiles.tanh(grid[:, 7:100]), got[:50_000].view(250, 200)[:, 7:100])
        assert torch.equal(tiles.tanh(x), torch.tanh(x))  # with gradients: PyTorch's own
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
    for shape in ((512, 1024), (128, 2048), (2048, 4096)):
        sizes = tiles.tiles_for(torch.empty(*shape))
        assert sizes is not None and tiles.tiles_for(torch.randn(*shape)) == sizes
        assert sizes == (1,) or set(sizes) <= set(SIZES)
        assert max(sizes) <= tiles.largest(torch.empty(*shape))
    assert tiles.largest(torch.empty(2048, 4096)) == LARGE_LARGEST  # published highway
    assert tiles.largest(torch.empty(512, 1024)) == LARGEST
    assert tiles.step_tiles(torch.empty(128, 2048)) is not None  # models/default, "small"
    assert tiles.step_tiles(torch.empty(256, 8192)) is not None  # "medium"
    original = torch.empty(512, 16384)  # the published 4096-cell model's recurrent matrix
    assert tiles.step_tiles(original) is not None
    assert tiles.step_tiles(original) == tiles.tiles_for(original)


@pytest.mark.parametrize(("inner", "outer"), SHAPES)
def test_every_size_of_a_family_gives_a_row_the_same_bits(inner, outer):
    sizes = platform_family(inner, outer, LARGEST)
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(150, inner, generator=generator)
    w_t, bias = torch.randn(inner, outer, generator=generator), torch.randn(outer)
    reference = addmm(bias, x, w_t, sizes[0])
    for rows in sizes[1:]:
        assert torch.equal(addmm(bias, x, w_t, rows), reference), (rows, sizes)


def test_a_product_is_cut_into_the_largest_tiles_then_the_cheapest_cover_of_the_rest():
    sizes = (2, 4, 8, 16, 32, 64)
    assert split(sizes, 1) == (2,)
    assert split(sizes, 7) == (8,)  # one call, not 4 + 2 + 2
    assert split(sizes, 33) == (32, 2)
    assert split(sizes, 128) == (64, 64)
    assert split(sizes, 130) == (64, 64, 2)
    assert split((4, 16, 64), 5) == (4, 4)
    assert split((16,), 17) == (16, 16)
    for m in range(0, 300, 7):
        for family_ in (sizes, (4, 16, 64), (1,), (8,)):
            cut = split(family_, m)
            assert m <= sum(cut) < m + max(family_) and set(cut) <= set(family_)
            assert list(cut) == sorted(cut, reverse=True)


def _failing(monkeypatch, fails):
    """check_rows as this machine's, except that ``fails(rows)`` sizes round rows apart."""
    real = tiles.check_rows

    def check(inner, outer, rows, **kwargs):
        return not fails(rows) and real(inner, outer, rows, **kwargs)

    monkeypatch.setattr(tiles, "check_rows", check)
    tiles._family.cache_clear()


def test_sizes_this_machine_computes_apart_are_left_out(monkeypatch, caplog):
    _failing(monkeypatch, lambda rows: rows in (8, 16))
    try:
        sizes = family(24, 40, LARGEST)
        assert sizes is not None and 8 not in sizes and 16 not in sizes
        assert set(sizes) <= {2, 4, 32, 64}
    finally:
        tiles._family.cache_clear()


def test_with_no_size_kept_products_are_one_row_each_or_plain(monkeypatch, caplog):
    _failing(monkeypatch, lambda rows: rows > 1)
    try:
        assert family(24, 40, LARGEST) == (1,)
        x, w_t = torch.randn(9, 24), torch.randn(24, 40)
        assert torch.equal(addmm(None, x, w_t, (1,))[3:4], addmm(None, x[3:4], w_t, (1,)))
    finally:
        tiles._family.cache_clear()
    _failing(monkeypatch, lambda rows: True)
    try:
        with caplog.at_level("WARNING", logger="elmo.nn.tiles"):
            assert family(24, 41, LARGEST) is None
        assert "vectors depend on the batch" in caplog.text
    finally:
        tiles._family.cache_clear()


def test_with_no_tile_size_left_a_product_runs_plainly(monkeypatch):
    monkeypatch.setattr(tiles, "tiles_for", lambda w_t: None)
    x, w_t, bias = torch.randn(5, 12), torch.randn(12, 7), torch.randn(7)
    assert torch.equal(addmm(bias, x, w_t), torch.addmm(bias, x, w_t))
    assert torch.equal(addmm(None, x, w_t), x @ w_t)


def test_tile_sizes_are_chosen_for_the_thread_count_of_the_product(monkeypatch):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    victim = platform_family(32, 48, LARGEST)[-1]
    _failing(monkeypatch, lambda rows: rows == victim and torch.get_num_threads() == 2)
    try:
        assert victim in (family(32, 48, LARGEST) or ())
        torch.set_num_threads(2)
        assert victim not in (family(32, 48, LARGEST) or ())
        torch.set_num_threads(1)
        assert victim in (family(32, 48, LARGEST) or ())
    finally:
        torch.set_num_threads(previous)
        tiles._family.cache_clear()


def test_a_row_major_copy_is_kept_until_the_weight_changes():
    weight = torch.nn.Parameter(torch.randn(6, 4))
    with torch.no_grad():
        assert row_major(weight) is not row_major(weight)  # kept only where asked for
    with torch.no_grad(), tiles.kept_copies():
        first = row_major(weight)
        assert row_major(weight) is first and torch.equal(first, weight.t())
        weight.mul_(2)  # in place through the parameter: an optimizer, load_state_dict
        second = row_major(weight)
        assert second is not first and torch.equal(second, weight.t())
        weight.data.add_(1)  # not counted by PyTorch: seen after forget_copies()
        tiles.forget_copies()
        assert torch.equal(row_major(weight), weight.t())
    with tiles.kept_copies():
        copy = row_major(weight)  # with gradients: a fresh copy that passes them on
    assert copy.requires_grad
    copy.sum().backward()
    assert torch.equal(weight.grad, torch.ones(6, 4))


def test_a_doubled_row_major_copy_doubles_only_those_columns_and_is_kept_apart():
    weight = torch.nn.Parameter(torch.randn(12, 5))
    with torch.no_grad():
        copy = row_major(weight, (4, 8))
        assert torch.equal(copy[:, 4:8], 2 * weight.t()[:, 4:8])
        assert torch.equal(copy[:, :4], weight.t()[:, :4])
        assert torch.equal(copy[:, 8:], weight.t()[:, 8:])
        with tiles.kept_copies():
            kept = row_major(weight, (4, 8))
            plain = row_major(weight)
            assert row_major(weight, (4, 8)) is kept and row_major(weight) is plain
            assert torch.equal(kept, copy) and torch.equal(plain, weight.t())
            weight.mul_(2)
            assert torch.equal(row_major(weight, (4, 8))[:, 4:8], 2 * weight.t()[:, 4:8])
    column = torch.randn(3, 1)  # its transpose is contiguous already: the weight stays
    with torch.no_grad():
        before = column.clone()
        assert torch.equal(row_major(column, (0, 3)), 2 * before.t())
    assert torch.equal(column, before)


def test_a_pair_of_row_major_copies_is_one_tensor_kept_until_either_weight_changes():
    forward = torch.nn.Parameter(torch.randn(12, 5))
    backward = torch.nn.Parameter(torch.randn(12, 5))
    with torch.no_grad():
        pair = row_major_pair((forward, backward), (4, 8))
        assert pair.shape == (2, 5, 12) and pair.is_contiguous()
        assert torch.equal(pair[0], row_major(forward, (4, 8)))
        assert torch.equal(pair[1], row_major(backward, (4, 8)))
        assert torch.equal(row_major_pair((forward, backward))[1], backward.t())
        with tiles.kept_copies():
            kept = row_major_pair((forward, backward), (4, 8))
            assert row_major_pair((forward, backward), (4, 8)) is kept
            assert row_major_pair((forward, backward)) is not kept  # undoubled: its own
            backward.mul_(2)
            again = row_major_pair((forward, backward), (4, 8))
            assert again is not kept and torch.equal(again[1], row_major(backward, (4, 8)))
    with tiles.kept_copies():
        copy = row_major_pair((forward, backward))  # with gradients: passes them on
    copy[1].sum().backward()
    assert torch.equal(backward.grad, torch.ones(12, 5))
    assert torch.count_nonzero(forward.grad) == 0


def test_products_of_a_pair_give_each_direction_the_bits_of_its_own_product():
    generator = torch.Generator().manual_seed(3)
    weights = [torch.randn(48, 32, generator=generator) for _ in range(2)]
    w_t = row_major_pair((weights[0], weights[1]))  # (2, 32, 48)
    found = tiles.step_tiles(w_t[0])
    if found is None or not tiles.pairs_agree(32, 48, found):
        pytest.skip("this machine rounds batched pairs apart: directions never step together")
    with torch.no_grad():
        for rows in (1, 4, 7, 16, 41):
            x = torch.randn(2, rows, 32, generator=generator)
            block = torch.randn(2, 3, rows, 48, generator=generator)
            for out in (block.clone()[:, 1], block[:, 2].contiguous()):  # apart, or one buffer
                expected = [
                    tiles.addmm_(out[d].clone(), x[d], row_major(weights[d]), found)
                    for d in range(2)
                ]
                got = tiles.paired_addmm_(out, x, w_t, found)
                assert got is out
                for d in range(2):
                    assert torch.equal(got[d], expected[d]), (rows, d)
            products = tiles.paired_mm(x, w_t, found)
            for d in range(2):
                alone = tiles.addmm(None, x[d], row_major(weights[d]), found)
                assert torch.equal(products[d], alone), (rows, d)


def test_pointwise_on_rows_of_a_block_apart_in_memory_gives_the_bits_of_a_contiguous_copy():
    x = torch.randn(2, 5, 7, 256, generator=torch.Generator().manual_seed(2)) * 4
    step = x[:, 3]  # (2, 7, 256): each direction's rows together, the two a block apart
    with torch.no_grad():
        got = tiles.sigmoid(step)
        assert torch.equal(got, tiles.sigmoid(step.contiguous()))
        assert torch.equal(got.reshape(-1), pointwise(torch.sigmoid, step.reshape(-1)))


def test_tanh_from_sigmoid_of_the_doubled_input_has_the_bits_of_tanh():
    x = torch.randn(1 << 16) * 4
    with torch.no_grad():
        s = pointwise(torch.sigmoid, 2 * x)
        assert torch.equal(tanh_from_sigmoid(s), s.clone().mul_(2.0).sub_(1.0))
        assert torch.equal(tanh_from_sigmoid(s), tiles.tanh(x))


@pytest.mark.parametrize("threads", [1, 2])
def test_a_tile_among_others_gets_its_bits_alone_whatever_the_threads(threads):
    # Seen with two threads before each tile got a call of its own: a 4096-deep product's
    # tiles among others rounded apart from the same tile alone.
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(3)
        rows = max(platform_family(4096, 512, LARGEST))
        x = torch.randn(3 * rows, 4096, generator=generator)
        w_t = torch.randn(4096, 512, generator=generator)
        bias = torch.randn(512, generator=generator)
        together = addmm(bias, x, w_t, rows)
        for i in range(3):
            tile = x[i * rows : (i + 1) * rows]
            alone = addmm(bias, tile, w_t, rows)
            assert torch.equal(together[i * rows : (i + 1) * rows], alone), i
    finally:
        torch.set_num_threads(previous)


_OTHER_KERNELS = """
import json, sys
import numpy as np
import torch
from torch.nn import functional
sys.path.insert(0, sys.argv[1])
from elmo.nn import tiles
from elmo.inference.embedder import Embedder
from factories import random_sentences, tiny_model

torch.set_num_threads(int(sys.argv[2]))
generator = torch.Generator().manual_seed(0)
library, plain = True, True
for inner, outer in ((80, 512), (128, 2048), (512, 128)):
    x = torch.randn(300, inner, generator=generator)
    weight, bias = torch.randn(outer, inner, generator=generator), torch.randn(outer)
    w_t = weight.t().contiguous()
    step = tiles.step_tiles(w_t)
    with torch.no_grad():
        full, full_plain = tiles.linear(x, weight, bias), functional.linear(x, weight, bias)
        full_step = tiles.addmm(bias, x, w_t, step)
        for rows in (1, 2, 3, 7, 8, 16, 31, 64, 129):
            library &= torch.equal(tiles.linear(x[:rows], weight, bias), full[:rows])
            library &= torch.equal(tiles.addmm(bias, x[:rows], w_t, step), full_step[:rows])
            plain &= torch.equal(functional.linear(x[:rows], weight, bias), full_plain[:rows])
sentences = random_sentences(20, 25, seed=6)
model = tiny_model("lstm", seed=2)
batched = Embedder(model, batch_size=20).embed_tokens(sentences)
for i in (0, 7, 19):
    alone = Embedder(model).embed_tokens([sentences[i]])[0]
    library &= bool(np.array_equal(alone, batched[i]))
print(json.dumps({"library": library, "plain": plain,
                  "capability": torch.backends.cpu.get_cpu_capability()}))
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_rows_keep_their_bits_with_the_blas_kernels_of_an_avx2_cpu(threads):
    """MKL's AVX2 kernels (those of Intel CPUs without AVX-512, most laptops and older
    servers) compute the last 2 rows of an 8-row tile apart from the other 6.  This machine is
    made to run them, and a sentence must still get the same bits in any batch."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from elmo.machine import _blas

    if _blas() != "mkl" or torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("needs MKL on an x86-64 CPU with AVX2")
    env = {
        **os.environ,
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "OMP_NUM_THREADS": str(threads),
    }
    tests_dir = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_KERNELS, str(tests_dir), str(threads)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["capability"] == "AVX2"
    if result["plain"]:
        pytest.skip("plain products keep rows alike with these kernels: nothing to prove")
    assert result["library"], "a row's bits depend on its batch with MKL's AVX2 kernels"
