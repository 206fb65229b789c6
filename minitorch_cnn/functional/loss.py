"""Losses: cross_entropy (class indices or class probabilities as targets), nll_loss,
binary_cross_entropy (with logits too), and the regression losses mse_loss, l1_loss,
smooth_l1_loss, huber_loss.

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

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss",
           "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]


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
        probs = (" of shape (N, *), or class probabilities of the input's shape"
                 if op == "cross_entropy" else "")
        raise TypeError(f"{op}: expected integer class indices (int64){probs} as target, "
                        f"got {getattr(target, 'dtype', raw.dtype)} of shape "
                        f"{tuple(raw.shape)} (input "
                        f"{tuple(input.shape)})")
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


class SoftCrossEntropy(Function):
    """Cross-entropy against class probabilities q (a soft target of the input's shape):

        loss_i = -sum_c w_c q_ic log p_ic,      q smoothed: (1 - eps) q + eps / C

    dloss_i/dz_i = p_i sum_c w_c q_ic - w q_i (one-hot q and w = 1 give "softmax minus
    one-hot" again). 'mean' divides by the number of rows.  Saves p and w q."""
    def forward(self, x, q, weight, reduction, label_smoothing):
        xp = get_array_module(x)
        z, q = _rows(x), _rows(q).astype(x.dtype, copy=False)    # (N, C, *) -> (M, C)
        C, eps = z.shape[1], label_smoothing
        if eps > 0:
            q = (1 - eps) * q + eps / C
        wq = q if weight is None else q * weight.astype(x.dtype, copy=False)
        shifted = z - z.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        log_p = shifted - xp.log(total)
        loss = -(wq * log_p).sum(axis=1)                          # (M,)
        # dloss_i/dq_ic = -(1 - eps) w_c log p_ic, if the target needs a gradient
        dq = None
        if self.needs_input_grad[1]:
            dq = -(1 - eps) * (log_p if weight is None else log_p * weight)
        self.save_for_backward(e / total, wq, dq)
        self.shape, self.reduction = x.shape, reduction
        if reduction == "none":
            return loss.reshape((x.shape[0],) + tuple(x.shape[2:]) if x.ndim > 1 else ())
        self.factor = 1.0 if reduction == "sum" else 1.0 / len(loss)
        return loss.sum() * self.factor

    def backward(self, g):
        p, wq, dq = self.saved
        scale = g.reshape(-1, 1) if self.reduction == "none" else g * self.factor
        grad = (p * wq.sum(axis=1, keepdims=True) - wq) * scale
        gq = None if dq is None else _unrows(dq * scale, self.shape)
        return _unrows(grad, self.shape), gq


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy between softmax(input) over dim 1 and the target: integer class
    indices (N, *), or class probabilities of the input's shape (N, C, *).

    ``weight`` (C,) rescales each class; entries whose target is ``ignore_index`` add
    nothing (class indices only); ``label_smoothing`` eps mixes the target with the
    uniform distribution over classes: q = (1 - eps) q + eps / C (both weighted by
    ``weight``).
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    kind = getattr(target, "dtype", None)
    if kind is not None and kind.kind == "f" and tuple(target.shape) == tuple(input.shape):
        check_float("cross_entropy", input, "input (the logits)")
        if input.ndim == 0:
            raise ValueError("cross_entropy: input needs a class dim: expected (N, C, *) or "
                             "(C,), got a 0-d tensor")
        C = input.shape[0] if input.ndim == 1 else input.shape[1]
        if weight is not None and not isinstance(weight, Tensor):
            weight = backend.to_device(np.asarray(weight), input.device)
        if weight is not None and tuple(weight.shape) != (C,):
            raise ValueError(f"cross_entropy: weight of shape {tuple(weight.shape)}, expected "
                             f"({C},), one per class")
        return SoftCrossEntropy.apply(input, target, weight, reduction=reduction,
                                      label_smoothing=float(label_smoothing))
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
    input, target = _regression_args("mse_loss", input, target)
    return MSELoss.apply(input, target, reduction=reduction)


# ------------------------------------------------------------ binary targets
def _reduced(loss, reduction):
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def _grad_of_reduced(g, reduction, n):
    """dL/d(loss_i): g itself ('none', 'sum') or g / n ('mean')."""
    return g / n if reduction == "mean" else g


class BinaryCrossEntropy(Function):
    """loss_i = -w_i (y_i log x_i + (1 - y_i) log(1 - x_i)), x a probability, each log
    clamped at -100 as torch does (so x = 0 or 1 gives a finite loss);
    dloss/dx = w (x - y) / max(x (1 - x), 1e-12),  dloss/dy = w (log(1 - x) - log x)
    (not clamped, as torch: infinite at x = 0 or 1).
    Saves x, y and w."""
    def forward(self, x, y, w, reduction):
        xp = get_array_module(x)
        with np.errstate(divide="ignore"):
            log_x, log_1mx = xp.maximum(xp.log(x), -100), xp.maximum(xp.log1p(-x), -100)
        loss = -(y * log_x + (1 - y) * log_1mx)
        loss = loss if w is None else loss * w
        log_ratio = None
        if self.needs_input_grad[1]:                 # unclamped here, as torch: +-inf at 0, 1
            with np.errstate(divide="ignore"):
                log_ratio = xp.log(x) - xp.log1p(-x)
        self.save_for_backward(x, y, w, log_ratio)
        self.reduction, self.n = reduction, loss.size
        return _reduced(loss, reduction)

    def backward(self, g):
        x, y, w, log_ratio = self.saved
        xp = get_array_module(g)
        g = _grad_of_reduced(g, self.reduction, self.n)
        g = g if w is None else g * w
        gx = g * (x - y) / xp.maximum(x * (1 - x), 1e-12) if self.needs_input_grad[0] else None
        gy = -g * log_ratio if self.needs_input_grad[1] else None
        return gx, gy


class BinaryCrossEntropyWithLogits(Function):
    """BCE of sigmoid(x), computed from the logit x without overflow. With l = 1 + (p - 1) y
    (p = pos_weight, 1 when not given):

        loss = w ((1 - y) x + l softplus(-x)),   softplus(-x) = log(1 + e^-x)
                                                              = max(-x, 0) + log(1 + e^-|x|)
        dloss/dx = w ((1 - y) - l sigmoid(-x))    (= w (sigmoid(x) - y) for p = 1)
        dloss/dy = w ((p - 1) softplus(-x) - x)

    Saves x, y, w and p."""
    def forward(self, x, y, w, p, reduction):
        xp = get_array_module(x)
        softplus = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))      # log(1 + e^-x)
        lw = 1 if p is None else 1 + (p - 1) * y
        loss = (1 - y) * x + lw * softplus
        loss = loss if w is None else loss * w
        self.save_for_backward(x, y, w, p, softplus if self.needs_input_grad[1] else None)
        self.reduction, self.n = reduction, loss.size
        return _reduced(loss, reduction)

    def backward(self, g):
        x, y, w, p, softplus = self.saved
        xp = get_array_module(g)
        g = _grad_of_reduced(g, self.reduction, self.n)
        g = g if w is None else g * w
        gx = gy = None
        if self.needs_input_grad[0]:
            lw = 1 if p is None else 1 + (p - 1) * y
            # sigmoid(-x) = e^-x / (1 + e^-x) = exp(-x - softplus(-x)), without overflow
            sig_neg = xp.exp(-x - (xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))))
            gx = g * ((1 - y) - lw * sig_neg)
        if self.needs_input_grad[1]:
            gy = g * (-x if p is None else (p - 1) * softplus - x)
        return gx, gy


