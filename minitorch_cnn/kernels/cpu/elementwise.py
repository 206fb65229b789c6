"""Elementwise kernels, compiled by Numba: clamp (ReLU, ReLU6) and its backward, SiLU,
and the one-pass SGD step."""
import numpy as np
from numba import prange

from .. import reference
from ._numba import jit, jit_parallel


def _through_band(g, v, lo, hi):
    """The backward of a clamp to (lo, hi) at one number: 0 where v <= lo or v >= hi, else
    g (v is the clamped output; the kinks pass nothing, NaN passes g, as in torch). The
    ReLU/ReLU6 kernel and the BatchNorm kernels with a fused activation share it."""
    return 0 if v <= lo or v >= hi else g


through_band_cpu = jit(_through_band)


# ------------------------------------------------------------ clipped activations
# NumPy's g * ((y > lo) & (y < hi)) makes three passes and two temporaries, and
# np.maximum(x, 0) runs on one thread; these are one parallel pass each.
def _clamp(x, lo, hi, y):                           # x, y: flat (1-D) views
    for i in prange(y.shape[0]):
        v = x[i]
        y[i] = lo if v < lo else (hi if v > hi else v)       # NaN falls through: NaN


def _band_backward(g, y, lo, hi, dx):               # all flat (1-D) views
    for i in prange(dx.shape[0]):
        dx[i] = through_band_cpu(g[i], y[i], lo, hi)


clamp_cpu = jit_parallel(_clamp)
band_backward_cpu = jit_parallel(_band_backward)


def clamp(x, lo, hi):
    if x.dtype.kind != "f":                         # integer tensors: the reference
        return reference.clamp(x, lo, hi)
    y = np.empty(x.shape, dtype=x.dtype)
    clamp_cpu(np.ascontiguousarray(x).reshape(-1), lo, hi, y.reshape(-1))
    return y


def band_backward(g, y, lo, hi):
    if g.dtype.kind != "f" or y.dtype.kind != "f":  # integer tensors: the reference
        return reference.band_backward(g, y, lo, hi)
    dx = np.empty(y.shape, dtype=g.dtype)
    band_backward_cpu(np.ascontiguousarray(g).reshape(-1), np.ascontiguousarray(y).reshape(-1),
                      lo, hi, dx.reshape(-1))
    return dx


# --------------------------------------------------------------- SiLU (swish)
# x * sigmoid(x) is bound by its exponential. NumPy's np.exp is SIMD code, but the
# whole expression takes it eight passes and as many temporaries (abs, exp, where, the
# divisions) on one thread; Numba's np.exp is a call to libm's expf per number, which
# LLVM cannot vectorise. So float32 gets an exponential written out as arithmetic,
#     e^t = 2^k * e^r,   k = round(t / ln 2),   r = t - k ln 2  in [-ln2/2, ln2/2],
# e^r by its Taylor series to r^7 (relative error < 6e-9, under float32's 6e-8) and
# 2^k made directly as the bits of a float32: exponent field k + 127, mantissa 0.
# Every step vectorises: several times faster than NumPy's passes or a loop over expf
# (benchmarks/README.md).
# float64 (gradient checks) keeps the exact np.exp.
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693145751953125)        # ln 2 = _LN2_HI + _LN2_LO; k * _LN2_HI is
_LN2_LO = np.float32(1.4286067653301870e-06)   # exact for |k| < 2^8, so r loses nothing
_MIN_EXPONENT = np.float32(-87.0)              # e^-87 = 1.6e-38: float32's smallest
_ONE = np.float32(1)                           # normal number is 1.2e-38 = e^-87.3;
                                               # below e^-87 we return 0
_CHUNK = 1024                                   # numbers per pass: the buffers stay in L1


def _exp_neg_abs(x, e, bits):
    """e = e^-|x| entry by entry (0 <= e <= 1; NaN stays NaN). bits: int32 scratch."""
    if x.itemsize != 4:                         # float64: libm, exact
        for j in range(e.shape[0]):
            e[j] = np.exp(-abs(x[j]))
        return
    for j in range(e.shape[0]):
        t = max(-abs(x[j]), _MIN_EXPONENT)
        k = np.floor(t * _LOG2E + np.float32(0.5))             # nearest integer to t/ln2
        r = (t - k * _LN2_HI) - k * _LN2_LO                     # |r| <= ln2/2
        p = np.float32(1 / 5040)                                # e^r = sum r^i / i!
        p = p * r + np.float32(1 / 720)
        p = p * r + np.float32(1 / 120)
        p = p * r + np.float32(1 / 24)
        p = p * r + np.float32(1 / 6)
        p = p * r + np.float32(1 / 2)
        p = p * r + _ONE
        e[j] = p * r + _ONE
        bits[j] = (np.int32(k) + 127) << 23                    # the float32 2^k
    two_k = bits.view(np.float32)
    for j in range(e.shape[0]):                 # below e^-87, 0 (as IEEE's e^-inf)
        e[j] = e[j] * two_k[j] if abs(x[j]) <= -_MIN_EXPONENT else 0


