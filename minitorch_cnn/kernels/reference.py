"""The hot loops of the CNN ops in plain NumPy: the version to read.

Every function here is written with ``xp`` (NumPy or CuPy, whichever owns the
array), uses whole-array slicing instead of Python loops over pixels, and is the
oracle the fast tiers (``cpu/`` with Numba, ``cuda.py`` with CuPy) are tested
against. Each loops only over the KH*KW taps of a window (9 for a 3x3 kernel).

The conv and pooling kernels take the layer's geometry ``g`` whole (a ConvGeometry,
functional/geometry.py: g.KH, g.SH, g.OH, ...); the batch size N comes from the arrays,
so the fast path can hand them a block of samples. Shape glossary, as there:

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


def _tap(a, kh, kw, g):
    """The (OH, OW) grid of pixels that tap (kh, kw) reads from the padded array ``a``."""
    h0, w0 = kh * g.DH, kw * g.DW
    return a[..., h0:h0 + g.SH * (g.OH - 1) + 1:g.SH, w0:w0 + g.SW * (g.OW - 1) + 1:g.SW]


def _pad(x, g, value=0.0):
    """Pad H and W by PH, PW on the top/left, and on the bottom/right by as much as the
    last window needs (PH, or more when ceil_mode lets a window hang off the edge)."""
    xp = get_array_module(x)
    H, W = x.shape[-2:]
    bottom = max(g.PH, (g.OH - 1) * g.SH + g.DH * (g.KH - 1) + 1 - H - g.PH)
    right = max(g.PW, (g.OW - 1) * g.SW + g.DW * (g.KW - 1) + 1 - W - g.PW)
    widths = [(0, 0)] * (x.ndim - 2) + [(g.PH, bottom), (g.PW, right)]
    return xp.pad(x, widths, constant_values=value)


def _unpad(xpad, g):
    """The inverse of _pad: the (H, W) input inside the padded array."""
    return xpad[..., g.PH:g.PH + g.H, g.PW:g.PW + g.W]


def _store(a, out):
    """``a`` as a new contiguous array, or copied into the buffer ``out`` when one is given
    (the fast tiers write there directly; here it costs one copy)."""
    if out is None:
        return get_array_module(a).ascontiguousarray(a)
    out[...] = a
    return out


# ------------------------------------------------------------------ im2col
def im2col(x, g, out=None):
    """Unfold every window of ``x`` into one column of a matrix.

    (N, C, H, W) -> cols (C*KH*KW, N*OH*OW): row (c, kh, kw), column (n, oh, ow), so that
    a convolution becomes one matrix product  W (OC, C*KH*KW) @ cols.
    ``out``, if given, is a buffer of that shape to fill (reused across calls).
    """
    xp = get_array_module(x)
    N, C = x.shape[:2]
    xpad = _pad(x, g)
    if out is None:
        out = xp.empty((C * g.KH * g.KW, N * g.OH * g.OW), dtype=x.dtype)
    cols = out.reshape(C, g.KH, g.KW, N, g.OH, g.OW)
    for kh in range(g.KH):
        for kw in range(g.KW):
            # tap (kh, kw) of every window: (N, C, OH, OW) -> (C, N, OH, OW)
            cols[:, kh, kw] = _tap(xpad, kh, kw, g).transpose(1, 0, 2, 3)
    return out


def col2im(cols, g, out=None):
    """The adjoint of im2col: add every column back onto the pixels its window read.

    cols (C*KH*KW, N*OH*OW) -> (N, C, H, W); overlapping windows add up. This is how a
    convolution's input gradient is formed from dL/dcols.
    """
    xp = get_array_module(cols)
    N = cols.shape[1] // (g.OH * g.OW)
    dxpad = _pad(xp.zeros((N, g.C, g.H, g.W), dtype=cols.dtype), g)
    cols = cols.reshape(g.C, g.KH, g.KW, N, g.OH, g.OW)
    for kh in range(g.KH):
        for kw in range(g.KW):
            # within one tap the pixels are distinct, so += is a plain scatter
            tap = _tap(dxpad, kh, kw, g)
            tap += cols[:, kh, kw].transpose(1, 0, 2, 3)
    return _store(_unpad(dxpad, g), out)


# ------------------------------------------------------ depthwise convolution
def depthwise_conv2d(x, w, g, layout=None):
    """Each input channel convolved with its own filters (groups == C).

    x (N, C, H, W), w (OC, 1, KH, KW) with OC = C*M -> y (N, OC, OH, OW);
    output channel o reads input channel o // M:  y[n,o] = sum_kh,kw w[o,kh,kw] * tap(x[n, o//M]).
    No im2col: with one input channel per filter the GEMM would be a (1 x KH*KW) product.
    (``layout`` chooses between the Numba tier's two layouts; one layout here.)
    """
    M = g.OC // g.C
    xpad = _pad(x, g)
    xpad = xpad.repeat(M, axis=1) if M > 1 else xpad          # (N, OC, H+2PH, W+2PW)
    y = 0
    for kh in range(g.KH):
        for kw in range(g.KW):
            y = y + _tap(xpad, kh, kw, g) * w[:, 0, kh, kw, None, None]
    return y


def depthwise_conv2d_backward_input(gy, w, g, layout=None):
    """dL/dx of depthwise_conv2d: each tap sends gy * w[o, kh, kw] back to the pixels it read."""
    xp = get_array_module(gy)
    N, M = gy.shape[0], g.OC // g.C
    dxpad = _pad(xp.zeros((N, g.OC, g.H, g.W), dtype=gy.dtype), g)
    for kh in range(g.KH):
        for kw in range(g.KW):
            _tap(dxpad, kh, kw, g)[...] += gy * w[:, 0, kh, kw, None, None]
    dx = _unpad(dxpad, g)
    return xp.ascontiguousarray(dx.reshape(N, g.C, M, g.H, g.W).sum(axis=2))


def depthwise_conv2d_backward_weight(x, gy, g, layout=None):
    """dL/dw of depthwise_conv2d: dw[o, 0, kh, kw] = sum_n,oh,ow gy[n,o] * tap(x[n, o//M])."""
    xp = get_array_module(x)
    M = g.OC // g.C
    xpad = _pad(x, g)
    xpad = xpad.repeat(M, axis=1) if M > 1 else xpad
    dw = xp.empty((g.OC, 1, g.KH, g.KW), dtype=gy.dtype)
    for kh in range(g.KH):
        for kw in range(g.KW):
            dw[:, 0, kh, kw] = (gy * _tap(xpad, kh, kw, g)).sum(axis=(0, 2, 3))
    return dw


# ------------------------------------------------------------------ pooling
def _tap_index(kh, kw, g, xp):
    """(OH, OW) flat index ih*W + iw that tap (kh, kw) reads, or -1 where it reads padding."""
    ih = xp.arange(g.OH) * g.SH - g.PH + kh * g.DH
    iw = xp.arange(g.OW) * g.SW - g.PW + kw * g.DW
    inside = ((ih >= 0) & (ih < g.H))[:, None] & ((iw >= 0) & (iw < g.W))[None, :]
    return xp.where(inside, ih[:, None] * g.W + iw[None, :], -1)


def max_pool2d(x, g):
    """y = the largest entry of each window, and argmax = where it was (flat index ih*W + iw
    into its (H, W) plane, as torch's return_indices gives). Padding never wins.
    Ties go to the first tap in row-major order, as in torch; a NaN beats every number
    (the window's max is NaN, and its gradient goes to the NaN: the last one, as torch's
    kernels scan). Each tap is taken if it is the window's first pixel, larger, or NaN.

    x (N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) int64
    """
    xp = get_array_module(x)
    xpad = _pad(x, g)
    y = xp.zeros(x.shape[:2] + (g.OH, g.OW), dtype=x.dtype)
    argmax = xp.full(y.shape, -1, dtype=np.int64)             # -1: nothing taken yet
    for kh in range(g.KH):
        for kw in range(g.KW):
            tap = _tap(xpad, kh, kw, g)
            index = _tap_index(kh, kw, g, xp)                 # -1 where the tap is padding
            take = (index >= 0) & ((argmax < 0) | (tap > y) | (tap != tap))   # x != x: NaN
            y = xp.where(take, tap, y)
            argmax = xp.where(take, index, argmax)
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


def avg_pool2d(x, g, divisor):
    """y = (sum of each window) / divisor[oh, ow].  Padding adds zeros to the sum; the
    functional layer decides the divisor (count_include_pad, ceil_mode, divisor_override).

    x (N, C, H, W), divisor (OH, OW) -> y (N, C, OH, OW)
    """
    xpad = _pad(x, g)
    s = 0
    for kh in range(g.KH):
        for kw in range(g.KW):
            s = s + _tap(xpad, kh, kw, g)
    return s / divisor


def avg_pool2d_backward(gy, g, divisor):
    """dL/dx of avg_pool2d: every pixel of a window receives gy / divisor."""
    xp = get_array_module(gy)
    share = gy / divisor
    dxpad = _pad(xp.zeros((gy.shape[0], g.C, g.H, g.W), dtype=gy.dtype), g)
    for kh in range(g.KH):
        for kw in range(g.KW):
            _tap(dxpad, kh, kw, g)[...] += share
    return xp.ascontiguousarray(_unpad(dxpad, g))


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
    """Max over torch's adaptive bins; returns (y, argmax) as max_pool2d does, with its
    rules for ties and NaN (its backward is max_pool2d_backward)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = xp.empty((N, C, OH, OW), dtype=np.int64)
    for oh, (h0, h1) in enumerate(_adaptive_bins(H, OH)):
        for ow, (w0, w1) in enumerate(_adaptive_bins(W, OW)):
            win = x[:, :, h0:h1, w0:w1].reshape(N, C, -1)
            k = win.argmax(axis=2)                                  # first max, row-major
            nan = win != win                                        # a NaN wins: the last
            last_nan = nan.shape[2] - 1 - nan[..., ::-1].argmax(axis=2)
            k = xp.where(nan.any(axis=2), last_nan, k)
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


def batch_norm_apply(x, mean, inv_std, weight, bias, band=None, residual=None):
    """y = weight * x_hat + bias with x_hat = (x - mean) * inv_std (all per channel).
    x (N, C, L) -> y (N, C, L). x_hat is not stored: backward recomputes it from x.
    ``residual`` (N, C, L), if given, is added: y + residual (a residual block's tail).
    ``band=(lo, hi)`` fuses the activation that follows: y = clamp(y, lo, hi) (ReLU:
    (0, inf), ReLU6: (0, 6)), the same numbers as ``clamp`` applied to the output."""
    y = _x_hat(x, mean, inv_std) * weight[:, None] + bias[:, None]
    if residual is not None:
        y = y + residual
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
# (tests/test_conv.py); ``fast.tuning(winograd_tile=2)`` turns it off.
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


def _tile_windows(g, m):
    """The input tiles as windows: a x a windows at stride m, TH x TW of them, over the
    conv's padded input (a geometry for _pad and _tap)."""
    TH, TW = _winograd_tiles(g.OH, g.OW, m)
    return g._replace(KH=m + 2, KW=m + 2, SH=m, SW=m, DH=1, DW=1, OH=TH, OW=TW)


def winograd_input_transform(x, g, m=2, out=None):
    """V = B^T d B for every overlapping a x a input tile d (a = m + 2; tiles step by m).

    x (N, C, H, W) -> V (a*a, N*TH*TW, C), TH = ceil(OH/m), TW = ceil(OW/m); tile (th, tw)
    reads input rows m*th - PH ... m*th - PH + a - 1 (zeros outside).
    """
    xp = get_array_module(x)
    N, C = x.shape[:2]
    a, t = m + 2, _tile_windows(g, m)
    BT = xp.asarray(WINOGRAD[m][0], dtype=x.dtype)
    xpad = _pad(x, t)                                   # room for whole tiles
    # d[n, c, th, tw, i, j] = xpad[n, c, m*th + i, m*tw + j]: the a x a tiles, stacked
    d = xp.stack([xp.stack([_tap(xpad, i, j, t) for j in range(a)], axis=-1)
                  for i in range(a)], axis=-2)
    V = BT @ d @ BT.T                                                # (N, C, TH, TW, a, a)
    return _store(V.transpose(4, 5, 0, 2, 3, 1).reshape(a * a, N * t.OH * t.OW, C), out)


def winograd_output_transform(M, bias, g, m=2, out=None):
    """Y = A^T m A for every tile, plus bias: M (a*a, N*TH*TW, OC) -> y (N, OC, OH, OW)."""
    xp = get_array_module(M)
    OC, a = M.shape[2], m + 2
    TH, TW = _winograd_tiles(g.OH, g.OW, m)
    N = M.shape[1] // (TH * TW)
    AT = xp.asarray(WINOGRAD[m][2], dtype=M.dtype)
    t = M.reshape(a, a, N, TH, TW, OC).transpose(2, 5, 3, 4, 0, 1)    # (N, OC, TH, TW, a, a)
    Y = AT @ t @ AT.T                                                 # (N, OC, TH, TW, m, m)
    y = Y.transpose(0, 1, 2, 4, 3, 5).reshape(N, OC, m * TH, m * TW)[:, :, :g.OH, :g.OW]
    return _store(y + bias[:, None, None], out)


def winograd_output_transform_backward(gy, m=2, out=None):
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


def winograd_input_transform_backward(dV, g, m=2, out=None):
    """dL/dx from dL/dV: dd = B dV B^T per tile, each a x a tile added back where it was
    read (neighbouring tiles overlap by 2 pixels). dV (a*a, N*TH*TW, C) -> dx (N, C, H, W)."""
    xp = get_array_module(dV)
    a, t = m + 2, _tile_windows(g, m)
    N = dV.shape[1] // (t.OH * t.OW)
    BT = xp.asarray(WINOGRAD[m][0], dtype=dV.dtype)
    dv = dV.reshape(a, a, N, t.OH, t.OW, g.C).transpose(2, 5, 3, 4, 0, 1)  # (N, C, TH, TW, a, a)
    dd = BT.T @ dv @ BT
    dxpad = _pad(xp.zeros((N, g.C, g.H, g.W), dtype=dV.dtype), t)
    for i in range(a):
        for j in range(a):
            _tap(dxpad, i, j, t)[...] += dd[..., i, j]
    return _store(_unpad(dxpad, t), out)


# ------------------------------------------------------------ clipped activations
def clamp(x, lo, hi):
    """y = min(max(x, lo), hi) entry by entry (ReLU: lo = 0, hi = inf; ReLU6: 0, 6);
    NaN stays NaN, as in torch."""
    return get_array_module(x).clip(x, lo, hi).astype(x.dtype, copy=False)


def band_backward(g, y, lo, hi):
    """The backward of y = clip(x, lo, hi) (ReLU: lo = 0, hi = inf; ReLU6: 0, 6): the
    gradient is 0 where y <= lo or y >= hi, kinks included, and passes elsewhere: inside
    the band and at NaN (as torch's relu and hardtanh). From y, not x: inside the band
    y = x, outside it y sits on a bound."""
    xp = get_array_module(g)
    return xp.where((y <= lo) | (y >= hi), xp.zeros((), dtype=g.dtype), g)


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
