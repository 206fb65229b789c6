"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""
from .. import kernels
from ..backend import get_array_module
from .optimizer import Optimizer


class SGD(Optimizer):
    r"""SGD exactly as ``torch.optim.SGD`` updates (mu = momentum, tau = dampening)::

        d = g + weight_decay * p                    (L2 penalty folded into the gradient)
        b = d                         on the first step
        b = mu * b + (1 - tau) * d    afterwards    (the momentum buffer)
        d = d + mu * b   if nesterov  else  b
        p = p - lr * d

    This is Sutskever et al.'s form (lr outside the buffer), which AlexNet, VGG and
    ResNet trained with (momentum 0.9, weight decay 5e-4 or 1e-4). Nesterov's
    look-ahead needs momentum > 0 and no dampening.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        if lr < 0:
            raise ValueError(f"SGD: invalid learning rate {lr} (expected lr >= 0)")
        if momentum < 0:
            raise ValueError(f"SGD: invalid momentum {momentum} (expected >= 0)")
        if weight_decay < 0:
            raise ValueError(f"SGD: invalid weight_decay {weight_decay} (expected >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening 0, "
                             f"got momentum={momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def update(self, p, g, state, group):
        momentum = float(group["momentum"])
        buf = state.get("momentum_buffer") if momentum != 0 else None
        first = momentum != 0 and buf is None
        if first:
            buf = state["momentum_buffer"] = get_array_module(p).empty_like(p)
        # one pass over p, g and buf (kernels/reference.py spells the steps out)
        kernels.sgd_update(p, g, buf, float(group["lr"]), momentum, float(group["dampening"]),
                           float(group["weight_decay"]), bool(group["nesterov"]), first)
