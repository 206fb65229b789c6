"""RMSprop (Hinton's lecture 6e), with PyTorch's or TensorFlow's placement of eps."""
from .. import backend
from .optimizer import Optimizer


class RMSprop(Optimizer):
    r"""Divide the gradient by a running root-mean-square of recent gradients::

        g = g + weight_decay * p                      (L2 penalty)
        v = alpha * v + (1 - alpha) * g^2             (mean square, "square_avg")
        a = alpha * a + (1 - alpha) * g               (mean, "grad_avg"; centered only)
        s = v - a^2   if centered  else  v            (variance or raw second moment)
        r = sqrt(s) + eps      PyTorch     (eps_inside_sqrt=False, the default)
        r = sqrt(s + eps)      TensorFlow  (eps_inside_sqrt=True)
        b = momentum * b + g / r,  p = p - lr * b     if momentum > 0
        p = p - lr * g / r                            otherwise

    With ``eps_inside_sqrt=False`` this is ``torch.optim.RMSprop`` step for step.
    The placement of eps matters when it is large: EfficientNet (and MobileNet/
    NASNet before it) trained with TensorFlow's ``RMSPropOptimizer(decay=0.9,
    momentum=0.9, epsilon=0.001)``, where sqrt(v + 1e-3) >= 0.032 bounds the
    step, while sqrt(v) + 1e-3 does not; to reproduce it use
    ``RMSprop(params, lr, alpha=0.9, momentum=0.9, eps=1e-3, eps_inside_sqrt=True)``.
    Two further TF1 details are not reproduced: it starts ``v`` at 1 rather than
    0 (gentler first steps), and keeps lr inside the momentum buffer
    (``b = momentum * b + lr * g / r``; the same as here while lr is constant).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False, eps_inside_sqrt=False):
        if lr < 0:
            raise ValueError(f"RMSprop: invalid learning rate {lr} (expected lr >= 0)")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RMSprop: invalid alpha {alpha} (expected in [0, 1])")
        if eps < 0:
            raise ValueError(f"RMSprop: invalid eps {eps} (expected eps >= 0)")
        if momentum < 0:
            raise ValueError(f"RMSprop: invalid momentum {momentum} (expected >= 0)")
        if weight_decay < 0:
            raise ValueError(f"RMSprop: invalid weight_decay {weight_decay} (expected >= 0)")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      eps_inside_sqrt=eps_inside_sqrt))

    def update(self, p, g, state, group):
        xp = backend.get_array_module(p)
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        momentum, weight_decay = float(group["momentum"]), float(group["weight_decay"])
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p)
        state["step"] += 1

        if weight_decay != 0:
            g = g + weight_decay * p                  # out of place: g is read-only
        v = state["square_avg"]
        v *= alpha
        r = g * g                                     # r: scratch memory, reused below
        r *= 1.0 - alpha
        v += r
        s = v
        if group["centered"]:
            a = state["grad_avg"]
            a *= alpha
            a += (1.0 - alpha) * g
            s = xp.multiply(a, a, out=r)
            xp.subtract(v, s, out=s)                  # s = v - a^2, in r's memory
        if group["eps_inside_sqrt"]:
            xp.add(s, eps, out=r)
            xp.sqrt(r, out=r)                         # r = sqrt(s + eps): TensorFlow
        else:
            xp.sqrt(s, out=r)
            r += eps                                  # r = sqrt(s) + eps: PyTorch
        xp.divide(g, r, out=r)                        # r = g / r
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += r
            p -= lr * buf
        else:
            r *= lr
            p -= r
