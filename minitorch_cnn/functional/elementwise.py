"""Elementwise arithmetic: z = f(x, y) applied entry by entry, with broadcasting.

Backward gives dL/dx = dL/dz * dz/dx at full broadcast shape; the autograd engine
sums it back down to x's shape (``unbroadcast``).

Mixed dtypes follow torch's promotion (``dtypes.py``): float32 tensor * 0.5 stays
float32, float32 * int64 is float32, int64 / int64 is float32; NumPy scalars count as
Python numbers. Comparisons (==, <, ...) and the bitwise ops on masks (&, |, ^, ~) give
tensors outside the graph.
"""
import numbers

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor, _as_array
from .dtypes import promote, result_type

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip",
           "clamp", "floor_divide", "remainder", "eq", "ne", "lt", "le", "gt", "ge",
           "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "logical_not",
           "is_operand"]


def _check_broadcast(op, a, b):
    """Shapes must broadcast; say which two did not (instead of NumPy's traceback)."""
    sa, sb = getattr(a, "shape", ()), getattr(b, "shape", ())
    for x, y in zip(reversed(sa), reversed(sb)):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: shapes {tuple(sa)} and {tuple(sb)} cannot be broadcast "
                             f"together")


def _scalar(v):
    """np.float64(2.0) -> 2.0: NumPy scalars would promote float32 arrays to float64
    (NumPy 2 treats them as typed), Python numbers do not. A list becomes an array
    (Python floats in it as the default dtype, as torch.tensor reads them)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return _as_array(v)
    return v


def is_operand(v):
    """What an operator may meet on its other side: a Tensor, a number, an array or a
    list of numbers. Anything else (None, a string) is not an operand: the Tensor's
    operator returns NotImplemented and Python raises its TypeError (or, for ==, falls
    back to identity: ``t == None`` is False, as in torch)."""
    return (isinstance(v, (Tensor, numbers.Number, np.ndarray, np.generic, list, tuple))
            or backend.is_cupy_array(v))


def _operands(op, x, y):
    """x, y as the op sees them: numbers unboxed, lists as arrays, Tensors and arrays cast
    to torch's result dtype (``dtypes.result_type``) where it differs."""
    dx, dy = getattr(x, "dtype", None), getattr(y, "dtype", None)
    # (dy is not None first: NumPy reads dtype None as float64, so float64 == None holds)
    if dx is not None and dx.kind == "f" and (
            dy is not None and dy == dx or type(y) in (int, float)) or (
            dy is not None and dy.kind == "f" and type(x) in (int, float)):
        return x, y          # the common case, float tensors (and numbers): nothing to cast
    x, y = _scalar(x), _scalar(y)
    dtype = result_type(x, y)
    if op == "div" and dtype.kind in "biu":       # true division: int / int -> float32
        dtype = backend.get_default_dtype()
    elif op == "sub" and any(isinstance(v, bool) or getattr(v, "dtype", None) == bool
                             for v in (x, y)):
        raise TypeError("sub: subtraction with a bool tensor is not supported (as in torch); "
                        "to invert a mask use ~mask, to combine masks a & ~b, or convert "
                        "with mask.float()")
    elif op in ("floor_divide", "remainder", "pow") and dtype.kind == "b":
        raise TypeError(f"{op}: not defined for two bools; convert with x.long()")
    elif op in ("floor_divide", "remainder") and dtype.kind in "iu":
        raw = y.data if isinstance(y, Tensor) else y
        if (raw == 0).any() if hasattr(raw, "shape") else raw == 0:
            raise ZeroDivisionError(f"{op}: integer division by zero")
    x, y = promote(dtype, x, y)
    return x, y


class Add(Function):
    """z = x + y;  dz/dx = 1, dz/dy = 1"""
    def forward(self, x, y):
        _check_broadcast("add", x, y)
        return x + y

    def backward(self, g):
        return g, g


class Sub(Function):
    """z = x - y;  dz/dx = 1, dz/dy = -1"""
    def forward(self, x, y):
        _check_broadcast("sub", x, y)
        return x - y

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    """z = x * y;  dz/dx = y, dz/dy = x.  Saves each factor only if the other needs a grad."""
    def forward(self, x, y):
        _check_broadcast("mul", x, y)
        self.save_for_backward(x if self.needs_input_grad[1] else None,
                               y if self.needs_input_grad[0] else None)
        return x * y

    def backward(self, g):
        x, y = self.saved
        return (g * y if self.needs_input_grad[0] else None,
                g * x if self.needs_input_grad[1] else None)


class Div(Function):
    """z = x / y;  dz/dx = 1/y, dz/dy = -x/y^2 = -z/y.  Saves y, and z if y needs a grad."""
    def forward(self, x, y):
        _check_broadcast("div", x, y)
        z = x / y
        self.save_for_backward(y, z if self.needs_input_grad[1] else None)
        return z

    def backward(self, g):
        y, z = self.saved
        gx = g / y if self.needs_input_grad[0] else None
        gy = -g * z / y if self.needs_input_grad[1] else None
        return gx, gy


