"""Shared fixtures: every test that takes ``device`` runs on the CPU (NumPy) and, where
CuPy and a GPU are present, again on CUDA (CuPy); without a GPU those cases skip."""
import os
import re
import warnings

import numpy as np
import pytest

import minitorch_cnn as mt

# PyTorch is the oracle: its version is pinned in requirements-oracle.txt (the CPU build)
_PIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "requirements-oracle.txt")
try:
    import torch
except ImportError:                                   # pragma: no cover - setup error
    pytest.exit("the tests compare every op with PyTorch, which is not installed: run "
                "pip install -r requirements-oracle.txt (its CPU build, no GPU needed)",
                returncode=4)
if os.path.exists(_PIN):
    _pinned = re.search(r"^torch==([\w.]+)", open(_PIN).read(), re.M)
    if _pinned and torch.__version__.split("+")[0] != _pinned.group(1):
        warnings.warn(f"torch {torch.__version__} is installed, the oracle is pinned at "
                      f"{_pinned.group(1)} (requirements-oracle.txt); results may differ")


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
