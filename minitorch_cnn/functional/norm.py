"""Normalisation and channel dropout: batch norm, local response norm, dropout2d.

Channels are axis 1 throughout: x (N, C, H, W) for images, (N, C) or (N, C, L) for
batch norm over feature vectors and sequences.

Batch norm's story is the BatchNorm Function below: its docstring has the math, its
forward and backward call four kernels, which under ``set_kernels("reference")`` are
kernels/reference.py's few lines of NumPy (``fast.choose_kernels``), and under "fast"
their Numba or CuPy versions. The fused BN+ReLU and BN+add+ReLU of nn/fused.py are the
same Function with the activation (and the residual) folded into the same passes.
"""
import math


from .. import backend, fast
from ..autograd import Function
from ..backend import device_of, get_array_module
from .dtypes import check_float, check_same_dtype

__all__ = ["batch_norm", "batch_norm_relu", "batch_norm_add_relu", "local_response_norm",
           "dropout2d"]


# ------------------------------------------------------------------- batch norm
class BatchNorm(Function):
    """Ioffe & Szegedy (2015). Per channel c, over the M = N*H*W numbers of the batch:

        x_hat = (x - mean) / sqrt(var + eps),   y = weight * x_hat + bias

    training: mean and biased var of this batch, and the running estimates move toward
    them: running = (1 - momentum) * running + momentum * batch (with the unbiased var,
    var * M / (M - 1), as torch does); eval: the running estimates instead. An empty
    batch gives an empty output and leaves the running estimates alone (as torch); one
    number per channel (M = 1) is refused in training (its variance is 0).

    backward (training), with g = dL/dy:
        dbias = sum g,  dweight = sum g * x_hat,
        dx = weight / sqrt(var + eps) * (g - mean(g) - x_hat * mean(g * x_hat))
    (in eval mode mean and var are constants and dx = weight / sqrt(var + eps) * g).

    Saves x, mean and 1/sqrt(var + eps) (C numbers each): the backward kernels recompute
    x_hat = (x - mean) * inv_std as they go, one multiply-add per number. Keeping x_hat
    instead would cost the same memory, plus a second array written in forward.

    ``band=(lo, hi)`` fuses a ReLU (0, inf) or ReLU6 (0, 6) into the same op: the output
    is clamp(y, lo, hi), computed in the pass that writes y, and backward lets g through
    where lo < output < hi before the formulas above. The same numbers as BatchNorm then
    ReLU, with one pass over memory fewer each way and no intermediate y. It also saves
    the output, which the separate ReLU would have saved instead.

    ``residual`` (the shape of x), with a band, fuses a residual block's tail:
    out = clamp(y + residual, lo, hi). Its gradient is g where lo < out < hi (the same
    masked g that flows into the formulas above), so it costs no extra pass either.
    """

    def forward(self, x, weight, bias, running_mean, running_var, residual=None, *, training,
                momentum, eps, band=None):
        xp = get_array_module(x)
        N, C = x.shape[:2]
        self.empty = x.size == 0
        if self.empty:              # as torch: an empty output, the running stats as they were
            self.C = C
            return xp.empty_like(x)
        x3 = xp.ascontiguousarray(x).reshape(N, C, -1)          # (N, C, L)
        M = N * x3.shape[2]
        self.kernels = K = fast.choose_kernels(device_of(x))    # kernels/reference.py to read
        if training:
            mean, var = K.batch_norm_statistics(x3)
            if running_mean is not None:        # in place: these are the layer's buffers
                running_mean *= 1 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype)
                running_var *= 1 - momentum
                running_var += (momentum * var * (M / (M - 1))).astype(running_var.dtype)
        else:
            mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
        inv_std = 1 / xp.sqrt(var + eps)
        w = weight if weight is not None else xp.ones(C, dtype=x.dtype)
        b = bias if bias is not None else xp.zeros(C, dtype=x.dtype)
        r3 = None if residual is None else xp.ascontiguousarray(residual).reshape(x3.shape)
        y = K.batch_norm_apply(x3, mean, inv_std, w, b, band, r3)
        self.save_for_backward(x3, mean, inv_std, w, None if band is None else y)
        self.training, self.M, self.band = training, M, band
        return y.reshape(x.shape)

    def backward(self, gy):
        xp = get_array_module(gy)
        if self.empty:
            zeros = xp.zeros(self.C, dtype=gy.dtype)
            return xp.zeros_like(gy), zeros, zeros, None, None, xp.zeros_like(gy)
        x3, mean, inv_std, w, y = self.saved             # y: the output, with a fused band
        K = self.kernels
        g3 = xp.ascontiguousarray(gy).reshape(x3.shape)
        band, g_residual = self.band, None
        if self.needs_input_grad[5:] == (True,):     # dL/dresidual: g through the band
            g3 = K.band_backward(g3, y, *band)
            y, band, g_residual = None, None, g3.reshape(gy.shape)
        sum_g, sum_g_xhat = K.batch_norm_backward_reduce(g3, x3, mean, inv_std, y, band)
        gx = None
        if self.needs_input_grad[0]:
            if self.training:
                mean_g, mean_g_xhat = sum_g / self.M, sum_g_xhat / self.M
            else:
                mean_g = mean_g_xhat = xp.zeros_like(sum_g)
            gx = K.batch_norm_backward_input(g3, x3, mean, inv_std, w * inv_std, mean_g,
                                             mean_g_xhat, y, band)
            gx = gx.reshape(gy.shape)
        return gx, sum_g_xhat, sum_g, None, None, g_residual