exp_neg_abs_cpu = jit(_exp_neg_abs)


def _sigmoid_from(v, e):
    """sigmoid(v) from e = e^-|v| (no overflow either way): 1/(1+e) for v >= 0, else
    e^v/(1+e^v) = e/(1+e)."""
    return (_ONE if v >= 0 else e) / (_ONE + e)


sigmoid_from_cpu = jit(_sigmoid_from)


def _silu(x, g, out):                               # flat (1-D) views
    """out = silu(x) (g None), or the gradient g * silu'(x) = g * s (1 + x (1 - s))."""
    n = out.shape[0]
    T = max(1, min(64, n // _CHUNK))                # pieces for the threads
    for t in prange(T):
        e = np.empty(_CHUNK, dtype=out.dtype)       # e^-|x| of one chunk, in L1
        bits = np.empty(_CHUNK, dtype=np.int32)
        for i0 in range(t * n // T, (t + 1) * n // T, _CHUNK):
            i1 = min(i0 + _CHUNK, (t + 1) * n // T)
            xs, ys, es = x[i0:i1], out[i0:i1], e[:i1 - i0]
            exp_neg_abs_cpu(xs, es, bits)
            if g is None:                           # forward (Numba compiles one branch)
                for j in range(ys.shape[0]):
                    ys[j] = xs[j] * sigmoid_from_cpu(xs[j], es[j])
            else:
                gs = g[i0:i1]
                for j in range(ys.shape[0]):
                    v = xs[j]
                    s = sigmoid_from_cpu(v, es[j])
                    ys[j] = gs[j] * (s * (_ONE + v * (_ONE - s)))


silu_cpu = jit_parallel(_silu)


def silu(x):
    if x.dtype.kind != "f":
        return reference.silu(x)
    y = np.empty(x.shape, dtype=x.dtype)
    silu_cpu(np.ascontiguousarray(x).reshape(-1), None, y.reshape(-1))
    return y


def silu_backward(g, x):
    if g.dtype != x.dtype or x.dtype.kind != "f":
        return reference.silu_backward(g, x)
    dx = np.empty(x.shape, dtype=x.dtype)
    silu_cpu(np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(g).reshape(-1),
             dx.reshape(-1))
    return dx


# ------------------------------------------------------------------ SGD step
# reference.sgd_update takes five passes over the parameter and two temporaries
# (g + wd*p, buf *= mu, buf += d, lr*d, p -= ...); here one pass reads p, g and buf
# and writes p and buf. The scalars come in as the arrays' dtype, so every product
# rounds as NumPy's float32 arithmetic does: the same numbers, bit for bit.
def _sgd_update(p, g, buf, lr, mu, one_minus_tau, wd, nesterov, first):   # flat views
    for i in prange(p.shape[0]):
        d = g[i]
        if wd != 0:
            d = d + wd * p[i]
        if mu != 0:
            if first:
                b = d
            else:
                b = mu * buf[i] + one_minus_tau * d
            buf[i] = b
            d = d + mu * b if nesterov else b
        p[i] -= lr * d


sgd_update_cpu = jit_parallel(_sgd_update, serial_below=1 << 18)


def sgd_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    flat_ok = p.flags.c_contiguous and (buf is None or buf.flags.c_contiguous)
    if not flat_ok or p.dtype.kind != "f" or g.dtype != p.dtype:
        return reference.sgd_update(p, g, buf, lr, momentum, dampening, weight_decay,
                                    nesterov, first)
    t = p.dtype.type
    buf_flat = p.reshape(-1)[:0] if buf is None else buf.reshape(-1)    # unused w/o momentum
    sgd_update_cpu(p.reshape(-1), np.ascontiguousarray(g).reshape(-1), buf_flat, t(lr),
                   t(momentum), t(1.0 - dampening), t(weight_decay), bool(nesterov),
                   bool(first))
