"""Elementwise arithmetic: z = f(x, y) applied entry by entry, with broadcasting.

Backward gives dL/dx = dL/dz * dz/dx at full broadcast shape; the autograd engine
sums it back down to x's shape (``unbroadcast``).

Python numbers (and NumPy scalars, turned into Python numbers) keep a tensor's
dtype: float32 tensor * 0.5 stays float32, as in torch.
"""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip",
           "clamp"]


def _check_broadcast(op, a, b):
    """Shapes must broadcast; say which two did not (instead of NumPy's traceback)."""
    sa, sb = getattr(a, "shape", ()), getattr(b, "shape", ())
    for x, y in zip(reversed(sa), reversed(sb)):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: shapes {tuple(sa)} and {tuple(sb)} cannot be broadcast "
                             f"together")


def _scalar(v):
    """np.float64(2.0) -> 2.0: NumPy scalars would promote float32 arrays to float64
    (NumPy 2 treats them as typed), Python numbers do not."""
    return v.item() if isinstance(v, np.generic) else v


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
    """z = |x|;  dz/dx = sign(x) (0 at x = 0, as torch).  Saves x."""
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).abs(x)

    def backward(self, g):
        return g * get_array_module(g).sign(self.saved[0])


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
    return Add.apply(_scalar(x), _scalar(y))


def sub(x, y):
    return Sub.apply(_scalar(x), _scalar(y))


def mul(x, y):
    return Mul.apply(_scalar(x), _scalar(y))


def div(x, y):
    return Div.apply(_scalar(x), _scalar(y))


def neg(x):
    return Neg.apply(x)


def pow(x, p):
    return Pow.apply(_scalar(x), _scalar(p))


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


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
    either may be None, not both). Only x gets a gradient."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip.apply(x, lo=_bound(min), hi=_bound(max))


clamp = clip
