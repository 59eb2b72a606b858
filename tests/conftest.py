import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Same seed in every test; two threads like the CI machine."""
    torch.manual_seed(0)
    torch.set_num_threads(2)
