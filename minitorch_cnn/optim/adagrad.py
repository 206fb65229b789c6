"""Adagrad (Duchi, Hazan & Singer, 2011)."""
from .. import backend
from .optimizer import Optimizer


class Adagrad(Optimizer):
    r"""Each weight's step shrinks with the sum of its squared gradients so far, so rarely
    updated weights keep large steps. As ``torch.optim.Adagrad``, at step t = 1, 2, ...::

        g = g + weight_decay * p                      (L2 penalty)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        s = s + g^2                                   (starts at initial_accumulator_value)
        p = p - lr_t * g / (sqrt(s) + eps)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False):
        if lr < 0:
            raise ValueError(f"Adagrad: invalid learning rate {lr} (expected lr >= 0)")
        if lr_decay < 0:
            raise ValueError(f"Adagrad: invalid lr_decay {lr_decay} (expected >= 0)")
        if weight_decay < 0:
            raise ValueError(f"Adagrad: invalid weight_decay {weight_decay} (expected >= 0)")
        if initial_accumulator_value < 0:
            raise ValueError(f"Adagrad: invalid initial_accumulator_value "
                             f"{initial_accumulator_value} (expected >= 0)")
        if eps < 0:
            raise ValueError(f"Adagrad: invalid eps {eps} (expected eps >= 0)")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def update(self, p, g, state, group):
        xp = backend.get_array_module(p)
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(p, float(group["initial_accumulator_value"]))
        state["step"] += 1
        if group["maximize"]:
            g = -g
        if group["weight_decay"] != 0:
            g = g + float(group["weight_decay"]) * p       # out of place: g is read-only
        lr = float(group["lr"]) / (1 + (state["step"] - 1) * float(group["lr_decay"]))
        s = state["sum"]
        s += g * g
        std = xp.sqrt(s)
        std += float(group["eps"])
        p -= lr * (g / std)
