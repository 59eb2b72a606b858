"""The language-model head: one softmax shared by both directions, and the joint loss.

The forward top layer at position t predicts unit t + 1, the backward top layer at t predicts
unit t - 1; the loss is the mean of the two cross-entropies (each averaged over its predicted
positions).  Only real positions are scored, so padding costs no softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

__all__ = [
    "CHUNK_ELEMENTS",
    "NOT_PREDICTED",
    "LMHead",
    "LMLoss",
    "lm_targets",
    "summed_cross_entropy",
]


@dataclass(frozen=True)
class LMLoss:
    """Mean cross-entropies (nats per predicted unit) and the number of predictions each."""

    forward: torch.Tensor
    backward: torch.Tensor
    count: int

    @property
    def loss(self) -> torch.Tensor:
        return (self.forward + self.backward) / 2


NOT_PREDICTED = -100  # a target where nothing is predicted (cross_entropy's ignore_index)


def lm_targets(unit_ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward targets ``(B, T - 1)`` of sequences with boundaries ``(B, T)`` of
    ``lengths`` units: position t predicts unit t + 1 forwards and t backwards from t + 1, where
    t + 1 is inside the sequence; :data:`NOT_PREDICTED` elsewhere."""
    steps = unit_ids.shape[1]
    positions = torch.arange(steps - 1, device=unit_ids.device).unsqueeze(0)  # (1, T-1)
    scored = positions < (lengths.to(unit_ids.device) - 1).unsqueeze(1)  # (B, T-1)
    return (
        torch.where(scored, unit_ids[:, 1:], NOT_PREDICTED),
        torch.where(scored, unit_ids[:, :-1], NOT_PREDICTED),
    )