class Neg(Function):
    """z = -x"""
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Pow(Function):
    """z = x^p;  dz/dx = p x^(p-1),  dz/dp = x^p ln x.

    As torch: dz/dx = 0 where p = 0 (not 0 * x^-1 = nan at x = 0), and dz/dp = 0 at
    x = 0 (x^p is flat in p there for p > 0). dz/dp needs x > 0; for x < 0 we give 0.
    Saves x and p, and z if p needs a grad.
    """
    def forward(self, x, p):
        _check_broadcast("pow", x, p)
        z = x ** p
        self.save_for_backward(x, p, z if self.needs_input_grad[1] else None)
        return z

    def backward(self, g):
        x, p, z = self.saved
        xp = get_array_module(g)
        gx = gp = None
        if self.needs_input_grad[0]:
            if isinstance(p, (int, float)):          # the common case: t ** 2, t ** 0.5
                gx = g * (p * x ** (p - 1)) if p != 0 else xp.zeros_like(g)
            else:
                gx = g * xp.where(p == 0, 0, p * x ** (p - 1))
        if self.needs_input_grad[1]:
            xa = xp.asarray(x, dtype=z.dtype)        # x may be a Python number (2 ** t)
            gp = g * z * xp.log(xp.where(xa > 0, xa, 1))
        return gx, gp


class Exp(Function):
    """z = e^x;  dz/dx = z.  Saves z."""
    def forward(self, x):
        z = get_array_module(x).exp(x)
        self.save_for_backward(z)
        return z

    def backward(self, g):
        return g * self.saved[0]


class Log(Function):
    """z = ln x;  dz/dx = 1/x.  Saves x."""
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, g):
        return g / self.saved[0]


class Sqrt(Function):
    """z = sqrt(x);  dz/dx = 1 / (2 z).  Saves z."""
    def forward(self, x):
        z = get_array_module(x).sqrt(x)
        self.save_for_backward(z)
        return z

    def backward(self, g):
        return g / (2 * self.saved[0])


class Abs(Function):
    """z = |x|;  dz/dx = sign(x) (0 at x = 0, and at NaN, as torch).  Saves x."""
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).abs(x)

    def backward(self, g):
        xp = get_array_module(g)
        return g * xp.nan_to_num(xp.sign(self.saved[0]))


