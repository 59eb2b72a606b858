import pytest
import torch

from elmo.config import RecurrentConfig
from elmo.nn import step_loop, tiles
from elmo.nn.cells import build_cell
from elmo.nn.recurrent import BiRecurrent, reverse_padded
from elmo.nn.step_loop import can_pair, pair_weights, pays_to_pair, run_loop, run_pair
from factories import one_layer

PAIRABLE = [("lstm", 3.0), ("lstm", None), ("cifg", None), ("elman", None)]


def skip_unless_the_machine_keeps_pairs(cell) -> None:
    """Where this machine's BLAS rounds a batched pair of products apart (a property of the
    platform, :func:`elmo.nn.tiles.pairs_agree`), directions never step together: nothing to
    compare."""
    shapes = [cell.recurrent_weight().shape[::-1]]
    if cell.projection_weight() is not None:
        shapes.append(cell.projection_weight().shape[::-1])
    for inner, outer in shapes:
        found = tiles.step_tiles(torch.empty(inner, outer))
        if found is None or not tiles.pairs_agree(inner, outer, found):
            pytest.skip(f"this machine rounds batched ({inner}, {outer}) pairs apart")


def pair_of(kind: str, hidden: int, projection: int, clip: float | None, inputs: int = 16):
    """A layer's forward and backward cells: one kind and shape, weights of their own."""
    config = one_layer(kind, hidden, projection, clip)
    torch.manual_seed(0)
    forward = build_cell(inputs, config).eval()
    backward = build_cell(inputs, config).eval()
    return forward, backward