class LMHead(nn.Module):
    """``(…, D)`` → ``(…, V)`` logits; the same weights serve both directions."""

    def __init__(self, dim: int, vocab_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.softmax = nn.Linear(dim, vocab_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.softmax(self.dropout(hidden))

    def loss(
        self,
        forward_top: torch.Tensor,
        backward_top: torch.Tensor,
        unit_ids: torch.Tensor,
        lengths: torch.Tensor,
    ) -> LMLoss:
        # forward_top, backward_top: (B, T, D); unit_ids: (B, T); lengths: (B,) incl. boundaries
        forward_targets, backward_targets = lm_targets(unit_ids, lengths)  # (B, T-1) each
        fwd, bwd = self.summed_losses(forward_top, backward_top, forward_targets, backward_targets)
        count = int((forward_targets != NOT_PREDICTED).sum())
        return LMLoss(forward=fwd / count, backward=bwd / count, count=count)

    def summed_losses(
        self,
        forward_top: torch.Tensor,
        backward_top: torch.Tensor,
        forward_targets: torch.Tensor,
        backward_targets: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed forward and backward cross-entropies, for training without host syncs.

        forward_top, backward_top: (B, T, D); targets (B, T - 1), :data:`NOT_PREDICTED` where
        nothing is predicted (:func:`lm_targets`).  The forward top at t is scored against
        ``forward_targets[:, t]`` (unit t + 1), the backward top at t + 1 against
        ``backward_targets[:, t]`` (unit t).
        """
        dim = self.softmax.in_features
        if forward_top.is_cpu and not torch.is_autocast_enabled("cpu"):
            weight, bias = self.softmax.weight, self.softmax.bias
            fwd_hidden = self.dropout(forward_top[:, :-1]).reshape(-1, dim)  # (B·(T-1), D)
            bwd_hidden = self.dropout(backward_top[:, 1:]).reshape(-1, dim)
            return (
                summed_cross_entropy(fwd_hidden, weight, bias, forward_targets.reshape(-1)),
                summed_cross_entropy(bwd_hidden, weight, bias, backward_targets.reshape(-1)),
            )
        vocab = self.softmax.out_features
        fwd = self(forward_top[:, :-1]).reshape(-1, vocab)  # (B·(T-1), V)
        bwd = self(backward_top[:, 1:]).reshape(-1, vocab)
        return (
            functional.cross_entropy(fwd, forward_targets.reshape(-1), reduction="sum"),
            functional.cross_entropy(bwd, backward_targets.reshape(-1), reduction="sum"),
        )


# Logits of one chunk of rows, in elements (8 MB of float32): one buffer, reused by every chunk
# of a call, large enough for the products to run at the BLAS's speed.
CHUNK_ELEMENTS = 1 << 21


def summed_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> torch.Tensor:
    """``cross_entropy(hidden @ weight^T + bias, targets, reduction="sum")`` for ``hidden (N,
    D)``, ``weight (V, D)``, ``targets (N,)`` (< 0: not scored), in chunks of rows.

    The whole ``(N, V)`` logits of a CPU training batch (131 MB for 4,096 units and 8,000
    pieces, several such tensors a step) are mapped fresh from the OS at every allocation and
    faulted in page by page, which cost as much system time as the softmax's arithmetic.  In
    chunks the logits live in one buffer that every chunk reuses, worked on in place; the
    gradients are made in the same pass over each chunk (the loss is a sum, so its gradient
    is the softmax minus the one-hot target, scaled in ``backward`` by the upstream
    gradient), which costs the same products as autograd would and keeps nothing of size
    ``N x V``.  Equal to the plain loss up to float rounding.
    """
    rows = max(1, chunk_elements // weight.shape[0])
    if not torch.is_grad_enabled():
        return _chunks(hidden, weight, bias, targets, rows, (False, False, False))[0]
    return _ChunkedCrossEntropy.apply(hidden, weight, bias, targets, rows)


Grads = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]


def _chunks(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    rows: int,
    wants: tuple[bool, ...],
) -> tuple[torch.Tensor, Grads]:
    """The summed loss and, where ``wants`` says so, its gradients for hidden, weight, bias."""
    grad_h = torch.empty_like(hidden) if wants[0] else None  # (N, D)
    grad_w = torch.zeros_like(weight) if wants[1] else None  # (V, D)
    grad_b = torch.zeros_like(bias) if wants[2] else None  # (V,)
    total = hidden.new_zeros(())
    buffer = hidden.new_empty(min(rows, hidden.shape[0]), weight.shape[0])  # one chunk's logits
    for lo in range(0, hidden.shape[0], rows):
        h, t = hidden[lo : lo + rows], targets[lo : lo + rows]  # (c, D), (c,)
        logits = torch.addmm(bias, h, weight.t(), out=buffer[: len(t)])  # (c, V)
        scored = (t >= 0).to(logits.dtype)  # (c,)
        index = t.clamp(min=0)
        picked = logits.gather(1, index[:, None])[:, 0]  # (c,)
        top = logits.amax(1)  # (c,)
        sums = logits.sub_(top[:, None]).exp_().sum(1)  # in place: no second (c, V) tensor
        total = total + ((sums.log() + top - picked) * scored).sum()
        if not any(wants):
            continue
        p = logits.div_(sums[:, None])  # the softmax
        p[torch.arange(len(t)), index] -= 1.0
        p.mul_(scored[:, None])  # d(sum of losses) / d(logits), (c, V)
        if grad_h is not None:
            torch.mm(p, weight, out=grad_h[lo : lo + rows])
        if grad_w is not None:
            grad_w.addmm_(p.t(), h)
        if grad_b is not None:
            grad_b.add_(p.sum(0))
    return total, (grad_h, grad_w, grad_b)


class _ChunkedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        targets: torch.Tensor,
        rows: int,
    ) -> torch.Tensor:
        # FunctionCtx declares none of the attributes autograd gives it (needs_input_grad,
        # saved_tensors) or that a Function sets on it (made): the ignores below are that
        wants = tuple(ctx.needs_input_grad[:3])  # type: ignore[attr-defined]
        total, grads = _chunks(hidden, weight, bias, targets, rows, wants)
        ctx.save_for_backward(*(g for g in grads if g is not None))
        ctx.made = tuple(g is not None for g in grads)  # type: ignore[attr-defined]
        return total

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        saved = iter(ctx.saved_tensors)  # type: ignore[attr-defined]
        made = [next(saved) * grad if flag else None for flag in ctx.made]  # type: ignore[attr-defined]
        return made[0], made[1], made[2], None, None
