import random

import numpy as np
import pytest
import torch

from elmo.config import RecurrentConfig
from elmo.nn.bilm import add_sentence_boundaries, mask_and_lengths
from elmo.nn.cells import CIFGCell, PeepholeLSTMCell
from elmo.nn.chars import batch_to_char_ids
from elmo.nn.recurrent import BiRecurrent, reverse_padded
from factories import ALL_CELLS, random_sentences, tiny_model


def test_reverse_padded_reverses_within_length_and_is_an_involution():
    x = torch.arange(12).view(2, 6)[..., None].float()  # (2, 6, 1)
    lengths = torch.tensor([6, 3])
    out = reverse_padded(x, lengths)
    assert out[0, :, 0].tolist() == [5, 4, 3, 2, 1, 0]
    assert out[1, :, 0].tolist() == [8, 7, 6, 9, 10, 11]
    assert torch.equal(reverse_padded(out, lengths), x)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_fused_kernel_equals_step_loop(cell):
    config = RecurrentConfig(
        cell=cell, hidden_size=10, projection_size=5, num_layers=2, cell_clip=None, proj_clip=None
    )
    recurrent = BiRecurrent(5, config)
    x = torch.randn(3, 7, 5)
    lengths = torch.tensor([7, 2, 5])
    fused = recurrent(x, lengths)  # with gradients: PyTorch's kernel
    recurrent.use_fused = False
    looped = recurrent(x, lengths)
    with torch.no_grad():  # on a CPU without gradients the loop runs whatever use_fused says
        recurrent.use_fused = True
        extracted = recurrent(x, lengths)
    pairs = zip(
        fused[0] + fused[1], looped[0] + looped[1], extracted[0] + extracted[1], strict=True
    )
    for a, b, c in pairs:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        # extraction multiplies in row tiles (elmo.nn.tiles): the same steps, rounded apart
        torch.testing.assert_close(c, b.detach(), rtol=1e-5, atol=1e-6)
        assert torch.count_nonzero(b[1, 2:]) == 0  # padding stays exactly 0


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_loop_final_states_and_gradients_equal_the_fused_kernel_for_unsorted_rows(cell):
    config = RecurrentConfig(
        cell=cell, hidden_size=10, projection_size=5, num_layers=1, cell_clip=None, proj_clip=None
    )
    torch.manual_seed(13)
    layer = BiRecurrent(5, config).forward_stack.layers[0].cell
    x = torch.randn(4, 6, 5)
    lengths = torch.tensor([2, 6, 1, 4])  # unsorted, with a one-step row
    state = tuple(torch.randn(4, size) for size in layer.state_sizes)
    results = []
    for use_fused in (True, False):
        layer.zero_grad()
        out, final = layer(x, lengths, state, use_fused)
        (out.square().sum() + sum(s.sum() for s in final)).backward()
        grads = [p.grad.clone() for p in layer.parameters()]
        results.append((out.detach(), [s.detach() for s in final], grads))
    (out_f, final_f, grads_f), (out_l, final_l, grads_l) = results
    torch.testing.assert_close(out_l, out_f, rtol=1e-5, atol=1e-6)
    for a, b in zip(final_l + grads_l, final_f + grads_f, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def numpy_lstm(cell, x, peephole: bool, cifg: bool) -> np.ndarray:
    """Float64 reference of one LSTM-family layer over one sentence, written from the equations."""
    w_ih, w_hh = cell.weight_ih.detach().double().numpy(), cell.weight_hh.detach().double().numpy()
    bias, w_hr = cell.bias.detach().double().numpy(), cell.weight_hr.detach().double().numpy()
    hidden = w_hr.shape[1]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, c, out = np.zeros(w_hh.shape[1]), np.zeros(hidden), []
    for x_t in x.double().numpy():
        z = w_ih @ x_t + w_hh @ h + bias
        if cifg:
            f, g, o = np.split(z, 3)
            f = sig(f)
            c = np.clip(f * c + (1 - f) * np.tanh(g), -cell.cell_clip, cell.cell_clip)
            o = sig(o)
        else:
            i, f, g, o = np.split(z, 4)
            p_i, p_f, p_o = cell.peephole.detach().double().numpy() if peephole else (0, 0, 0)
            c = sig(f + p_f * c) * c + sig(i + p_i * c) * np.tanh(g)
            c = np.clip(c, -cell.cell_clip, cell.cell_clip)
            o = sig(o + p_o * c)
        h = np.clip(w_hr @ (o * np.tanh(c)), -cell.proj_clip, cell.proj_clip)
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("kind", ["peephole", "cifg"])
def test_loop_only_cells_follow_their_equations(kind):
    config = RecurrentConfig(
        cell="lstm_peephole" if kind == "peephole" else "cifg",
        hidden_size=8,
        projection_size=4,
        cell_clip=0.5,
        proj_clip=0.3,
    )
    cell = (PeepholeLSTMCell if kind == "peephole" else CIFGCell)(3, config)
    x = torch.randn(6, 3) * 3
    with torch.no_grad():
        out, _ = cell(x[None], torch.tensor([6]), cell.initial_state(1, x))
    expected = numpy_lstm(cell, x, peephole=kind == "peephole", cifg=kind == "cifg")
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_sentence_vectors_do_not_depend_on_the_batch(cell):
    model = tiny_model(cell, seed=1)
    sentences = random_sentences(40, max_words=60, seed=2)
    sentences[7].append("ü" * 23)  # 46 bytes: batches holding it take the char-CNN's 50-slot path
    with torch.no_grad():
        alone = [model(batch_to_char_ids([s])).layers[:, 0] for s in sentences]
        order = list(range(len(sentences)))
        random.Random(3).shuffle(order)
        for start in range(0, len(order), 13):  # mixed batches of 13, 13, 13, 1
            chunk = order[start : start + 13]
            layers = model(batch_to_char_ids([sentences[i] for i in chunk])).layers
            for row, i in enumerate(chunk):
                n = len(sentences[i])
                torch.testing.assert_close(layers[:, row, :n], alone[i], rtol=0, atol=1e-5)
                assert torch.count_nonzero(layers[:, row, n:]) == 0


def test_stateful_rows_continue_from_their_own_previous_state():
    model = tiny_model("lstm", seed=4)
    first, second = random_sentences(2, 8, seed=5), random_sentences(2, 8, seed=6)
    n = len(second[1])
    with torch.no_grad():
        model.stateful = True
        model(batch_to_char_ids(first))
        carried = model(batch_to_char_ids(second)).layers[:, 1, :n]
        model.stateful = True  # resets: now run row 1's sentences alone, as row 0
        model(batch_to_char_ids(first[1:]))
        alone = model(batch_to_char_ids(second[1:])).layers[:, 0, :n]
        model.stateful = False
        fresh = model(batch_to_char_ids(second[1:])).layers[:, 0, :n]
    torch.testing.assert_close(carried, alone, rtol=0, atol=1e-6)
    assert not torch.allclose(carried[1:], fresh[1:], atol=1e-4)


def test_stateful_batch_of_another_size_keeps_other_rows():
    model = tiny_model("lstm", seed=4)
    model.stateful = True
    with torch.no_grad():
        model(batch_to_char_ids(random_sentences(3, 5, seed=7)))
        saved_row_two = model.recurrent._saved["forward"][0][0][2].clone()
        model(batch_to_char_ids(random_sentences(1, 5, seed=8)))
        assert torch.equal(model.recurrent._saved["forward"][0][0][2], saved_row_two)
        layers = model(batch_to_char_ids(random_sentences(4, 5, seed=9))).layers
    assert layers.shape[1] == 4


def test_weight_changes_after_a_no_grad_run_are_seen_by_the_next_run():
    """Nothing derived from the weights may be kept between runs and go stale."""
    model = tiny_model("lstm", seed=10)
    ids = batch_to_char_ids(random_sentences(3, 6, seed=11))
    with torch.no_grad():
        before = model(ids).layers
        for param in model.recurrent.parameters():
            param.data.mul_(0.5)  # .data: an in-place change that autograd's version misses
        after = model(ids).layers
    with torch.enable_grad():
        reference = model(ids).layers.detach()  # the uncached path
    assert not torch.allclose(before[1:], after[1:])
    torch.testing.assert_close(after, reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_bf16_autocast_runs_every_cell_in_bf16_and_trains_fp32_weights(cell):
    model = tiny_model(cell, clip=None, vocab_size=11).train()
    ids = batch_to_char_ids(random_sentences(3, 7, seed=12))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, forward, backward = model.encode(
            add_sentence_boundaries(ids, mask_and_lengths(ids)[1]), mask_and_lengths(ids)[1] + 2
        )
        assert forward[-1].dtype == backward[-1].dtype == torch.bfloat16
        (forward[-1].float().sum() + backward[-1].float().sum()).backward()
    for name, param in model.recurrent.named_parameters():
        assert param.dtype == torch.float32 and param.grad is not None, name
        assert param.grad.dtype == torch.float32, name
