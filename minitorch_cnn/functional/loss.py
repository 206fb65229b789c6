"""Losses: cross_entropy and nll_loss on integer class targets, mse_loss.

Shapes, as torch: input (N, C) or (N, C, d1, d2, ...) with the classes on dim 1, or
(C,) for one unbatched sample; target (N,) or (N, d1, d2, ...) (or ()) of class indices.
Internally every position becomes one row: (N, C, *) -> (M, C) with M = N * d1 * d2 ...

``reduction``: 'none' (one loss per target entry), 'sum', or 'mean', which for the
class losses is a weighted mean: sum_i loss_i / sum_i w[t_i] over the entries whose
target is not ``ignore_index``.
"""
import warnings

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor
from .dtypes import check_float, promote, result_type

__all__ = ["cross_entropy", "nll_loss", "mse_loss"]


def _rows(x):
    """(N, C, *) -> (M, C), the class dim last;  (C,) -> (1, C)."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    return get_array_module(x).moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _unrows(g, shape):
    """The inverse of ``_rows``: (M, C) -> (N, C, *)."""
    if len(shape) == 1:
        return g.reshape(shape)
    g = g.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))   # (N, *, C)
    return get_array_module(g).moveaxis(g, -1, 1)


def _check_reduction(op, reduction):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _class_target(op, input, target, weight, ignore_index):
    """Check a class-index target (and the class weights) against input (N, C, *).
    Returns both as given if Tensors (so Function.apply checks their device), else as
    raw arrays on the input's device."""
    check_float(op, input, "input (the logits)" if op == "cross_entropy" else "input")
    raw = target.data if isinstance(target, Tensor) else target
    if not hasattr(raw, "dtype"):
        raw = np.asarray(raw)
    if raw.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected integer class indices (int64) as target, got "
                        f"{raw.dtype}")
    if input.ndim == 0:
        raise ValueError(f"{op}: input needs a class dim: expected (N, C, *) or (C,), got a "
                         f"0-d tensor")
    expected = () if input.ndim == 1 else (input.shape[0],) + tuple(input.shape[2:])
    if tuple(raw.shape) != expected:
        raise ValueError(f"{op}: target of shape {tuple(raw.shape)} does not fit input of "
                         f"shape {tuple(input.shape)}: expected target shape {expected} "
                         f"(input (N, C, *), target (N, *))")
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    bad = (raw != ignore_index) & ((raw < 0) | (raw >= C))
    if bad.any():
        raise IndexError(f"{op}: target class {int(raw[bad].reshape(-1)[0])} is out of range "
                         f"for {C} classes (expected 0..{C - 1}, or ignore_index="
                         f"{ignore_index})")
    if weight is not None and not isinstance(weight, Tensor):
        weight = backend.to_device(weight if hasattr(weight, "dtype") else np.asarray(weight),
                                   input.device)
    if weight is not None and tuple(weight.shape) != (C,):
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)}, expected ({C},), one "
                         f"per class")
    if not isinstance(target, Tensor):
        target = backend.to_device(raw, input.device)
    return target, weight


def _row_targets(x, target, weight, ignore_index):
    """Per row: the class t (0 where ignored), valid = not ignored, w_t = weight of t
    (0 where ignored), and the class weights w (ones if none were given)."""
    xp = get_array_module(x)
    t = target.reshape(-1)                                   # (M,)
    valid = t != ignore_index
    t = xp.where(valid, t, 0)
    w = weight.astype(x.dtype, copy=False) if weight is not None else xp.ones(x.shape[1],
                                                                              x.dtype)
    return t, valid, w[t] * valid, w


def _reduce(loss, w_t, reduction, target_shape):
    """Per-row losses -> the requested reduction; also the factor each row's gradient gets."""
    if reduction == "none":
        return loss.reshape(target_shape), 1.0
    total = loss.sum()
    if reduction == "sum":
        return total, 1.0
    denom = w_t.sum()              # weighted count of rows not ignored (0/0 = nan if none)
    return total / denom, 1.0 / denom


def _grad_scale(g, reduction, factor):
    """dL/d(loss_i) for each row (M,) or as a scalar."""
    return g.reshape(-1, 1) * factor if reduction == "none" else g * factor


