import pytest
import torch
from torch.nn import functional

from elmo.rowmajor import linear, row_major


def test_row_major_is_the_transpose_laid_out_by_rows():
    weight = torch.randn(5, 3)
    copy = row_major(weight)
    assert copy.is_contiguous() and torch.equal(copy, weight.t())


@pytest.mark.parametrize("shape", [(7, 12), (2, 3, 12), (0, 12)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_equals_torch_linear_for_any_leading_shape(shape, with_bias):
    x, weight = torch.randn(*shape), torch.randn(9, 12)
    bias = torch.randn(9) if with_bias else None
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


def test_rows_of_a_product_do_not_depend_on_how_many_rows_it_has():
    """The property the library relies on for batch-independent vectors (inner size <= 512)."""
    torch.manual_seed(0)
    for inner, outer in ((80, 512), (128, 2048), (512, 128), (512, 1024)):
        x, weight, bias = torch.randn(300, inner), torch.randn(outer, inner), torch.randn(outer)
        full = linear(x, weight, bias)
        for rows in (2, 3, 7, 16, 31, 64, 129):
            assert torch.equal(linear(x[:rows], weight, bias), full[:rows]), (inner, outer, rows)
