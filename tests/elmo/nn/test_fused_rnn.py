import threading
from types import SimpleNamespace

import torch

from elmo.nn.fused_rnn import full_fp32_cudnn, run_packed

FAKE_CUDA_FP32 = SimpleNamespace(is_cuda=True, dtype=torch.float32)


def test_tf32_is_off_inside_and_restored_after_nested_and_concurrent_use():
    original = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        inside: list[bool] = []
        entered, release = threading.Barrier(3), threading.Event()

        def worker() -> None:
            with full_fp32_cudnn(FAKE_CUDA_FP32):
                entered.wait()
                release.wait()
                inside.append(torch.backends.cudnn.allow_tf32)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        entered.wait()
        with full_fp32_cudnn(FAKE_CUDA_FP32):
            assert torch.backends.cudnn.allow_tf32 is False
        release.set()
        for t in threads:
            t.join()
        assert inside == [False, False]
        assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = original


def test_cpu_tensors_leave_the_setting_alone():
    before = torch.backends.cudnn.allow_tf32
    with full_fp32_cudnn(torch.zeros(1)):
        assert torch.backends.cudnn.allow_tf32 is before


def test_packed_run_keeps_each_rows_final_state_and_zero_padding():
    rnn = torch.nn.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        out, h_n = run_packed(rnn, x, torch.tensor([5, 2]), torch.zeros(1, 2, 4))
        _, h_short = rnn(x[1:, :2], torch.zeros(1, 1, 4))
    assert torch.count_nonzero(out[1, 2:]) == 0
    torch.testing.assert_close(h_n[0, 1], h_short[0, 0])
