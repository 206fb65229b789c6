"""depthwise: groups == C, as in MobileNet. Each filter sees one channel, so the GEMM of
im2col would be (1 x KH*KW) @ (KH*KW x OH*OW), all overhead: ``kernels.depthwise_conv2d``
loops over the taps directly, in the layout the plan names (fast.depthwise_layout)."""
from .. import kernels

__all__ = ["forward", "backward"]


def forward(x, w, b, g, plan):
    y = kernels.depthwise_conv2d(x, w, g, plan.layout)
    if b is not None:
        y += b.reshape(-1, 1, 1)
    return y


def backward(x, w, gy, g, plan, need_x, need_w):
    gx = kernels.depthwise_conv2d_backward_input(gy, w, g, plan.layout) if need_x else None
    gw = kernels.depthwise_conv2d_backward_weight(x, gy, g, plan.layout) if need_w else None
    return gx, gw
