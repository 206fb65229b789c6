"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``, as in ``torch.nn.utils``.

Both replace ``p.grad`` with a new Tensor instead of scaling it in place, because a
gradient array may be shared with other tensors (the engine's rule).
"""
from ... import backend
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    total = ||(||g_1||_q, ..., ||g_k||_q)||_q   (= the q-norm of all gradients as one
    vector; q = ``norm_type``, ``inf`` for the largest |g|), then every gradient is
    multiplied by ``min(1, max_norm / (total + 1e-6))``. Returns ``total`` (a 0-d
    Tensor, before clipping), as PyTorch does.
    """
    params = _with_grads(parameters)
    norm_type = float(norm_type)
    if not params:
        return Tensor(0.0)
    grads = [p.grad.data for p in params]
    xp = backend.get_array_module(grads[0])
    norms = xp.stack([xp.linalg.norm(g.ravel(), ord=norm_type) for g in grads])
    total = xp.linalg.norm(norms, ord=norm_type)
    total_value = float(total)
    if error_if_nonfinite and not (total_value < float("inf")):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total_value}; set error_if_nonfinite=False to "
                           f"clip anyway")
    coef = float(max_norm) / (total_value + 1e-6)
    if coef < 1.0:
        for p in params:
            p.grad = Tensor(p.grad.data * coef)       # new array: grads may be shared
    return Tensor(xp.asarray(total))              # 0-d array: keeps the gradients' dtype


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient entry into [-clip_value, clip_value]."""
    c = float(clip_value)
    for p in _with_grads(parameters):
        p.grad = Tensor(p.xp.clip(p.grad.data, -c, c))
