"""The LM head's summed cross-entropy in chunks: the plain loss and its gradients."""

import resource

import pytest
import torch
from torch.nn import functional

from elmo.nn.lm_head import LMHead, summed_cross_entropy


def _problem(n: int, dim: int, vocab: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, dim, generator=generator, requires_grad=True)
    head = torch.nn.Linear(dim, vocab)
    targets = torch.randint(0, vocab, (n,), generator=generator)
    targets[::5] = -100  # positions that predict nothing
    return hidden, head, targets


@pytest.mark.parametrize("chunk_elements", [1, 7 * 50, 50 * 64, 1 << 21])
def test_chunks_give_the_plain_summed_loss_and_its_gradients(chunk_elements):
    hidden, head, targets = _problem(203, 12, 50)
    plain = functional.cross_entropy(head(hidden), targets, reduction="sum")
    plain.backward()
    expected = [t.grad.clone() for t in (hidden, head.weight, head.bias)]
    for t in (hidden, head.weight, head.bias):
        t.grad = None
    loss = summed_cross_entropy(hidden, head.weight, head.bias, targets, chunk_elements)
    (loss * 3).backward()  # an upstream gradient other than 1 scales every gradient
    torch.testing.assert_close(loss, plain, rtol=1e-5, atol=1e-4)
    for got, want in zip((hidden.grad, head.weight.grad, head.bias.grad), expected, strict=True):
        torch.testing.assert_close(got, 3 * want, rtol=1e-4, atol=1e-5)


def test_without_gradients_only_the_loss_is_computed():
    hidden, head, targets = _problem(64, 8, 30)
    with torch.no_grad():
        loss = summed_cross_entropy(hidden, head.weight, head.bias, targets)
        plain = functional.cross_entropy(head(hidden), targets, reduction="sum")
    assert not loss.requires_grad
    torch.testing.assert_close(loss, plain, rtol=1e-5, atol=1e-4)


def test_a_frozen_softmax_gets_no_gradient_and_the_input_does():
    hidden, head, targets = _problem(40, 8, 30)
    head.requires_grad_(False)
    summed_cross_entropy(hidden, head.weight, head.bias, targets).backward()
    assert hidden.grad is not None and head.weight.grad is None and head.bias.grad is None


def test_the_heads_summed_losses_use_chunks_on_a_cpu_and_match_the_plain_loss():
    torch.manual_seed(0)
    head = LMHead(16, 300).eval()
    top_f, top_b = torch.randn(3, 9, 16), torch.randn(3, 9, 16)
    targets_f = torch.randint(0, 300, (3, 8))
    targets_b = torch.randint(0, 300, (3, 8))
    targets_f[2, 5:] = -100
    targets_b[2, 5:] = -100
    fwd, bwd = head.summed_losses(top_f, top_b, targets_f, targets_b)
    logits_f = head(top_f[:, :-1]).reshape(-1, 300)
    logits_b = head(top_b[:, 1:]).reshape(-1, 300)
    want_f = functional.cross_entropy(logits_f, targets_f.reshape(-1), reduction="sum")
    want_b = functional.cross_entropy(logits_b, targets_b.reshape(-1), reduction="sum")
    torch.testing.assert_close(fwd, want_f, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(bwd, want_b, rtol=1e-5, atol=1e-4)


def test_a_large_batch_maps_no_fresh_memory_for_its_logits():
    # The plain loss of 4,096 predictions over 8,000 pieces maps ~130 MB tensors from the OS
    # and faults each of their pages in; in chunks the logits are small and reused.
    hidden, head, targets = _problem(4096, 32, 8000)
    summed_cross_entropy(hidden, head.weight, head.bias, targets).backward()  # warm
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    summed_cross_entropy(hidden, head.weight, head.bias, targets).backward()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    logits_pages = 4096 * 8000 * 4 // 4096
    assert faults < logits_pages // 4, faults