@pytest.mark.parametrize(("kind", "clip"), PAIRABLE)
@pytest.mark.parametrize(("hidden", "projection"), [(12, 6), (512, 128)])
@pytest.mark.parametrize("batch", [1, 3, 8, 41])
def test_two_cells_stepped_together_give_each_the_bits_of_its_own_loop(
    kind, clip, hidden, projection, batch
):
    cells = pair_of(kind, hidden, projection, clip)
    generator = torch.Generator().manual_seed(batch)
    steps = 19
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)  # unsorted, ties
    lengths[batch // 2] = steps
    xs = tuple(torch.randn(batch, steps, 16, generator=generator) for _ in range(2))
    states = tuple(
        tuple(torch.randn(batch, size, generator=generator) for size in cell.state_sizes)
        for cell in cells
    )
    with torch.no_grad():
        skip_unless_the_machine_keeps_pairs(cells[0])
        assert can_pair(cells, xs[0])
        outs, finals = run_pair(cells, (xs[0], xs[1]), lengths, (states[0], states[1]))
        for d in range(2):
            alone, alone_final = run_loop(cells[d], xs[d], lengths, states[d])
            assert torch.equal(outs[d], alone), (kind, batch, d)
            for mine, theirs in zip(finals[d], alone_final, strict=True):
                assert torch.equal(mine, theirs), (kind, batch, d)


def test_weights_made_once_for_a_pair_give_the_bits_of_weights_made_each_call():
    cells = pair_of("lstm", 64, 32, 3.0)
    xs = (torch.randn(5, 9, 16), torch.randn(5, 9, 16))
    lengths = torch.tensor([9, 4, 9, 1, 6])
    states = tuple(tuple(torch.zeros(5, s) for s in c.state_sizes) for c in cells)
    with torch.no_grad():
        skip_unless_the_machine_keeps_pairs(cells[0])
        made = pair_weights(cells)
        given = run_pair(cells, xs, lengths, (states[0], states[1]), made)
        fresh = run_pair(cells, xs, lengths, (states[0], states[1]))
    for a, b in zip(given[0], fresh[0], strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["lstm_peephole", "gru"])
def test_cells_whose_step_reads_parameters_of_their_own_do_not_pair(kind):
    cells = pair_of(kind, 12, 12, None)
    with torch.no_grad():
        assert not can_pair(cells, torch.zeros(1, 16))


def test_cells_pair_only_without_gradients_and_where_the_machine_keeps_the_bits(monkeypatch):
    cells = pair_of("lstm", 12, 6, None)
    like = torch.zeros(1, 16)
    assert not can_pair(cells, like)  # gradients on: training's loop
    with torch.no_grad():
        skip_unless_the_machine_keeps_pairs(cells[0])
        assert can_pair(cells, like)
        assert not can_pair((cells[0], pair_of("lstm", 16, 6, None)[1]), like)  # other shape
        monkeypatch.setattr(step_loop, "pairs_agree", lambda *args, **kwargs: False)
        assert not can_pair(cells, like)


def test_the_published_models_large_matrices_step_their_directions_apart():
    cells = pair_of("lstm", 4096, 512, 3.0, inputs=8)
    with torch.no_grad():
        assert not can_pair(cells, torch.zeros(1, 8))


def test_a_large_batch_steps_its_directions_apart():
    cell = pair_of("lstm", 512, 128, None)[0]  # G = 2048
    assert pays_to_pair(cell, 1)
    assert pays_to_pair(cell, 16)
    assert not pays_to_pair(cell, 17)


@pytest.mark.parametrize(("kind", "clip"), PAIRABLE)
def test_the_stacks_stepping_together_give_the_bits_of_each_stack_alone(kind, clip, monkeypatch):
    config = RecurrentConfig(
        cell=kind, hidden_size=24, projection_size=8, num_layers=2, cell_clip=clip, proj_clip=clip
    )
    torch.manual_seed(3)
    recurrent = BiRecurrent(8, config).eval()
    x = torch.randn(6, 11, 8)
    lengths = torch.tensor([11, 3, 7, 11, 1, 5])
    with torch.no_grad():
        skip_unless_the_machine_keeps_pairs(recurrent.forward_stack.stack()[0].cell)
        assert recurrent.pairs(x)
        together = recurrent(x, lengths)
        monkeypatch.setattr(BiRecurrent, "pairs", lambda self, x: False)
        apart = recurrent(x, lengths)
    for a, b in zip(together[0] + together[1], apart[0] + apart[1], strict=True):
        assert torch.equal(a, b)


def test_stacks_in_training_mode_step_apart_so_that_dropout_draws_its_masks_as_before():
    config = RecurrentConfig(hidden_size=24, projection_size=8, num_layers=2)
    recurrent = BiRecurrent(8, config, dropout=0.5)
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        assert not recurrent.pairs(x)
        recurrent.eval()
        skip_unless_the_machine_keeps_pairs(recurrent.forward_stack.stack()[0].cell)
        assert recurrent.pairs(x)


def test_a_sentence_gets_the_same_bits_in_a_paired_small_batch_and_an_unpaired_large_one(
    monkeypatch,
):
    monkeypatch.setattr(step_loop, "_PAIRED_MAX_ELEMENTS", 4 * 96)  # G = 96: pairs up to 4 rows
    config = RecurrentConfig(hidden_size=24, projection_size=8, num_layers=2)
    torch.manual_seed(4)
    recurrent = BiRecurrent(8, config).eval()
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(9, 13, 8, generator=generator)
    lengths = torch.randint(1, 14, (9,), generator=generator)
    with torch.no_grad():
        skip_unless_the_machine_keeps_pairs(recurrent.forward_stack.stack()[0].cell)
        assert not recurrent.pairs(x)
        batched = recurrent(x, lengths)
        for i in range(9):
            assert recurrent.pairs(x[i : i + 1])
            alone = recurrent(x[i : i + 1], lengths[i : i + 1])
            n = int(lengths[i])
            for a, b in zip(alone[0] + alone[1], batched[0] + batched[1], strict=True):
                assert torch.equal(a[0, :n], b[i, :n]), i


def test_the_backward_direction_reads_its_input_reversed_within_each_length():
    """The pair's second input is the backward stack's: reversed within each sentence, so both
    directions run the same rows for the same steps."""
    cells = pair_of("lstm", 12, 6, None)
    x = torch.randn(3, 7, 16)
    lengths = torch.tensor([7, 2, 5])
    states = tuple(tuple(torch.zeros(3, s) for s in c.state_sizes) for c in cells)
    with torch.no_grad():
        skip_unless_the_machine_keeps_pairs(cells[0])
        (_, backward), _ = run_pair(cells, (x, reverse_padded(x, lengths)), lengths, states)
        alone, _ = run_loop(cells[1], reverse_padded(x, lengths), lengths, states[1])
    assert torch.equal(backward, alone)
    assert torch.count_nonzero(backward[1, 2:]) == 0  # padding stays exactly 0


def test_pairs_agree_finds_a_batched_pair_that_rounds_a_direction_apart(monkeypatch):
    honest = tiles.paired_addmm_

    def off_by_a_bit(out, x, w_t, tile_sizes):
        result = honest(out, x, w_t, tile_sizes)
        result[1, 0, 0] = torch.nextafter(result[1, 0, 0], torch.tensor(float("inf")))
        return result

    tiles._pairs_agree.cache_clear()
    monkeypatch.setattr(tiles, "paired_addmm_", off_by_a_bit)
    try:
        assert not tiles.pairs_agree(32, 64, (4, 8))
    finally:
        tiles._pairs_agree.cache_clear()
