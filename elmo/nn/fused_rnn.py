"""Running PyTorch's fused RNN kernels (cuDNN on GPU, oneDNN/ATen on CPU) on padded batches.

The recurrent cells keep their parameters in ``nn.LSTM``/``nn.GRU``/``nn.RNN`` modules so that
these kernels can run them.  Two details matter for ELMo: rows of different lengths are packed, so
each row's final state is the one at its own last unit, and fp32 models run in full fp32 on GPU.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

# An RNN's state: h (GRU, Elman) or (h, c) (LSTM); its final state has the same structure.
H = TypeVar("H", torch.Tensor, tuple[torch.Tensor, torch.Tensor])

__all__ = ["full_fp32_cudnn", "run_packed"]

# Under autocast the kernel gets freshly cast weights, which cuDNN copies into its own layout
# (a small cost next to the step); its warning about that is expected here, so it is muted.
warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")

_tf32_lock = threading.Lock()
_tf32_users = 0
_tf32_saved = True


@contextmanager
def full_fp32_cudnn(x: torch.Tensor) -> Iterator[None]:
    """cuDNN runs fp32 RNNs in TF32 by default, which moves results by ~1e-4 depending on the
    batch; an fp32 model must give the same vectors whatever its batch, so TF32 is off for it.
    (Under autocast the kernel runs in bf16/fp16 anyway.)  The switch is global, so concurrent
    callers share it: the first one in turns TF32 off, the last one out restores the setting."""
    global _tf32_users, _tf32_saved
    if not (x.is_cuda and x.dtype == torch.float32 and not torch.is_autocast_enabled()):
        yield
        return
    with _tf32_lock:
        if _tf32_users == 0:
            _tf32_saved = torch.backends.cudnn.allow_tf32
            torch.backends.cudnn.allow_tf32 = False
        _tf32_users += 1
    try:
        yield
    finally:
        with _tf32_lock:
            _tf32_users -= 1
            if _tf32_users == 0:
                torch.backends.cudnn.allow_tf32 = _tf32_saved


def run_packed(
    rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, hx: H
) -> tuple[torch.Tensor, H]:
    """Run ``rnn`` over ``x`` (B, T, Din) with per-row ``lengths`` (CPU); outputs past a row's
    length are 0 and the final state is each row's state at its last unit."""
    if torch.is_autocast_enabled(x.device.type):
        return _run_in_autocast_dtype(rnn, x, lengths, hx)
    with full_fp32_cudnn(x):
        return _run_packed_kernel(rnn, x, lengths, hx)


def _run_in_autocast_dtype(
    rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, hx: H
) -> tuple[torch.Tensor, H]:
    """Run the kernel in exactly the autocast dtype.  CUDA autocast would run cuDNN RNNs in fp16
    even under a bf16 autocast (fp16 gradients, no loss scaler); casting weights and inputs
    ourselves keeps bf16 bf16.  The casts stay in the graph, so gradients reach the fp32
    parameters."""
    dtype = torch.get_autocast_dtype(x.device.type)
    weights = {name: p.to(dtype) for name, p in rnn.named_parameters()}
    cast = lambda t: t.to(dtype)  # noqa: E731
    hx_cast: Any = tuple(map(cast, hx)) if isinstance(hx, tuple) else cast(hx)

    def call(inputs: object, state: object) -> tuple[object, object]:
        return torch.func.functional_call(rnn, weights, (inputs, state))

    with torch.autocast(x.device.type, enabled=False):
        return _run_packed_kernel(call, cast(x), lengths, hx_cast)


def _run_packed_kernel(
    rnn: Callable[[object, object], tuple[object, object]],
    x: torch.Tensor,
    lengths: torch.Tensor,
    hx: Any,
) -> tuple[torch.Tensor, Any]:
    steps = x.shape[1]
    if bool((lengths == steps).all()):
        out, final = rnn(x, hx)
        assert isinstance(out, torch.Tensor)
        return out, final
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, final = rnn(packed, hx)
    assert isinstance(out, PackedSequence)
    padded, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
    return padded, final
