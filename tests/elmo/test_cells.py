import pytest
import torch

from elmo.cells import LSTMPCell
from elmo.config import RecurrentConfig


def lstm(hidden: int, projection: int, clip: float | None = None) -> LSTMPCell:
    torch.manual_seed(0)
    config = RecurrentConfig(
        cell="lstm",
        hidden_size=hidden,
        projection_size=projection,
        num_layers=1,
        cell_clip=clip,
        proj_clip=clip,
    )
    return LSTMPCell(16, config).eval()


@pytest.mark.parametrize(("hidden", "projection"), [(64, 32), (512, 128), (1024, 512)])
def test_a_row_gets_the_same_bits_from_the_block_kernel_and_from_python_steps(hidden, projection):
    # Next to a row of 3 steps, the 40-step row runs alone from step 3 on: Python steps with an
    # extra row.  Next to rows as long as it, every block goes to PyTorch's step loop.
    cell = lstm(hidden, projection)
    torch.manual_seed(1)
    row = torch.randn(1, 40, 16)
    others = torch.randn(2, 40, 16)
    with torch.no_grad():
        state = cell.initial_state(3, row)
        alone, (h_a, c_a) = cell(torch.cat([row, others[:1]]), torch.tensor([40, 3]), state[:2])
        among, (h_b, c_b) = cell(torch.cat([row, others]), torch.tensor([40, 40, 40]), state)
        _, (h_c, c_c) = cell(others, torch.tensor([3, 3]), state[:2])
    assert torch.equal(alone[0], among[0])
    assert torch.equal(h_a[0], h_b[0]) and torch.equal(c_a[0], c_b[0])
    # the short row ran beside the long one as its extra row, and kept its own final state
    assert torch.equal(h_a[1], h_c[0]) and torch.equal(c_a[1], c_c[0])


def test_the_block_kernel_runs_on_a_cpu_without_gradients_for_unclipped_lstms(monkeypatch):
    calls = []
    original = LSTMPCell.block_kernel

    def spy(self, *args):
        calls.append(args[1])  # sizes
        return original(self, *args)

    monkeypatch.setattr(LSTMPCell, "block_kernel", spy)
    x = torch.randn(4, 12, 16)
    lengths = torch.tensor([12, 9, 9, 2])
    for cell, grad, expected in [
        (lstm(32, 16), False, True),
        (lstm(32, 16), True, False),  # training runs PyTorch's whole-sequence kernel
        (lstm(32, 16, clip=3.0), False, False),  # PyTorch's LSTM does not clip
    ]:
        calls.clear()
        with torch.set_grad_enabled(grad):
            out, _ = cell(x, lengths, cell.initial_state(4, x))
        assert bool(calls) == expected
        assert torch.count_nonzero(out[3, 2:]) == 0  # padding stays exactly 0
    with torch.no_grad():
        calls.clear()
        cell = lstm(32, 16)
        reference, states = cell(x, lengths, cell.initial_state(4, x))
        monkeypatch.setattr(LSTMPCell, "has_block_kernel", lambda self: False)
        stepped, stepped_states = cell(x, lengths, cell.initial_state(4, x))
    torch.testing.assert_close(reference, stepped, rtol=0, atol=1e-6)
    for a, b in zip(states, stepped_states, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
