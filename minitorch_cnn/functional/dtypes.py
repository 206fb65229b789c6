"""dtype rules, in one place: what dtype an op on mixed operands gives (PyTorch's type
promotion), and the checks of the ops that compute in floating point only.

Promotion, as torch does it (NumPy's own rules differ, and would turn a float32 network
float64 behind the user's back):
- kinds rank bool < integer < float; within a kind the wider dtype wins;
- a tensor with dims outranks a 0-d tensor, which outranks a Python number, unless the
  lesser operand is of a higher kind: then the result is that kind, in its dtype for a
  0-d tensor and in the default dtype (float32) for a Python float;
- so float32 * int64 -> float32, int64 * 2.5 -> float32, float32 * float64 0-d -> float32,
  bool * 2 -> int64; and true division of integers gives the default float dtype.
A NumPy array counts as a tensor with dims (or 0-d), a NumPy scalar as a Python number.

minitorch_cnn computes in float32 and float64: the kernels of the network ops (conv,
linear, pooling, normalisation, the activations but ReLU) take those two only.
"""
import numbers

import numpy as np

from .. import backend

__all__ = ["result_type", "promote", "check_float", "check_same_dtype"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _promote_pair(a, b):
    """torch.promote_types for real dtypes: a float beats an integer or bool outright
    (int64 + float32 -> float32, where NumPy says float64); otherwise NumPy's rule."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    fa, fb = a.kind == "f", b.kind == "f"
    if fa != fb:
        return a if fa else b
    return np.promote_types(a, b)


def _combine(higher, lower):
    """A higher-priority result (dims over 0-d over numbers) keeps its dtype unless the
    lower one is of a higher kind (torch's combine_categories)."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return _promote_pair(higher, lower)
    return higher


def _number_dtype(v):
    if isinstance(v, bool):
        return np.dtype(bool)
    if isinstance(v, numbers.Integral):
        return np.dtype(np.int64)
    return backend.get_default_dtype()                # a Python float


def result_type(*operands):
    """The dtype of an elementwise op on ``operands`` (Tensors, arrays, numbers)."""
    dims = zero = number = None
    for o in operands:
        dtype = getattr(o, "dtype", None)
        if dtype is None or isinstance(o, np.generic):
            number = _promote_pair(number, _number_dtype(o.item() if isinstance(o, np.generic)
                                                         else o))
        elif o.ndim > 0:
            dims = _promote_pair(dims, np.dtype(dtype))
        else:
            zero = _promote_pair(zero, np.dtype(dtype))
    return _combine(dims, _combine(zero, number))


def promote(dtype, *operands):
    """``operands`` with every Tensor and array cast to ``dtype`` (a Tensor through
    ``.to``, which stays in the graph); Python numbers are left as they are."""
    out = []
    for o in operands:
        if hasattr(o, "dtype") and not isinstance(o, np.generic) and o.dtype != dtype:
            o = o.to(dtype) if hasattr(o, "grad_fn") else o.astype(dtype)
        out.append(o)
    return out


def check_float(op, x, what="input"):
    """Raise a clear TypeError unless ``x`` (a Tensor, an array or a dtype) is float32 or
    float64."""
    dtype = getattr(x, "dtype", x)
    if dtype in FLOAT_DTYPES:
        return
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        raise TypeError(f"{op}: float16 {what} is not supported (minitorch_cnn computes in "
                        f"float32 or float64); convert it with x.float()")
    raise TypeError(f"{op}: expected a floating-point {what} (float32 or float64), got "
                    f"{dtype}; convert it with x.float()")


def check_same_dtype(op, x, **params):
    """Raise a clear TypeError unless every Tensor in ``params`` (name=tensor, None
    skipped) has the dtype of the input ``x``: say which differs, and what to do."""
    check_float(op, x)
    for name, p in params.items():
        if p is not None and p.dtype != x.dtype:
            raise TypeError(f"{op}: input dtype {x.dtype} and {name} dtype {p.dtype} "
                            f"differ; make them one dtype (input.to({p.dtype}) or "
                            f"{name}.to({x.dtype}))")


def mismatch_message(layer, x_dtype, p_dtype, what="weight"):
    """The error a layer gives for an input whose dtype is not its parameters'."""
    if x_dtype.kind == "f" and x_dtype in FLOAT_DTYPES and p_dtype in FLOAT_DTYPES:
        fix = (f"convert the input with x.{_method(p_dtype)}() or the model with "
               f"model.{_method(x_dtype)}()")
    else:
        fix = f"convert the input with x.{_method(p_dtype)}()"
    return (f"{layer}: expected input dtype {p_dtype} (the dtype of its {what}), got "
            f"{x_dtype}; {fix}")


def _method(dtype):
    return "double" if dtype == np.float64 else "float"