def _binary_args(op, input, target, weight, pos_weight=None):
    """Check shapes and dtypes; weights become raw arrays on the input's device."""
    check_float(op, input)
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target, dtype=input.data.dtype), device=input.device)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target of shape {tuple(target.shape)} and input of shape "
                         f"{tuple(input.shape)} differ; they must be the same (e.g. "
                         f"output.squeeze(1) for an (N, 1) output and (N,) labels)")
    if target.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point target (0/1 labels as floats), got "
                        f"{target.dtype}; convert it with target.float()")
    target = target.to(input.dtype)
    raw = []
    for name, v in (("weight", weight), ("pos_weight", pos_weight)):
        if v is not None:
            v = backend.to_device(v.data if isinstance(v, Tensor) else np.asarray(v),
                                  input.device).astype(input.data.dtype, copy=False)
            try:
                np.broadcast_shapes(tuple(v.shape), tuple(input.shape))
            except ValueError:
                raise ValueError(f"{op}: {name} of shape {tuple(v.shape)} does not broadcast "
                                 f"to the input's shape {tuple(input.shape)}") from None
        raw.append(v)
    return target, raw


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """BCE of probabilities ``input`` in [0, 1] against targets in [0, 1]; ``weight``
    rescales each entry (broadcast)."""
    _check_reduction("binary_cross_entropy", reduction)
    target, (w, _) = _binary_args("binary_cross_entropy", input, target, weight)
    if input.data.size and (input.data.min() < 0 or input.data.max() > 1):
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 "
                         "and 1 (probabilities); for logits use "
                         "binary_cross_entropy_with_logits (nn.BCEWithLogitsLoss)")
    return BinaryCrossEntropy.apply(input, target, w, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """BCE of sigmoid(input), computed stably from the logits. ``weight`` rescales each
    entry, ``pos_weight`` the positive term (one per class, broadcast over the last dim)."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    target, (w, p) = _binary_args("binary_cross_entropy_with_logits", input, target, weight,
                                  pos_weight)
    return BinaryCrossEntropyWithLogits.apply(input, target, w, p, reduction=reduction)


# ------------------------------------------------------------ regression
class SmoothL1(Function):
    """With d = x - y and b = beta:  loss = d^2 / (2 b) where |d| < b, else |d| - b / 2
    (b = 0: |d|, the L1 loss);  dloss/dx = d / b where |d| < b, else sign(d);
    dloss/dy = -dloss/dx. ``scale`` multiplies both (Huber's loss is delta * smooth L1
    with beta = delta).  Saves d."""
    def forward(self, x, y, beta, scale, reduction):
        xp = get_array_module(x)
        d = x - y
        a = xp.abs(d)
        loss = a if beta == 0 else xp.where(a < beta, 0.5 * d * d / (beta or 1), a - 0.5 * beta)
        self.save_for_backward(d)
        self.beta, self.scale, self.reduction, self.n = beta, scale, reduction, d.size
        return _reduced(loss * scale if scale != 1 else loss, reduction)

    def backward(self, g):
        (d,) = self.saved
        xp = get_array_module(g)
        slope = xp.sign(d) if self.beta == 0 else \
            xp.where(xp.abs(d) < self.beta, d / self.beta, xp.sign(d))
        gx = _grad_of_reduced(g, self.reduction, self.n) * self.scale * slope
        return (gx if self.needs_input_grad[0] else None,
                -gx if self.needs_input_grad[1] else None)


def _regression_args(op, input, target):
    """Same shapes (torch broadcasts with a warning: a (N, 1) output against (N,) labels is
    almost always a bug), one floating dtype."""
    if not isinstance(target, Tensor) and not hasattr(target, "dtype"):
        target = np.asarray(target, dtype=input.dtype)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"{op}: target shape {tuple(target.shape)} differs from input shape "
                      f"{tuple(input.shape)}; they will be broadcast, which is likely wrong",
                      stacklevel=3)
        try:
            np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ValueError:
            raise ValueError(f"{op}: input shape {tuple(input.shape)} and target shape "
                             f"{tuple(target.shape)} cannot be broadcast together") from None
    dtype = result_type(input, target)
    check_float(op, dtype, f"input and target (got {input.dtype} and {target.dtype})")
    return promote(dtype, input, target)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error |x - y| (its gradient at x = y is 0, as torch's sign)."""
    _check_reduction("l1_loss", reduction)
    input, target = _regression_args("l1_loss", input, target)
    return SmoothL1.apply(input, target, beta=0.0, scale=1.0, reduction=reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Quadratic for |x - y| < beta, linear beyond (Fast R-CNN's box loss)."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    input, target = _regression_args("smooth_l1_loss", input, target)
    return SmoothL1.apply(input, target, beta=float(beta), scale=1.0, reduction=reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber's loss: d^2 / 2 for |d| <= delta, delta (|d| - delta / 2) beyond."""
    _check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    input, target = _regression_args("huber_loss", input, target)
    return SmoothL1.apply(input, target, beta=float(delta), scale=float(delta),
                          reduction=reduction)
