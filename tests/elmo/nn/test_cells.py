import pytest
import torch

from elmo.config import CELL_TYPES
from elmo.nn import tiles
from elmo.nn.cells import build_cell
from factories import one_layer


def cell_of(kind: str, hidden: int, projection: int, clip: float | None = None):
    torch.manual_seed(0)
    return build_cell(16, one_layer(kind, hidden, projection, clip)).eval()


@pytest.mark.parametrize("kind", CELL_TYPES)
@pytest.mark.parametrize(("hidden", "projection"), [(12, 6), (64, 32), (512, 128)])
def test_a_row_gets_the_same_bits_alone_and_beside_any_other_rows(kind, hidden, projection):
    clip = 3.0 if kind.startswith("lstm") else None
    cell = cell_of(kind, hidden, projection, clip)
    generator = torch.Generator().manual_seed(1)
    row = torch.randn(1, 23, 16, generator=generator)
    with torch.no_grad():
        alone, alone_state = cell(row, torch.tensor([23]), cell.initial_state(1, row))
        for batch in (2, 5, 17, 40):
            others = torch.randn(batch - 1, 30, 16, generator=generator)
            lengths = torch.randint(1, 31, (batch - 1,), generator=generator)
            x = torch.cat(
                [
                    others[: batch // 2],
                    torch.nn.functional.pad(row, (0, 0, 0, 7)),
                    others[batch // 2 :],
                ]
            )
            lengths = torch.cat([lengths[: batch // 2], torch.tensor([23]), lengths[batch // 2 :]])
            out, state = cell(x, lengths, cell.initial_state(batch, x))
            i = batch // 2
            assert torch.equal(out[i, :23], alone[0]), (kind, batch)
            assert torch.count_nonzero(out[i, 23:]) == 0  # padding stays exactly 0
            for mine, theirs in zip(state, alone_state, strict=True):
                assert torch.equal(mine[i], theirs[0]), (kind, batch)


@pytest.mark.parametrize("kind", CELL_TYPES)
def test_the_step_loop_with_and_without_gradients_agree(kind):
    cell = cell_of(kind, 32, 16)
    x = torch.randn(4, 12, 16)
    lengths = torch.tensor([12, 9, 9, 2])
    with torch.no_grad():
        tiled, tiled_state = cell.loop(x, lengths, cell.initial_state(4, x))
    plain, plain_state = cell.loop(x, lengths, cell.initial_state(4, x))  # training's loop
    torch.testing.assert_close(tiled, plain.detach(), rtol=0, atol=1e-6)
    for a, b in zip(tiled_state, plain_state, strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=0, atol=1e-6)


def _first_step(kind: str, cell, x: torch.Tensor) -> torch.Tensor:
    """The output of a first step (zero state) from the undoubled weights, with the library's
    pointwise functions: what the loop's doubled tanh gates must reproduce bit for bit."""
    w_ih_t, _, w_hr_t, _ = cell.loop_weights()
    pre = tiles.addmm(cell.input_bias(), x, w_ih_t)  # + 0 @ W_hh: exactly nothing
    if kind == "elman":
        return tiles.tanh(pre)
    if kind == "lstm":
        i, f, g, o = pre.chunk(4, dim=1)
        c = tiles.sigmoid(i) * tiles.tanh(g)
    else:  # cifg
        f, g, o = pre.chunk(3, dim=1)
        c = (1 - tiles.sigmoid(f)) * tiles.tanh(g)
    h = tiles.sigmoid(o) * tiles.tanh(c)
    return h if w_hr_t is None else tiles.step_matmul(h, w_hr_t)


@pytest.mark.parametrize("kind", ["lstm", "cifg", "elman"])
def test_tanh_gates_doubled_in_the_weights_give_the_bits_of_tanh_on_the_undoubled_ones(kind):
    cell = cell_of(kind, 64, 32 if kind != "elman" else 64)
    assert cell.tanh_gates is not None
    x = torch.randn(3, 1, 16) * 3
    with torch.no_grad():
        out, _ = cell.loop(x, torch.tensor([1, 1, 1]), cell.initial_state(3, x))
        assert torch.equal(out[:, 0], _first_step(kind, cell, x[:, 0]))
        assert torch.equal(cell.loop_weights().input, cell.input_weight().t())  # untouched


@pytest.mark.parametrize("kind", ["lstm", "elman"])
def test_loop_weights_made_for_the_other_path_are_made_again_not_misread(kind):
    cell = cell_of(kind, 32, 16 if kind == "lstm" else 32)
    x = torch.randn(3, 5, 16)
    lengths = torch.tensor([5, 4, 2])
    with torch.no_grad():
        expected, _ = cell.loop(x, lengths, cell.initial_state(3, x))
        for weights in (cell.loop_weights(), cell.loop_weights(exact=True)):
            out, _ = cell.loop(x, lengths, cell.initial_state(3, x), weights)
            assert torch.equal(out, expected)
    plain, _ = cell.loop(x, lengths, cell.initial_state(3, x), cell.loop_weights(exact=True))
    torch.testing.assert_close(plain.detach(), expected, rtol=0, atol=1e-6)  # with gradients
