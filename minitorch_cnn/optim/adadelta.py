"""Adadelta (Zeiler, 2012)."""
from .. import backend
from .optimizer import Optimizer


class Adadelta(Optimizer):
    r"""Steps scaled by the ratio of two running root-mean-squares, of past steps and of
    past gradients, so the step has the units of the weight and needs no tuned rate
    (``lr`` only rescales it; 1.0 is the paper's method). As ``torch.optim.Adadelta``::

        g = g + weight_decay * p                                (L2 penalty)
        v = rho * v + (1 - rho) * g^2                           (square_avg)
        d = sqrt(u + eps) / sqrt(v + eps) * g                   (the step)
        u = rho * u + (1 - rho) * d^2                           (acc_delta)
        p = p - lr * d
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        if lr < 0:
            raise ValueError(f"Adadelta: invalid learning rate {lr} (expected lr >= 0)")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho {rho} (expected in [0, 1])")
        if eps < 0:
            raise ValueError(f"Adadelta: invalid eps {eps} (expected eps >= 0)")
        if weight_decay < 0:
            raise ValueError(f"Adadelta: invalid weight_decay {weight_decay} (expected >= 0)")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def update(self, p, g, state, group):
        xp = backend.get_array_module(p)
        rho, eps = float(group["rho"]), float(group["eps"])
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
            state["acc_delta"] = xp.zeros_like(p)
        state["step"] += 1
        if group["maximize"]:
            g = -g
        if group["weight_decay"] != 0:
            g = g + float(group["weight_decay"]) * p       # out of place: g is read-only
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1.0 - rho) * (g * g)
        d = xp.sqrt(u + eps)
        d /= xp.sqrt(v + eps)
        d *= g
        u *= rho
        u += (1.0 - rho) * (d * d)
        p -= float(group["lr"]) * d
