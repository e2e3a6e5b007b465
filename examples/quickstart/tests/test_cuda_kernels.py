"""Tests that need a CUDA device; dtf places them only on workers offering `cuda`.

The quickstart's cluster simulates that worker, so these tests check where they ran
rather than calling a GPU.
"""

import pytest

pytestmark = pytest.mark.cuda


def test_runs_on_a_cuda_worker(device):
    assert device == "cuda", f"placed on a {device} worker"


@pytest.mark.parametrize("batch", [1, 8, 32])
def test_batched_gemm_shapes(batch):
    shape = (batch, 64, 64)
    assert shape[0] * shape[1] * shape[2] == batch * 4096
