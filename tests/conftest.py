"""Shared fixtures: every test that takes ``device`` runs on the CPU (NumPy) and, where
CuPy and a GPU are present, again on CUDA (CuPy); without a GPU those cases skip."""
import numpy as np
import pytest

import minitorch_cnn as mt


def _cuda_ok():
    return mt.cuda_is_available()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    if request.param == "cuda" and not _cuda_ok():
        pytest.skip("CuPy with a CUDA GPU is not available")
    return request.param


@pytest.fixture
def xp(device):
    """numpy or cupy, matching ``device``."""
    return mt.backend.xp_for(device)


@pytest.fixture(autouse=True)
def _seed():
    mt.manual_seed(0)
    np.random.seed(0)
    yield


def to_numpy(a):
    """A NumPy array from a Tensor, a torch tensor, a CuPy or NumPy array."""
    if isinstance(a, mt.Tensor):
        a = a.data
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return mt.backend.to_device(a, "cpu")