class CrossEntropy(Function):
    """Softmax then negative log-likelihood, fused. For row i with target class t:

        log p_i = z_i - log sum_c e^(z_ic)                 (max-shifted, so no overflow)
        loss_i  = -sum_c q_ic log p_ic,    q_ic = (1 - eps) w_t [c = t] + (eps / C) w_c

    q is the weighted target smoothed by eps = label_smoothing (Szegedy et al., 2016):
    with weights w = 1 and eps = 0 it is the one-hot target. Ignored rows have q = 0.
    Because sum_c p_ic = 1:   dloss_i/dz_i = p_i sum_c q_ic - q_i   ("softmax minus
    one-hot"). Saves p (M, C), the row targets and their weights.
    """
    def forward(self, x, target, weight, ignore_index, reduction, label_smoothing):
        xp = get_array_module(x)
        z = _rows(x)                                             # (N, C, *) -> (M, C)
        C = z.shape[1]
        t, valid, w_t, w = _row_targets(z, target, weight, ignore_index)
        shifted = z - z.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        log_p = shifted - xp.log(total)                          # (M, C)
        eps = label_smoothing
        nll = -xp.take_along_axis(log_p, t[:, None], axis=1)[:, 0] * w_t    # (M,)
        loss = (1 - eps) * nll
        if eps > 0:
            loss = loss - (eps / C) * (log_p * w).sum(axis=1) * valid
        self.save_for_backward(e / total, t, valid, w_t, w)
        self.shape, self.reduction, self.eps = x.shape, reduction, eps
        out, self.factor = _reduce(loss, w_t, reduction, target.shape)
        return out

    def backward(self, g):
        p, t, valid, w_t, w = self.saved
        xp = get_array_module(g)
        C, eps = p.shape[1], self.eps
        q_sum = (1 - eps) * w_t + (eps / C) * w.sum() * valid     # sum_c q_ic, (M,)
        grad = p * q_sum[:, None]
        if eps > 0:
            grad -= (eps / C) * w * valid[:, None]
        grad[xp.arange(len(t)), t] -= (1 - eps) * w_t             # the one-hot part of q
        grad *= _grad_scale(g, self.reduction, self.factor)
        return _unrows(grad, self.shape), None, None


class NLLLoss(Function):
    """loss_i = -w_t x_it for row i with target class t (x holds log-probabilities);
    dloss_i/dx_it = -w_t, 0 for the other classes.  Saves the row targets and weights."""
    def forward(self, x, target, weight, ignore_index, reduction):
        xp = get_array_module(x)
        z = _rows(x)                                             # (N, C, *) -> (M, C)
        t, valid, w_t, _ = _row_targets(z, target, weight, ignore_index)
        loss = -xp.take_along_axis(z, t[:, None], axis=1)[:, 0] * w_t     # (M,)
        self.save_for_backward(t, w_t)
        self.shape, self.dtype, self.reduction = x.shape, x.dtype, reduction
        out, self.factor = _reduce(loss, w_t, reduction, target.shape)
        return out

    def backward(self, g):
        t, w_t = self.saved
        xp = get_array_module(g)
        grad = xp.zeros((len(t), self.shape[0] if len(self.shape) == 1 else self.shape[1]),
                        self.dtype)                               # (M, C)
        scale = _grad_scale(g, self.reduction, self.factor)
        grad[xp.arange(len(t)), t] = -w_t * scale.reshape(-1)
        return _unrows(grad, self.shape), None, None


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy between softmax(input) over dim 1 and integer class targets.

    ``weight`` (C,) rescales each class; entries whose target is ``ignore_index`` add
    nothing; ``label_smoothing`` eps mixes the target with the uniform distribution
    over classes: q = (1 - eps) one_hot + eps / C (both weighted by ``weight``).
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    target, weight = _class_target("cross_entropy", input, target, weight, ignore_index)
    return CrossEntropy.apply(input, target, weight, ignore_index=ignore_index,
                              reduction=reduction, label_smoothing=float(label_smoothing))


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of integer class targets, ``input`` holding
    log-probabilities (the output of log_softmax over dim 1)."""
    _check_reduction("nll_loss", reduction)
    target, weight = _class_target("nll_loss", input, target, weight, ignore_index)
    return NLLLoss.apply(input, target, weight, ignore_index=ignore_index,
                         reduction=reduction)


class MSELoss(Function):
    """loss_i = (x_i - y_i)^2;  dloss_i/dx_i = 2 (x_i - y_i) = -dloss_i/dy_i.  Saves x - y."""
    def forward(self, x, y, reduction):
        d = x - y
        self.save_for_backward(d)
        self.reduction, self.n = reduction, d.size
        sq = d * d
        return sq if reduction == "none" else sq.sum() if reduction == "sum" else sq.mean()

    def backward(self, g):
        (d,) = self.saved
        gx = g * 2 * d if self.reduction != "mean" else g * (2 / self.n) * d
        return (gx if self.needs_input_grad[0] else None,
                -gx if self.needs_input_grad[1] else None)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (x - y)^2, reduced. Like torch, different shapes broadcast,
    with a warning (a (N, 1) input against a (N,) target is almost always a bug), and
    mixed dtypes promote (float32 input, int64 target: float32)."""
    _check_reduction("mse_loss", reduction)
    if not isinstance(target, Tensor) and not hasattr(target, "dtype"):
        target = np.asarray(target, dtype=input.dtype)          # a number or a list
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"mse_loss: target shape {tuple(target.shape)} differs from input shape "
                      f"{tuple(input.shape)}; they will be broadcast, which is likely wrong",
                      stacklevel=2)
        try:
            np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ValueError:
            raise ValueError(f"mse_loss: input shape {tuple(input.shape)} and target shape "
                             f"{tuple(target.shape)} cannot be broadcast together") from None
    dtype = result_type(input, target)
    check_float("mse_loss", dtype, f"input and target (got {input.dtype} and {target.dtype})")
    input, target = promote(dtype, input, target)
    return MSELoss.apply(input, target, reduction=reduction)
