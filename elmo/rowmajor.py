"""Matrix products whose rows do not depend on how many rows are multiplied (CPU).

``nn.Linear`` multiplies by a transposed view of its ``(out, in)`` weight.  For that layout MKL
picks other kernels for a few rows than for many, and the kernels round differently: a token's
vector then changes in the last bits with the size of its batch (measured on torch 2.13 CPU:
up to 1e-6 at the default model's layer 2), and for 16-32 rows the (512 → 128) projection runs
4-6x slower than from a row-major copy.  From a row-major ``(in, out)`` copy every row of a
product with at least two rows is computed identically (for inner sizes up to 512; wider
products of the 4096-cell published model still round by batch size), so the library multiplies
from such copies on the CPU.  The copy costs one pass over the weight per call, small next to
the products it feeds.  A one-row product takes a matrix-vector kernel that rounds differently
again; callers keep at least two rows (:class:`elmo.Embedder` adds a filler sentence).  On a
GPU, ``F.linear`` is used as is.
"""

from __future__ import annotations

import torch
from torch.nn import functional

__all__ = ["linear", "row_major"]


def row_major(weight: torch.Tensor) -> torch.Tensor:
    """``weight (out, in)`` → its transpose ``(in, out)`` laid out row-major."""
    return weight.t().contiguous()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight^T + bias`` for ``x (..., in)``, ``weight (out, in)`` → ``(..., out)``."""
    if x.device.type != "cpu":
        return functional.linear(x, weight, bias)
    flat = x.reshape(-1, x.shape[-1])  # (N, in)
    w_t = row_major(weight)  # (in, out)
    out = flat @ w_t if bias is None else torch.addmm(bias, flat, w_t)  # (N, out)
    return out.reshape(*x.shape[:-1], weight.shape[0])
