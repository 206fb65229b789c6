"""Gradient checking: compare backward with finite differences, in float64.

For every input x that requires grad and every output y, the analytic Jacobian
J[j, k] = dy_j/dx_k comes from one backward pass per output entry (grad = the
one-hot e_j), and the numeric one from central differences

    dy/dx_k ~ (f(x + eps e_k) - f(x - eps e_k)) / (2 eps)

whose error is O(eps^2), so eps = 1e-6 in float64 leaves ~1e-10 of truncation and
rounding error: a real backward bug stands out by orders of magnitude.
"""
import numpy as np

from .autograd import no_grad
from .backend import to_device
from .tensor import Tensor

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Backward and finite differences disagree."""


def _as_float64(a):
    """A float64 leaf copy of a floating Tensor (same requires_grad), C-ordered so that
    ``reshape(-1)`` is a view we can perturb in place; anything else is passed as is."""
    if isinstance(a, Tensor) and a.dtype.kind == "f":
        data = a.xp.array(a.data, dtype=np.float64, order="C")
        return Tensor(data, requires_grad=a.requires_grad)
    return a


def _outputs(out):
    """fn's result as a tuple of floating Tensors (a single one, or a tuple/list)."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return tuple(o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f")


def _flat(out):
    """Copies: an output may be a view of an input (x[1:]) that the next nudge changes."""
    return [o.data.reshape(-1).copy() for o in out]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Check ``fn(*inputs)``'s backward against central differences.

    ``inputs`` is a Tensor or a sequence of Tensors (and constants); floating Tensors
    are copied to float64, and those with ``requires_grad`` are checked. Entry by
    entry, analytic a and numeric n must satisfy |a - n| <= atol + rtol * |n|.
    Returns True, or raises GradcheckError naming the worst mismatch: which input
    and output, the positions in each, and both values.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    inputs = tuple(_as_float64(a) for a in inputs)
    checked = [i for i, a in enumerate(inputs) if isinstance(a, Tensor) and a.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass tensors with "
                         "requires_grad=True")
    outputs = _outputs(fn(*inputs))
    if not outputs:
        raise ValueError("gradcheck: fn returned no floating-point tensor")

    # analytic Jacobians: analytic[k][i] has shape (outputs[k].size, inputs[i].size)
    analytic = [{i: np.zeros((o.data.size, inputs[i].data.size)) for i in checked}
                for o in outputs]
    for k, o in enumerate(outputs):
        if not o.requires_grad:           # does not depend on any input: J = 0
            continue
        for j in range(o.data.size):
            for i in checked:
                inputs[i].grad = None
            seed = o.xp.zeros(o.data.size, o.dtype)
            seed[j] = 1
            o.backward(seed.reshape(o.shape), retain_graph=True)
            for i in checked:
                g = inputs[i].grad
                if g is None:             # no path from this output to this input
                    continue
                if g.shape != inputs[i].shape:
                    raise GradcheckError(f"gradcheck: the gradient of input {i} has shape "
                                         f"{g.shape}, but the input has shape "
                                         f"{inputs[i].shape}")
                analytic[k][i][j] = to_device(g.data, "cpu").reshape(-1)

    # numeric Jacobians by central differences, one input entry at a time
    numeric = [{i: np.zeros_like(analytic[k][i]) for i in checked} for k in range(len(outputs))]
    with no_grad():
        for i in checked:
            flat = inputs[i].data.reshape(-1)     # a view: perturbing it perturbs the input
            for p in range(flat.size):
                orig = float(flat[p])
                flat[p] = orig + eps
                plus = _flat(_outputs(fn(*inputs)))
                flat[p] = orig - eps
                minus = _flat(_outputs(fn(*inputs)))
                flat[p] = orig
                for k in range(len(outputs)):
                    column = (plus[k] - minus[k]) / (2 * eps)
                    numeric[k][i][:, p] = to_device(column, "cpu")

    worst = None                                  # (excess over tolerance, k, i, j, p)
    for k in range(len(outputs)):
        for i in checked:
            a, n = analytic[k][i], numeric[k][i]
            excess = np.abs(a - n) - (atol + rtol * np.abs(n))
            if excess.size and excess.max() > 0:
                j, p = np.unravel_index(np.argmax(excess), excess.shape)
                if worst is None or excess[j, p] > worst[0]:
                    worst = (excess[j, p], k, i, j, p)
    if worst is not None:
        _, k, i, j, p = worst
        a, n = analytic[k][i][j, p], numeric[k][i][j, p]
        in_pos = tuple(int(v) for v in np.unravel_index(p, inputs[i].shape))
        out_pos = tuple(int(v) for v in np.unravel_index(j, outputs[k].shape))
        raise GradcheckError(
            f"gradcheck: backward disagrees with finite differences for d(output {k})"
            f"[{out_pos}] / d(input {i})[{in_pos}]: analytic {a:.8g} vs numeric {n:.8g} "
            f"(|diff| {abs(a - n):.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|)")
    return True