def _check_batch_norm(fn, input, running_mean, running_var, weight, bias, training):
    if input.ndim < 2:
        raise ValueError(f"{fn}: expected an input of at least 2 dims (N, C, ...), "
                         f"got shape {tuple(input.shape)}")
    check_same_dtype(fn, input, weight=weight, bias=bias, running_mean=running_mean,
                     running_var=running_var)
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ValueError(f"{fn}: {name} has shape {tuple(t.shape)}, but the input "
                             f"has {C} channels (shape {tuple(input.shape)})")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{fn}: evaluation (training=False) needs running_mean and "
                         "running_var")
    if training and input.shape[0] * math.prod(input.shape[2:]) <= 1:
        raise ValueError(one_value_per_channel(fn, input.shape))


def one_value_per_channel(name, shape):
    """The error of batch norm in training on at most one number per channel: one value
    has no variance (x_hat = 0/0; torch refuses it with the same words), and an empty
    batch has no statistics at all (torch returns an empty output there; we refuse it
    too, since a training step on no data is a bug upstream, in the loader)."""
    what = "an empty batch has no mean or variance" if 0 in tuple(shape) else \
        "one value per channel has no variance"
    return (f"{name}: expected more than 1 value per channel when training, got input "
            f"shape {tuple(shape)} ({what}); use a batch of at least 2 samples, or call "
            f"model.eval() to use the running statistics")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over axis 1 (torch.nn.functional.batch_norm); with training,
    running_mean / running_var (if given) are updated in place."""
    _check_batch_norm("batch_norm", input, running_mean, running_var, weight, bias, training)
    return BatchNorm.apply(input, weight, bias, running_mean, running_var,
                           training=bool(training), momentum=momentum, eps=eps)


def batch_norm_relu(input, running_mean, running_var, weight=None, bias=None, training=False,
                    momentum=0.1, eps=1e-5, max_value=math.inf):
    """min(max(batch_norm(...), 0), max_value) as one op: ReLU after batch norm
    (max_value=6: ReLU6), in the pass that normalises; the same numbers and gradients as
    ``relu(batch_norm(...))``. ``nn.BatchNormReLU2d`` runs it. Not in torch.nn.functional
    (torch fuses this in its compilers instead)."""
    _check_batch_norm("batch_norm_relu", input, running_mean, running_var, weight, bias,
                      training)
    if not max_value > 0:
        raise ValueError(f"batch_norm_relu: max_value must be > 0, got {max_value}")
    return BatchNorm.apply(input, weight, bias, running_mean, running_var,
                           training=bool(training), momentum=momentum, eps=eps,
                           band=(0.0, float(max_value)))


def batch_norm_add_relu(input, residual, running_mean, running_var, weight=None, bias=None,
                        training=False, momentum=0.1, eps=1e-5):
    """relu(batch_norm(input, ...) + residual) as one op: the tail of a residual block
    (He et al. 2015), y = ReLU(BN(conv(...)) + shortcut). The same numbers and gradients
    as the three ops, with one pass over memory each way instead of three; the residual
    gets the gradient that passes the ReLU. ``nn.BatchNormAddReLU2d`` runs it."""
    _check_batch_norm("batch_norm_add_relu", input, running_mean, running_var, weight, bias,
                      training)
    if tuple(residual.shape) != tuple(input.shape) or residual.dtype != input.dtype:
        raise ValueError(f"batch_norm_add_relu: residual must match the input, shape "
                         f"{tuple(input.shape)} and dtype {input.dtype}; got shape "
                         f"{tuple(residual.shape)}, dtype {residual.dtype}")
    return BatchNorm.apply(input, weight, bias, running_mean, running_var, residual,
                           training=bool(training), momentum=momentum, eps=eps,
                           band=(0.0, math.inf))


# --------------------------------------------------------- local response norm
def _channel_window_sum(a, before, after):
    """out[:, c] = sum of a[:, c - before ... c + after] (zeros past the ends)."""
    xp = get_array_module(a)
    C = a.shape[1]
    widths = [(0, 0)] * a.ndim
    widths[1] = (before, after)
    ap = xp.pad(a, widths)
    out = ap[:, 0:C].copy()
    for i in range(1, before + after + 1):
        out += ap[:, i:i + C]
    return out


class LocalResponseNorm(Function):
    """Krizhevsky et al. (2012), with torch's conventions:

        s_c = k + alpha / size * sum_{c' = c - size//2}^{c + (size-1)//2} x_{c'}^2,
        y_c = x_c * s_c^(-beta)

    dL/dx_c = g_c s_c^(-beta) - 2 alpha beta / size * x_c * sum_{c' whose window holds c}
    g_{c'} x_{c'} s_{c'}^(-beta-1); the c' whose window holds c are c - (size-1)//2 ...
    c + size//2 (the window, mirrored). Saves x and s.
    """

    def forward(self, x, size, alpha, beta, k):
        s = k + (alpha / size) * _channel_window_sum(x * x, size // 2, (size - 1) // 2)
        self.save_for_backward(x, s)
        self.params = size, alpha, beta
        return x * s ** -beta

    def backward(self, g):
        x, s = self.saved
        size, alpha, beta = self.params
        t = g * x * s ** (-beta - 1)
        back = _channel_window_sum(t, (size - 1) // 2, size // 2)     # the mirrored window
        return g * s ** -beta - (2 * alpha * beta / size) * x * back


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Normalise each channel by its neighbours (torch.nn.functional.local_response_norm)."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected an input of at least 3 dims "
                         f"(N, C, ...), got shape {tuple(input.shape)}")
    if int(size) < 1:
        raise ValueError(f"local_response_norm: size must be >= 1, got {size}")
    check_float("local_response_norm", input)
    return LocalResponseNorm.apply(input, size=int(size), alpha=alpha, beta=beta, k=k)


# ------------------------------------------------------------------- dropout2d
class Dropout2d(Function):
    """y = x * mask, mask[n, c] = 0 (probability p) or 1/(1-p), the same over a whole
    (H, W) plane: neighbouring pixels are correlated, so dropping single ones barely
    regularises (Tompson et al., 2015). Saves the (N, C, 1, 1) mask only."""

    def forward(self, x, mask):
        self.save_for_backward(mask)
        return x * mask

    def backward(self, g):
        return g * self.saved[0], None


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels with probability p (torch.nn.functional.dropout2d); input
    (N, C, H, W), or (C, H, W) unbatched. The mask comes from backend.get_rng()."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout2d: p must be in [0, 1], got {p}")
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D input (N, C, H, W) or a 3-D one "
                         f"(C, H, W), got shape {tuple(input.shape)}")
    if not training or p == 0:
        return input
    check_float("dropout2d", input)
    channels = tuple(input.shape[:-2])                    # (N, C) or (C,)
    keep = backend.get_rng().random(channels) >= p
    scale = 0.0 if p == 1 else 1.0 / (1 - p)
    mask = (keep * scale).astype(input.dtype).reshape(channels + (1, 1))
    return Dropout2d.apply(input, backend.to_device(mask, input.device))
