"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), optionally AMSGrad."""
import math

from .. import backend
from .optimizer import Optimizer


class Adam(Optimizer):
    r"""Adam as ``torch.optim.Adam`` computes it, at step t = 1, 2, ...::

        g = g + weight_decay * p                       (L2 penalty; Adam only)
        m = beta1 * m + (1 - beta1) * g                (first moment)
        v = beta2 * v + (1 - beta2) * g^2              (second moment)
        v_max = max(v_max, v)                          (AMSGrad only; then v := v_max)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The divisions by ``1 - beta^t`` (bias correction) undo the pull towards zero of
    moments that start at zero. ``eps`` is added after the bias correction of
    sqrt(v), as PyTorch (and the paper's "epsilon hat") does.
    """
    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        name = type(self).__name__
        if lr < 0:
            raise ValueError(f"{name}: invalid learning rate {lr} (expected lr >= 0)")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"{name}: invalid betas {betas} (expected each in [0, 1))")
        if eps < 0:
            raise ValueError(f"{name}: invalid eps {eps} (expected eps >= 0)")
        if weight_decay < 0:
            raise ValueError(f"{name}: invalid weight_decay {weight_decay} (expected >= 0)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def update(self, p, g, state, group):
        xp = backend.get_array_module(p)
        lr, eps = float(group["lr"]), float(group["eps"])
        weight_decay = float(group["weight_decay"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        t = state["step"]

        if weight_decay != 0:
            if self.decoupled_weight_decay:
                p *= 1.0 - lr * weight_decay       # AdamW: shrink p itself
            else:
                g = g + weight_decay * p           # Adam: L2 in the gradient (out of place)

        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1.0 - beta1) * g
        v *= beta2
        g2 = g * g                                  # one temporary, scaled in place
        g2 *= 1.0 - beta2
        v += g2
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])

        bias_correction1 = 1.0 - beta1 ** t
        bias_correction2 = 1.0 - beta2 ** t
        denom = xp.sqrt(v, out=g2)                  # g2 is spent: reuse its memory
        denom /= math.sqrt(bias_correction2)
        denom += eps
        step = xp.divide(m, denom, out=denom)       # m / denom, reusing denom's memory
        step *= lr / bias_correction1
        p -= step


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter): before the Adam step
    the weights shrink, ``p = p * (1 - lr * weight_decay)``, instead of adding
    ``weight_decay * p`` to the gradient, where Adam's 1/sqrt(v) scaling would
    weaken the decay of weights with large gradients. Default weight_decay 0.01,
    as in PyTorch.
    """
    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