class Clip(Function):
    """z = min(max(x, lo), hi);  dz/dx = 1 where lo <= x <= hi, else 0 (bounds
    included, as torch.clamp).  Saves the boolean mask."""
    def forward(self, x, lo, hi):
        xp = get_array_module(x)
        mask = xp.ones(x.shape, bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        self.save_for_backward(mask)
        if lo is None:
            return xp.minimum(x, hi)
        return xp.maximum(x, lo) if hi is None else xp.minimum(xp.maximum(x, lo), hi)

    def backward(self, g):
        return g * self.saved[0]


def add(x, y):
    return Add.apply(*_operands("add", x, y))


def sub(x, y):
    return Sub.apply(*_operands("sub", x, y))


def mul(x, y):
    return Mul.apply(*_operands("mul", x, y))


def div(x, y):
    return Div.apply(*_operands("div", x, y))


def neg(x):
    if x.dtype == bool:
        raise TypeError("neg: negating a bool tensor (-mask) is not supported; to invert a "
                        "mask use ~mask")
    return Neg.apply(x)


def pow(x, p):
    x, p = _operands("pow", x, p)
    dtype = result_type(x, p)
    if dtype.kind in "iu":                   # as torch and NumPy: no 2 ** -1 in integers
        raw = p.data if isinstance(p, Tensor) else p
        if (raw < 0).any() if hasattr(raw, "shape") else raw < 0:
            raise ValueError("pow: integers to negative integer powers are not allowed; "
                             "use a float base (x.float() ** -1)")
    return Pow.apply(x, p)


def _to_float(x):
    """Integer and bool tensors become the default float dtype, as torch's exp, log,
    sqrt, sigmoid and tanh give for them."""
    return x.to(backend.get_default_dtype()) if x.dtype.kind in "biu" else x


def exp(x):
    return Exp.apply(_to_float(x))


def log(x):
    return Log.apply(_to_float(x))


def sqrt(x):
    return Sqrt.apply(_to_float(x))


def abs(x):
    return Abs.apply(x)


def _bound(b):
    """A clip bound as a constant: a number, or a tensor that needs no gradient."""
    if isinstance(b, Tensor):
        if b.requires_grad:
            raise TypeError("clip: bounds are constants here; pass numbers or detached "
                            "tensors (min=t.detach())")
        return b.data
    return _scalar(b)


def clip(x, min=None, max=None):
    """Clamp every entry into [min, max] (numbers or tensors that broadcast against x,
    either may be None, not both). Only x gets a gradient. NaN stays NaN (its gradient
    is 0). An integer x with a float bound becomes float32, as in torch."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    lo, hi = _bound(min), _bound(max)
    dtype = result_type(x, *(b for b in (lo, hi) if b is not None))
    if dtype != x.dtype:
        x = x.to(dtype)
    return Clip.apply(x, lo=lo, hi=hi)


clamp = clip


# ------------------------------------------------------------ floor division
class FloorDivide(Function):
    """z = floor(x / y) (Python's //). Piecewise constant: like torch, it has no gradient
    to give, and backward says so instead of passing zeros."""
    def forward(self, x, y):
        _check_broadcast("floor_divide", x, y)
        with np.errstate(divide="ignore", invalid="ignore"):     # x // 0. = inf, as torch
            return get_array_module(x if hasattr(x, "shape") else y).floor_divide(x, y)

    def backward(self, g):
        raise RuntimeError("floor_divide (//) has no gradient (it is piecewise constant); "
                           "detach its inputs, or use div (/) where a gradient is needed")


class Remainder(Function):
    """z = x - floor(x / y) * y (Python's %, the sign of y);  dz/dx = 1,
    dz/dy = -floor(x / y).  Saves x and y if y needs a grad."""
    def forward(self, x, y):
        _check_broadcast("remainder", x, y)
        self.save_for_backward(*((x, y) if self.needs_input_grad[1] else ()))
        with np.errstate(divide="ignore", invalid="ignore"):     # x % 0. = nan, as torch
            return get_array_module(x if hasattr(x, "shape") else y).remainder(x, y)

    def backward(self, g):
        gy = None
        if self.needs_input_grad[1]:
            x, y = self.saved
            gy = -g * get_array_module(g).floor_divide(x, y)
        return g, gy


def floor_divide(x, y):
    return FloorDivide.apply(*_operands("floor_divide", x, y))


def remainder(x, y):
    return Remainder.apply(*_operands("remainder", x, y))


# -------------------------------------------------------------- comparisons
def _raw(op, v, device):
    """The array or number behind an operand of a comparison or a bitwise op."""
    if isinstance(v, Tensor):
        if v.device != device:
            raise RuntimeError(f"{op}: expected both tensors on one device, got {device} "
                               f"and {v.device}")
        return v.data
    return _scalar(v)


def _compare(op, ufunc, x, y):
    """A bool tensor, entry by entry (broadcasting), outside the graph."""
    device = x.device if isinstance(x, Tensor) else y.device
    a, b = _raw(op, x, device), _raw(op, y, device)
    _check_broadcast(op, a, b)
    xp = backend.xp_for(device)
    return Tensor(getattr(xp, ufunc)(a, b))


def eq(x, y):
    """x == y entry by entry: a bool tensor (no gradient)."""
    return _compare("eq", "equal", x, y)


def ne(x, y):
    return _compare("ne", "not_equal", x, y)


def lt(x, y):
    return _compare("lt", "less", x, y)


def le(x, y):
    return _compare("le", "less_equal", x, y)


def gt(x, y):
    return _compare("gt", "greater", x, y)


def ge(x, y):
    return _compare("ge", "greater_equal", x, y)


# ------------------------------------------------------------ bitwise / masks
def _bitwise(op, ufunc, x, y):
    """&, |, ^ on bool (logical: masks) or integer tensors, as torch; not on floats."""
    device = x.device if isinstance(x, Tensor) else y.device
    a, b = _raw(op, x, device), _raw(op, y, device)
    for v in (a, b):
        kind = v.dtype.kind if hasattr(v, "dtype") else ("b" if isinstance(v, bool) else
                                                       "i" if isinstance(v, int) else "f")
        if kind not in "biu":
            what = v.dtype if hasattr(v, "dtype") else type(v).__name__
            raise TypeError(f"{op}: works on bool or integer tensors, got {what}; for masks "
                            f"compare first: (x > 0) & (x < 1)")
    _check_broadcast(op, a, b)
    return Tensor(getattr(backend.xp_for(device), ufunc)(a, b))


def bitwise_and(x, y):
    return _bitwise("bitwise_and (&)", "bitwise_and", x, y)


def bitwise_or(x, y):
    return _bitwise("bitwise_or (|)", "bitwise_or", x, y)


def bitwise_xor(x, y):
    return _bitwise("bitwise_xor (^)", "bitwise_xor", x, y)


def bitwise_not(x):
    """~x: logical not of a bool tensor, bitwise not of an integer one."""
    if x.dtype.kind not in "biu":
        raise TypeError(f"bitwise_not (~): works on bool or integer tensors, got {x.dtype}; "
                        f"for a float mask use x == 0, or 1 - x")
    return Tensor(x.xp.invert(x.data))


def logical_not(x):
    """The bool tensor x == 0 (True where x is zero or False)."""
    return Tensor(x.data == 0)
