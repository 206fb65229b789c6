"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""
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
        lr, mu = float(group["lr"]), float(group["momentum"])
        dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
        d = g
        if weight_decay != 0:
            d = g + weight_decay * p                # out of place: g is read-only
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:
                buf *= mu
                buf += d if dampening == 0 else (1.0 - dampening) * d
            d = d + mu * buf if group["nesterov"] else buf
        p -= lr * d
