"""Weight initialisation, in place, with PyTorch's names and formulas.

fan_in = in_channels * kh * kw (for Linear: in_features), fan_out likewise with out.
- Xavier/Glorot (2010): Var(w) = gain^2 * 2 / (fan_in + fan_out)
- Kaiming/He (2015):    Var(w) = gain^2 / fan   (fan_in keeps forward variance,
                        fan_out keeps backward variance); gain = sqrt(2) for ReLU
uniform(-b, b) has variance b^2 / 3, so b = sqrt(3) * std.
"""
import math

from .. import backend

__all__ = ["skip_init", "calculate_gain", "uniform_", "normal_", "constant_", "zeros_",
           "ones_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "trunc_normal_"]

_skipping = False   # True inside skip_init: every initialiser below leaves its tensor as is


def skip_init(build, *args, **kwargs):
    """``build(*args, **kwargs)`` without drawing any initial value (as torch's
    ``nn.utils.skip_init``): parameters get their shapes but uninitialised memory. Counting
    VGG-16's 138M parameters this way takes milliseconds instead of seconds of random
    numbers; load weights into such a model before running it."""
    global _skipping
    previous, _skipping = _skipping, True
    try:
        return build(*args, **kwargs)
    finally:
        _skipping = previous


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps activation variance steady through ``nonlinearity``."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fans(t):
    if t.ndim < 2:
        raise ValueError(f"fan in/out need a tensor of at least 2 dims, got shape {t.shape}")
    receptive = 1
    for n in t.shape[2:]:
        receptive *= n
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fill(t, kind, a, b=None):
    """Write random numbers into ``t.data`` (drawn on the CPU from the seeded generator)."""
    if _skipping:
        return t
    rng = backend.get_rng()
    if kind == "uniform":
        arr = rng.uniform(a, b, size=t.shape)
    else:
        arr = rng.normal(a, b, size=t.shape)
    t.data = backend.to_device(arr.astype(t.dtype), t.device)
    return t


def uniform_(t, a=0.0, b=1.0):
    return _fill(t, "uniform", a, b)


def normal_(t, mean=0.0, std=1.0):
    return _fill(t, "normal", mean, std)


def trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Normal(mean, std) redrawn until inside [a, b]."""
    if _skipping:
        return t
    rng = backend.get_rng()
    out = rng.normal(mean, std, size=t.shape)
    bad = (out < a) | (out > b)
    while bad.any():
        out[bad] = rng.normal(mean, std, size=int(bad.sum()))
        bad = (out < a) | (out > b)
    t.data = backend.to_device(out.astype(t.dtype), t.device)
    return t


def constant_(t, value):
    if _skipping:
        return t
    t.data = t.xp.full(t.shape, value, dtype=t.dtype)
    return t


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def xavier_uniform_(t, gain=1.0):
    fan_in, fan_out = _fans(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t, gain=1.0):
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(t, a, mode, nonlinearity):
    fan_in, fan_out = _fans(t)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(t, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound)


def kaiming_normal_(t, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity))
