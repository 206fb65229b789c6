"""The hot loops of the CNN ops in plain NumPy: the version to read.

Every function here is written with ``xp`` (NumPy or CuPy, whichever owns the
array), uses whole-array slicing instead of Python loops over pixels, and is the
oracle the fast tiers (``cpu.py`` with Numba, ``cuda.py`` with CuPy) are tested
against. Each loops only over the KH*KW taps of a window (9 for a 3x3 kernel).

Shape glossary, used in every file of the conv story:

    N  batch size            C  channels (input)       OC  channels (output)
    H, W    input height and width       OH, OW   output height and width
    KH, KW  kernel (window) size         SH, SW   stride
    PH, PW  zero padding on each side    DH, DW   dilation (gap between taps)

A window's tap (kh, kw) of output pixel (oh, ow) reads input pixel

    ih = oh*SH - PH + kh*DH,    iw = ow*SW - PW + kw*DW

and OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1 (likewise OW).

The trick used throughout: for a fixed tap (kh, kw), the pixels it reads for all
(oh, ow) form one strided slice of the padded input,
``xpad[:, :, kh*DH : kh*DH + SH*(OH-1) + 1 : SH, kw*DW : ... : SW]``.
"""
import numpy as np

from ..backend import get_array_module

__all__ = ["im2col", "col2im", "depthwise_conv2d", "depthwise_conv2d_backward_input",
           "depthwise_conv2d_backward_weight", "max_pool2d", "max_pool2d_backward",
           "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d",
           "adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
           "batch_norm_statistics", "batch_norm_apply", "batch_norm_backward_reduce",
           "batch_norm_backward_input", "clamp", "band_backward", "sigmoid", "silu",
           "silu_backward", "sgd_update", "winograd_input_transform",
           "winograd_input_transform_backward", "winograd_output_transform",
           "winograd_output_transform_backward",
           "WINOGRAD_BT", "WINOGRAD_G", "WINOGRAD_AT"]


def _tap(a, kh, kw, SH, SW, DH, DW, OH, OW):
    """The (OH, OW) grid of pixels that tap (kh, kw) reads from padded array ``a``."""
    h0, w0 = kh * DH, kw * DW
    return a[..., h0:h0 + SH * (OH - 1) + 1:SH, w0:w0 + SW * (OW - 1) + 1:SW]


def _pad(x, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW, value=0.0):
    """Pad H and W by PH, PW on the top/left, and on the bottom/right by as much as the
    last window needs (PH, or more when ceil_mode lets a window hang off the edge)."""
    xp = get_array_module(x)
    H, W = x.shape[-2:]
    bottom = max(PH, (OH - 1) * SH + DH * (KH - 1) + 1 - H - PH)
    right = max(PW, (OW - 1) * SW + DW * (KW - 1) + 1 - W - PW)
    widths = [(0, 0)] * (x.ndim - 2) + [(PH, bottom), (PW, right)]
    return xp.pad(x, widths, constant_values=value)


def _store(a, out):
    """``a`` as a new contiguous array, or copied into the buffer ``out`` when one is given
    (the fast tiers write there directly; here it costs one copy)."""
    if out is None:
        return get_array_module(a).ascontiguousarray(a)
    out[...] = a
    return out


