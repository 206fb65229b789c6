"""``torch.backends``: the switches tutorials set, and what they mean here.

``backends.cudnn.benchmark`` and ``.deterministic`` are accepted and change nothing: this
engine does not use cuDNN (convolutions are im2col + one GEMM, on the GPU through
cuBLAS), and the algorithm a convolution runs depends on its shapes only, so runs repeat. ``backends.mps.is_available()`` is False: Apple's GPUs are not supported.
"""
import types

__all__ = ["cudnn", "mps"]

# settable attributes with torch's defaults; nothing reads them
cudnn = types.SimpleNamespace(enabled=True, benchmark=False, deterministic=False,
                              allow_tf32=True, is_available=lambda: False)
mps = types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
