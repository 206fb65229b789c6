"""Elementwise arithmetic: z = f(x, y) applied entry by entry, with broadcasting.

Backward gives dL/dx = dL/dz * dz/dx at full broadcast shape; the autograd engine
sums it back down to x's shape (``unbroadcast``).
"""
from ..autograd import Function
from ..backend import get_array_module

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip",
           "clamp"]


def _check_broadcast(op, a, b):
    """Shapes must broadcast; say which two did not (instead of NumPy's traceback)."""
    sa, sb = getattr(a, "shape", ()), getattr(b, "shape", ())
    for x, y in zip(reversed(sa), reversed(sb)):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: shapes {tuple(sa)} and {tuple(sb)} cannot be broadcast "
                             f"together")


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
    """z = x * y;  dz/dx = y, dz/dy = x"""
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
    """z = x / y;  dz/dx = 1/y, dz/dy = -x/y^2"""
    def forward(self, x, y):
        _check_broadcast("div", x, y)
        self.save_for_backward(x, y)
        return x / y

    def backward(self, g):
        x, y = self.saved
        gx = g / y if self.needs_input_grad[0] else None
        gy = -g * x / (y * y) if self.needs_input_grad[1] else None
        return gx, gy


class Neg(Function):
    """z = -x"""
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Pow(Function):
    """z = x^p;  dz/dx = p x^(p-1),  dz/dp = x^p ln x"""
    def forward(self, x, p):
        _check_broadcast("pow", x, p)
        z = x ** p
        self.save_for_backward(x, p, z)
        return z

    def backward(self, g):
        x, p, z = self.saved
        gx = g * p * x ** (p - 1) if self.needs_input_grad[0] else None
        gp = None
        if self.needs_input_grad[1]:
            xp = get_array_module(z)
            gp = g * z * xp.log(xp.where(x > 0, x, 1))
        return gx, gp


class Exp(Function):
    """z = e^x;  dz/dx = z"""
    def forward(self, x):
        z = get_array_module(x).exp(x)
        self.save_for_backward(z)
        return z

    def backward(self, g):
        return g * self.saved[0]


class Log(Function):
    """z = ln x;  dz/dx = 1/x"""
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, g):
        return g / self.saved[0]


class Sqrt(Function):
    """z = sqrt(x);  dz/dx = 1 / (2 z)"""
    def forward(self, x):
        z = get_array_module(x).sqrt(x)
        self.save_for_backward(z)
        return z

    def backward(self, g):
        return g / (2 * self.saved[0])


class Abs(Function):
    """z = |x|;  dz/dx = sign(x) (0 at 0, as torch)"""
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).abs(x)

    def backward(self, g):
        return g * get_array_module(g).sign(self.saved[0])


class Clip(Function):
    """z = min(max(x, lo), hi);  dz/dx = 1 where lo <= x <= hi, else 0 (as torch.clamp)"""
    def forward(self, x, lo, hi):
        xp = get_array_module(x)
        mask = xp.ones(x.shape, bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        self.save_for_backward(mask)
        return xp.clip(x, lo, hi)

    def backward(self, g):
        return g * self.saved[0], None, None


def add(x, y):
    return Add.apply(x, y)


def sub(x, y):
    return Sub.apply(x, y)


def mul(x, y):
    return Mul.apply(x, y)


def div(x, y):
    return Div.apply(x, y)


def neg(x):
    return Neg.apply(x)


def pow(x, p):
    return Pow.apply(x, p)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def clip(x, min=None, max=None):
    return Clip.apply(x, min, max)


clamp = clip