def _out_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW):
    return ((H + 2 * PH - DH * (KH - 1) - 1) // SH + 1,
            (W + 2 * PW - DW * (KW - 1) - 1) // SW + 1)


# ------------------------------------------------------------------ im2col
def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW, out=None):
    """Unfold every window of ``x`` into one column of a matrix.

    (N, C, H, W) -> cols (C*KH*KW, N*OH*OW): row (c, kh, kw), column (n, oh, ow), so that
    a convolution becomes one matrix product  W (OC, C*KH*KW) @ cols.
    ``out``, if given, is a buffer of that shape to fill (reused across calls).
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    xpad = _pad(x, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW)
    if out is None:
        out = xp.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    cols = out.reshape(C, KH, KW, N, OH, OW)
    for kh in range(KH):
        for kw in range(KW):
            # tap (kh, kw) of every window: (N, C, OH, OW) -> (C, N, OH, OW)
            cols[:, kh, kw] = _tap(xpad, kh, kw, SH, SW, DH, DW, OH, OW).transpose(1, 0, 2, 3)
    return out


def col2im(cols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW, out=None):
    """The adjoint of im2col: add every column back onto the pixels its window read.

    cols (C*KH*KW, N*OH*OW) -> (N, C, H, W); overlapping windows add up. This is how a
    convolution's input gradient is formed from dL/dcols.
    """
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    dxpad = _pad(xp.zeros(x_shape, dtype=cols.dtype), PH, PW, OH, OW, KH, KW, SH, SW, DH, DW)
    cols = cols.reshape(C, KH, KW, N, OH, OW)
    for kh in range(KH):
        for kw in range(KW):
            # within one tap the pixels are distinct, so += is a plain scatter
            tap = _tap(dxpad, kh, kw, SH, SW, DH, DW, OH, OW)
            tap += cols[:, kh, kw].transpose(1, 0, 2, 3)
    return _store(dxpad[:, :, PH:PH + H, PW:PW + W], out)


# ------------------------------------------------------ depthwise convolution
def depthwise_conv2d(x, w, SH, SW, PH, PW, DH, DW):
    """Each input channel convolved with its own filters (groups == C).

    x (N, C, H, W), w (OC, 1, KH, KW) with OC = C*M -> y (N, OC, OH, OW);
    output channel o reads input channel o // M:  y[n,o] = sum_kh,kw w[o,kh,kw] * tap(x[n, o//M]).
    No im2col: with one input channel per filter the GEMM would be a (1 x KH*KW) product.
    """
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    M = OC // C
    OH, OW = _out_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    xpad = _pad(x, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW)
    xpad = xpad.repeat(M, axis=1) if M > 1 else xpad          # (N, OC, H+2PH, W+2PW)
    y = 0
    for kh in range(KH):
        for kw in range(KW):
            y = y + _tap(xpad, kh, kw, SH, SW, DH, DW, OH, OW) * w[:, 0, kh, kw, None, None]
    return y


def depthwise_conv2d_backward_input(gy, w, x_shape, SH, SW, PH, PW, DH, DW):
    """dL/dx of depthwise_conv2d: each tap sends gy * w[o, kh, kw] back to the pixels it read."""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    OC, _, KH, KW = w.shape
    M = OC // C
    OH, OW = gy.shape[2:]
    dxpad = _pad(xp.zeros((N, OC, H, W), dtype=gy.dtype), PH, PW, OH, OW, KH, KW, SH, SW, DH, DW)
    for kh in range(KH):
        for kw in range(KW):
            _tap(dxpad, kh, kw, SH, SW, DH, DW, OH, OW)[...] += gy * w[:, 0, kh, kw, None, None]
    dx = dxpad[:, :, PH:PH + H, PW:PW + W]
    return xp.ascontiguousarray(dx.reshape(N, C, M, H, W).sum(axis=2))


def depthwise_conv2d_backward_weight(x, gy, KH, KW, SH, SW, PH, PW, DH, DW):
    """dL/dw of depthwise_conv2d: dw[o, 0, kh, kw] = sum_n,oh,ow gy[n,o] * tap(x[n, o//M])."""
    xp = get_array_module(x)
    OC = gy.shape[1]
    M = OC // x.shape[1]
    OH, OW = gy.shape[2:]
    xpad = _pad(x, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW)
    xpad = xpad.repeat(M, axis=1) if M > 1 else xpad
    dw = xp.empty((OC, 1, KH, KW), dtype=gy.dtype)
    for kh in range(KH):
        for kw in range(KW):
            dw[:, 0, kh, kw] = (gy * _tap(xpad, kh, kw, SH, SW, DH, DW, OH, OW)).sum(axis=(0, 2, 3))
    return dw


# ------------------------------------------------------------------ pooling
def _tap_index(H, W, kh, kw, SH, SW, PH, PW, DH, DW, OH, OW, xp):
    """(OH, OW) flat index ih*W + iw that tap (kh, kw) reads, or -1 where it reads padding."""
    ih = xp.arange(OH) * SH - PH + kh * DH
    iw = xp.arange(OW) * SW - PW + kw * DW
    inside = ((ih >= 0) & (ih < H))[:, None] & ((iw >= 0) & (iw < W))[None, :]
    return xp.where(inside, ih[:, None] * W + iw[None, :], -1)


def max_pool2d(x, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
    """y = the largest entry of each window, and argmax = where it was (flat index ih*W + iw
    into its (H, W) plane, as torch's return_indices gives). Padding never wins (-inf).
    Ties go to the first tap in row-major order, as in torch.

    x (N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) int64
    """
    xp = get_array_module(x)
    H, W = x.shape[2:]
    xpad = _pad(x, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW, value=-np.inf)
    y = xp.full(x.shape[:2] + (OH, OW), -np.inf, dtype=x.dtype)
    argmax = xp.zeros(y.shape, dtype=np.int64)
    for kh in range(KH):
        for kw in range(KW):
            tap = _tap(xpad, kh, kw, SH, SW, DH, DW, OH, OW)
            better = tap > y
            y = xp.where(better, tap, y)
            argmax = xp.where(better, _tap_index(H, W, kh, kw, SH, SW, PH, PW, DH, DW, OH, OW, xp),
                              argmax)
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape):
    """dL/dx of a max pool: each window's gradient goes to the one pixel that won it
    (adds up where windows overlap and share a winner).

    gy, argmax (N, C, OH, OW) -> dx (N, C, H, W)"""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    # flat index of the winning pixel in the whole (N, C, H, W) array
    pixel = argmax + (xp.arange(N * C) * (H * W)).reshape(N, C, 1, 1)
    # bincount adds up the gradients of windows that share a winner
    dx = xp.bincount(pixel.ravel(), weights=gy.ravel(), minlength=N * C * H * W)
    return dx.astype(gy.dtype, copy=False).reshape(x_shape)


def avg_pool2d(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    """y = (sum of each window) / divisor[oh, ow].  Padding adds zeros to the sum; the
    functional layer decides the divisor (count_include_pad, ceil_mode, divisor_override).

    x (N, C, H, W), divisor (OH, OW) -> y (N, C, OH, OW)
    """
    xpad = _pad(x, PH, PW, OH, OW, KH, KW, SH, SW, 1, 1)
    s = 0
    for kh in range(KH):
        for kw in range(KW):
            s = s + _tap(xpad, kh, kw, SH, SW, 1, 1, OH, OW)
    return s / divisor


def avg_pool2d_backward(gy, x_shape, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    """dL/dx of avg_pool2d: every pixel of a window receives gy / divisor."""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    g = gy / divisor
    dxpad = _pad(xp.zeros(x_shape, dtype=gy.dtype), PH, PW, OH, OW, KH, KW, SH, SW, 1, 1)
    for kh in range(KH):
        for kw in range(KW):
            _tap(dxpad, kh, kw, SH, SW, 1, 1, OH, OW)[...] += g
    return xp.ascontiguousarray(dxpad[:, :, PH:PH + H, PW:PW + W])


def _adaptive_bins(size, out_size):
    """torch's bins: output i pools input [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out_size, -((-(i + 1) * size) // out_size)) for i in range(out_size)]


def adaptive_avg_pool2d(x, OH, OW):
    """Average over bins that tile (H, W) into (OH, OW) (bins may overlap by one pixel)."""
    xp = get_array_module(x)
    H, W = x.shape[2:]
    y = xp.empty(x.shape[:2] + (OH, OW), dtype=x.dtype)
    for oh, (h0, h1) in enumerate(_adaptive_bins(H, OH)):
        for ow, (w0, w1) in enumerate(_adaptive_bins(W, OW)):
            y[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward(gy, x_shape):
    """Each bin's gradient, divided by the bin's size, spread over its pixels."""
    xp = get_array_module(gy)
    H, W = x_shape[2:]
    dx = xp.zeros(x_shape, dtype=gy.dtype)
    OH, OW = gy.shape[2:]
    for oh, (h0, h1) in enumerate(_adaptive_bins(H, OH)):
        for ow, (w0, w1) in enumerate(_adaptive_bins(W, OW)):
            dx[:, :, h0:h1, w0:w1] += gy[:, :, oh, ow, None, None] / ((h1 - h0) * (w1 - w0))
    return dx


def adaptive_max_pool2d(x, OH, OW):
    """Max over torch's adaptive bins; returns (y, argmax) as max_pool2d does
    (its backward is max_pool2d_backward)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = xp.empty((N, C, OH, OW), dtype=np.int64)
    for oh, (h0, h1) in enumerate(_adaptive_bins(H, OH)):
        for ow, (w0, w1) in enumerate(_adaptive_bins(W, OW)):
            win = x[:, :, h0:h1, w0:w1].reshape(N, C, -1)
            k = win.argmax(axis=2)                                  # first max, row-major
            y[:, :, oh, ow] = xp.take_along_axis(win, k[..., None], axis=2)[..., 0]
            argmax[:, :, oh, ow] = (h0 + k // (w1 - w0)) * W + w0 + k % (w1 - w0)
    return y, argmax


# ------------------------------------------------------ batch normalisation
# x is viewed as (N, C, L): L = H*W for images, 1 for (N, C) feature vectors; the
# statistics of channel c are over its N*L numbers.
def batch_norm_statistics(x):
    """Mean and biased variance of each channel: x (N, C, L) -> mean (C,), var (C,)."""
    mean = x.mean(axis=(0, 2))
    var = ((x - mean[:, None]) ** 2).mean(axis=(0, 2))
    return mean, var


def _x_hat(x, mean, inv_std):
    """x_hat = (x - mean) * inv_std per channel: x (N, C, L), mean and inv_std (C,)."""
    return (x - mean[:, None]) * inv_std[:, None]


def batch_norm_apply(x, mean, inv_std, weight, bias, band=None):
    """y = weight * x_hat + bias with x_hat = (x - mean) * inv_std (all per channel).
    x (N, C, L) -> y (N, C, L). x_hat is not stored: backward recomputes it from x.
    ``band=(lo, hi)`` fuses the activation that follows: y = clamp(y, lo, hi) (ReLU:
    (0, inf), ReLU6: (0, 6)), the same numbers as ``clamp`` applied to the output."""
    y = _x_hat(x, mean, inv_std) * weight[:, None] + bias[:, None]
    return y if band is None else clamp(y, *band)


def batch_norm_backward_reduce(gy, x, mean, inv_std, y=None, band=None):
    """Per channel: sum of gy (= dL/dbias) and sum of gy * x_hat (= dL/dweight).
    With the fused activation (``y`` the clamped output, ``band`` its bounds) gy is the
    gradient of the clamped output: it first goes through the clamp's backward."""
    if y is not None:
        gy = band_backward(gy, y, *band)
    return gy.sum(axis=(0, 2)), (gy * _x_hat(x, mean, inv_std)).sum(axis=(0, 2))


def batch_norm_backward_input(gy, x, mean, inv_std, scale, mean_gy, mean_gy_xhat, y=None,
                              band=None):
    """dx = scale * (gy - mean_gy - x_hat * mean_gy_xhat), per channel (with the two
    means zero this is the eval-mode gradient scale * gy). ``y``, ``band``: as in
    batch_norm_backward_reduce."""
    if y is not None:
        gy = band_backward(gy, y, *band)
    x_hat = _x_hat(x, mean, inv_std)
    return scale[:, None] * (gy - mean_gy[:, None] - x_hat * mean_gy_xhat[:, None])


# ---------------------------------------------------------- Winograd F(m x m, 3x3)
# Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks". One m x m tile
# of a 3x3, stride-1 convolution is computed from an a x a input tile d (a = m + 2) and
# the filter g as
#     Y = A^T [ (G g G^T) * (B^T d B) ] A          (* = elementwise, a*a products)
# instead of m*m*9. Summed over input channels, the a*a elementwise products become
# a*a matrix products: M[xi] (tiles, OC) = V[xi] (tiles, C) @ U[xi] (C, OC), where
# V = B^T d B (input tiles), U = G g G^T (filters), xi = the a*a positions of a tile.
# (Tiles by channels, not the other way round: the fast kernels work along the
# channels of a row of tiles, see kernels/cpu/winograd.py.)
# F(2x2, 3x3): 16 products for 4 outputs (2.25x fewer than 36); its constants (0, +-1,
# 1/2) are exact in binary, so in float32 it rounds about as the direct sum does.
WINOGRAD_BT = np.array([[1, 0, -1, 0],
                        [0, 1, 1, 0],
                        [0, -1, 1, 0],
                        [0, 1, 0, -1]], dtype=np.float64)
WINOGRAD_G = np.array([[1, 0, 0],
                       [0.5, 0.5, 0.5],
                       [0.5, -0.5, 0.5],
                       [0, 0, 1]], dtype=np.float64)
WINOGRAD_AT = np.array([[1, 1, 1, 0],
                        [0, 1, -1, -1]], dtype=np.float64)
# F(4x4, 3x3), from the points 0, 1, -1, 2, -2 and infinity: 36 products for 16 outputs
# (4x fewer than 144), and 36 tile values per 16 outputs to move instead of 64. Its larger
# constants cost float32 accuracy: about 1e-5 of the largest output instead of 4e-7
# (tests/test_conv.py); ``functional.conv.WINOGRAD_TILE = 2`` turns it off.
WINOGRAD4_BT = np.array([[4, 0, -5, 0, 1, 0],
                         [0, -4, -4, 1, 1, 0],
                         [0, 4, -4, -1, 1, 0],
                         [0, -2, -1, 2, 1, 0],
                         [0, 2, -1, -2, 1, 0],
                         [0, 4, 0, -5, 0, 1]], dtype=np.float64)
WINOGRAD4_G = np.array([[1 / 4, 0, 0],
                        [-1 / 6, -1 / 6, -1 / 6],
                        [-1 / 6, 1 / 6, -1 / 6],
                        [1 / 24, 1 / 12, 1 / 6],
                        [1 / 24, -1 / 12, 1 / 6],
                        [0, 0, 1]], dtype=np.float64)
WINOGRAD4_AT = np.array([[1, 1, 1, 1, 1, 0],
                         [0, 1, -1, 2, -2, 0],
                         [0, 1, 1, 4, 4, 0],
                         [0, 1, -1, 8, -8, 1]], dtype=np.float64)
WINOGRAD = {2: (WINOGRAD_BT, WINOGRAD_G, WINOGRAD_AT),
            4: (WINOGRAD4_BT, WINOGRAD4_G, WINOGRAD4_AT)}     # m -> (B^T, G, A^T)


def _winograd_tiles(OH, OW, m=2):
    """Tiles down and across: ceil(OH / m), ceil(OW / m)."""
    return -(-OH // m), -(-OW // m)


def winograd_input_transform(x, PH, PW, OH, OW, out=None, m=2):
    """V = B^T d B for every overlapping a x a input tile d (a = m + 2; tiles step by m).

    x (N, C, H, W) -> V (a*a, N*TH*TW, C), TH = ceil(OH/m), TW = ceil(OW/m); tile (th, tw)
    reads input rows m*th - PH ... m*th - PH + a - 1 (zeros outside).
    """
    xp = get_array_module(x)
    N, C = x.shape[:2]
    a = m + 2
    TH, TW = _winograd_tiles(OH, OW, m)
    BT = xp.asarray(WINOGRAD[m][0], dtype=x.dtype)
    xpad = _pad(x, PH, PW, TH, TW, a, a, m, m, 1, 1)        # room for whole tiles
    # d[n, c, th, tw, i, j] = xpad[n, c, m*th + i, m*tw + j]: the a x a tiles, stacked
    d = xp.stack([xp.stack([_tap(xpad, i, j, m, m, 1, 1, TH, TW) for j in range(a)], axis=-1)
                  for i in range(a)], axis=-2)
    V = BT @ d @ BT.T                                                # (N, C, TH, TW, a, a)
    return _store(V.transpose(4, 5, 0, 2, 3, 1).reshape(a * a, N * TH * TW, C), out)


def winograd_output_transform(M, bias, N, OH, OW, out=None, m=2):
    """Y = A^T m A for every tile, plus bias: M (a*a, N*TH*TW, OC) -> y (N, OC, OH, OW)."""
    xp = get_array_module(M)
    OC, a = M.shape[2], m + 2
    TH, TW = _winograd_tiles(OH, OW, m)
    AT = xp.asarray(WINOGRAD[m][2], dtype=M.dtype)
    t = M.reshape(a, a, N, TH, TW, OC).transpose(2, 5, 3, 4, 0, 1)    # (N, OC, TH, TW, a, a)
    Y = AT @ t @ AT.T                                                 # (N, OC, TH, TW, m, m)
    y = Y.transpose(0, 1, 2, 4, 3, 5).reshape(N, OC, m * TH, m * TW)[:, :, :OH, :OW]
    return _store(y + bias[:, None, None], out)


def winograd_output_transform_backward(gy, out=None, m=2):
    """dL/dM = A dY A^T per tile (the adjoint of the output transform).

    gy (N, OC, OH, OW) -> dM (a*a, N*TH*TW, OC); the tile parts past the edge get zeros.
    """
    xp = get_array_module(gy)
    N, OC, OH, OW = gy.shape
    a = m + 2
    TH, TW = _winograd_tiles(OH, OW, m)
    AT = xp.asarray(WINOGRAD[m][2], dtype=gy.dtype)
    g = xp.zeros((N, OC, m * TH, m * TW), dtype=gy.dtype)
    g[:, :, :OH, :OW] = gy
    g = g.reshape(N, OC, TH, m, TW, m).transpose(0, 1, 2, 4, 3, 5)  # (N, OC, TH, TW, m, m)
    dm = AT.T @ g @ AT                                                # (N, OC, TH, TW, a, a)
    return _store(dm.transpose(4, 5, 0, 2, 3, 1).reshape(a * a, N * TH * TW, OC), out)


def winograd_input_transform_backward(dV, x_shape, PH, PW, OH, OW, out=None, m=2):
    """dL/dx from dL/dV: dd = B dV B^T per tile, each a x a tile added back where it was
    read (neighbouring tiles overlap by 2 pixels). dV (a*a, N*TH*TW, C) -> dx (N, C, H, W)."""
    xp = get_array_module(dV)
    N, C, H, W = x_shape
    a = m + 2
    TH, TW = _winograd_tiles(OH, OW, m)
    BT = xp.asarray(WINOGRAD[m][0], dtype=dV.dtype)
    dv = dV.reshape(a, a, N, TH, TW, C).transpose(2, 5, 3, 4, 0, 1)   # (N, C, TH, TW, a, a)
    dd = BT.T @ dv @ BT
    dxpad = _pad(xp.zeros(x_shape, dtype=dV.dtype), PH, PW, TH, TW, a, a, m, m, 1, 1)
    for i in range(a):
        for j in range(a):
            _tap(dxpad, i, j, m, m, 1, 1, TH, TW)[...] += dd[..., i, j]
    return _store(dxpad[:, :, PH:PH + H, PW:PW + W], out)


# ------------------------------------------------------------ clipped activations
def clamp(x, lo, hi):
    """y = min(max(x, lo), hi) entry by entry (ReLU: lo = 0, hi = inf; ReLU6: 0, 6);
    NaN stays NaN, as in torch."""
    return get_array_module(x).clip(x, lo, hi).astype(x.dtype, copy=False)


def band_backward(g, y, lo, hi):
    """The backward of y = clip(x, lo, hi) (ReLU: lo = 0, hi = inf; ReLU6: 0, 6): the
    gradient passes where lo < y < hi and is 0 elsewhere, kinks included (as torch).
    From y, not x: inside the band y = x, outside it y sits on a bound."""
    xp = get_array_module(g)
    return xp.where((y > lo) & (y < hi), g, xp.zeros((), dtype=g.dtype))


# --------------------------------------------------------------- SiLU (swish)
def sigmoid(x):
    """1 / (1 + e^-x) without overflow: e^-|x| <= 1, so for x < 0 use e^x / (1 + e^x)."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def silu(x):
    """y = x * sigmoid(x) entry by entry (EfficientNet's activation)."""
    return x * sigmoid(x)


def silu_backward(g, x):
    """dL/dx of y = x * s, s = sigmoid(x): g * (s + x * s * (1 - s)) = g * s * (1 + x (1 - s))."""
    s = sigmoid(x)
    return g * s * (1 + x * (1 - s))


# ------------------------------------------------------------------ SGD step
def sgd_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """One SGD step on one parameter, in place (optim.SGD has the formulas): p and the
    momentum buffer buf are written, the gradient g only read. ``first``: buf holds
    nothing yet and becomes d itself; buf is unused (may be None) without momentum.
    Hyper-parameters are Python floats, so float32 arrays stay float32 (NumPy 2)."""
    d = g
    if weight_decay != 0:
        d = g + weight_decay * p                # out of place: g is read-only
    if momentum != 0:
        if first:
            buf[...] = d
        else:
            buf *= momentum
            buf += d if dampening == 0 else (1.0 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    p -= lr * d
