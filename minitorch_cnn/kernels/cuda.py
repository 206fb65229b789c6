"""The kernels of reference.py as CuPy ``ElementwiseKernel``s, for arrays on the GPU.

One GPU thread per output element (``i`` below is its flat index): it finds its
(n, c, oh, ow) or (row, column), loops over the taps of its window and writes one
number. Backward passes *gather* (each input pixel sums the windows that read it)
instead of scattering, so no two threads write the same element: no atomics, and the
same sums in the same order on every run. ``T`` is the array's float type (float32 or
float64): CuPy compiles one version per type on first use.

Kernels not written here (the adaptive pools, batch norm, the depthwise weight
gradient, max-pool backward) run as their reference.py version, which is whole-array
CuPy code already (``kernels._impl`` falls back to it). Winograd is CPU-only.

CuPy is imported inside ``_kernel``, the first time a GPU array reaches this file.
"""
import functools

__all__ = ["im2col", "col2im", "depthwise_conv2d", "depthwise_conv2d_backward_input",
           "max_pool2d", "avg_pool2d", "avg_pool2d_backward"]

# Every kernel starts from the same geometry arguments.
_GEOM = ("int64 N, int64 C, int64 H, int64 W, int64 KH, int64 KW, int64 SH, int64 SW, "
         "int64 PH, int64 PW, int64 DH, int64 DW, int64 OH, int64 OW")

_SOURCES = {
    # cols (C*KH*KW, N*OH*OW): row (c, kh, kw), column (n, oh, ow)
    "im2col": ("raw T x, " + _GEOM, "T cols", """
        const long long L = N * OH * OW;
        const long long r = i / L, p = i % L;
        const long long c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
        const long long n = p / (OH * OW), oh = (p / OW) % OH, ow = p % OW;
        const long long ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
        cols = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[((n * C + c) * H + ih) * W + iw]
                                                       : (T)0;
    """),
    # dx (N, C, H, W): the sum of the columns whose window read pixel (ih, iw)
    "col2im": ("raw T cols, " + _GEOM, "T dx", """
        const long long L = N * OH * OW;
        const long long iw = i % W, ih = (i / W) % H, c = (i / (H * W)) % C, n = i / (C * H * W);
        T s = 0;
        for (long long kh = 0; kh < KH; ++kh) {
            const long long th = ih + PH - kh * DH;          // = oh * SH for a window that reads ih
            if (th < 0 || th % SH != 0 || th / SH >= OH) continue;
            for (long long kw = 0; kw < KW; ++kw) {
                const long long tw = iw + PW - kw * DW;
                if (tw < 0 || tw % SW != 0 || tw / SW >= OW) continue;
                s += cols[((c * KH + kh) * KW + kw) * L + (n * OH + th / SH) * OW + tw / SW];
            }
        }
        dx = s;
    """),
    # y (N, OC, OH, OW), OC = C * M: output channel o reads input channel o / M
    "depthwise_conv2d": ("raw T x, raw T w, int64 M, " + _GEOM, "T y", """
        const long long OC = C * M;
        const long long ow = i % OW, oh = (i / OW) % OH, o = (i / (OH * OW)) % OC;
        const long long n = i / (OC * OH * OW), c = o / M;
        T s = 0;
        for (long long kh = 0; kh < KH; ++kh) {
            const long long ih = oh * SH - PH + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (long long kw = 0; kw < KW; ++kw) {
                const long long iw = ow * SW - PW + kw * DW;
                if (iw < 0 || iw >= W) continue;
                s += x[((n * C + c) * H + ih) * W + iw] * w[(o * KH + kh) * KW + kw];
            }
        }
        y = s;
    """),
    # dx (N, C, H, W): over the M filters of channel c and the windows that read (ih, iw)
    "depthwise_conv2d_backward_input": ("raw T gy, raw T w, int64 M, " + _GEOM, "T dx", """
        const long long OC = C * M;
        const long long iw = i % W, ih = (i / W) % H, c = (i / (H * W)) % C, n = i / (C * H * W);
        T s = 0;
        for (long long o = c * M; o < (c + 1) * M; ++o) {
            for (long long kh = 0; kh < KH; ++kh) {
                const long long th = ih + PH - kh * DH;
                if (th < 0 || th % SH != 0 || th / SH >= OH) continue;
                for (long long kw = 0; kw < KW; ++kw) {
                    const long long tw = iw + PW - kw * DW;
                    if (tw < 0 || tw % SW != 0 || tw / SW >= OW) continue;
                    s += gy[((n * OC + o) * OH + th / SH) * OW + tw / SW]
                         * w[(o * KH + kh) * KW + kw];
                }
            }
        }
        dx = s;
    """),
    # y, argmax (N, C, OH, OW): the largest tap and its flat index ih*W + iw (first wins;
    # NaN beats every number, the last NaN wins, as in reference.py and torch)
    "max_pool2d": ("raw T x, " + _GEOM, "T y, int64 argmax", """
        const long long ow = i % OW, oh = (i / OW) % OH, nc = i / (OH * OW);
        T best = 0;
        long long where = -1;
        for (long long kh = 0; kh < KH; ++kh) {
            const long long ih = oh * SH - PH + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (long long kw = 0; kw < KW; ++kw) {
                const long long iw = ow * SW - PW + kw * DW;
                if (iw < 0 || iw >= W) continue;
                const T v = x[(nc * H + ih) * W + iw];
                if (where < 0 || v > best || isnan(v)) { best = v; where = ih * W + iw; }
            }
        }
        y = best;
        argmax = where;
    """),
    # y (N, C, OH, OW): window sum (clipped to the input) / divisor[oh, ow]
    "avg_pool2d": ("raw T x, raw T divisor, " + _GEOM, "T y", """
        const long long ow = i % OW, oh = (i / OW) % OH, nc = i / (OH * OW);
        const long long h0 = oh * SH - PH, w0 = ow * SW - PW;
        T s = 0;
        const long long h1 = h0 + KH < H ? h0 + KH : H, w1 = w0 + KW < W ? w0 + KW : W;
        for (long long ih = h0 > 0 ? h0 : 0; ih < h1; ++ih)
            for (long long iw = w0 > 0 ? w0 : 0; iw < w1; ++iw)
                s += x[(nc * H + ih) * W + iw];
        y = s / divisor[oh * OW + ow];
    """),
    # dx (N, C, H, W): sum of gy / divisor over the windows that hold (ih, iw)
    "avg_pool2d_backward": ("raw T gy, raw T divisor, " + _GEOM, "T dx", """
        const long long iw = i % W, ih = (i / W) % H, nc = i / (H * W);
        T s = 0;
        for (long long oh = 0; oh < OH; ++oh) {
            const long long h0 = oh * SH - PH;
            if (ih < h0 || ih >= h0 + KH) continue;
            for (long long ow = 0; ow < OW; ++ow) {
                const long long w0 = ow * SW - PW;
                if (iw < w0 || iw >= w0 + KW) continue;
                s += gy[(nc * OH + oh) * OW + ow] / divisor[oh * OW + ow];
            }
        }
        dx = s;
    """),
}


@functools.lru_cache(maxsize=None)
def _kernel(name):
    """The compiled ElementwiseKernel ``name`` (built once; imports CuPy)."""
    import cupy
    in_params, out_params, body = _SOURCES[name]
    return cupy.ElementwiseKernel(in_params, out_params, body, f"minitorch_{name}")


def _cp():
    import cupy
    return cupy


def _geom(N, g):
    """The geometry arguments every kernel starts from (_GEOM), for a batch of N."""
    return (N, g.C, g.H, g.W, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, g.OH, g.OW)


def im2col(x, g, out=None):
    N, C = x.shape[:2]
    if out is None:
        out = _cp().empty((C * g.KH * g.KW, N * g.OH * g.OW), dtype=x.dtype)
    _kernel("im2col")(_cp().ascontiguousarray(x), *_geom(N, g), out)
    return out


def col2im(cols, g, out=None):
    N = cols.shape[1] // (g.OH * g.OW)
    if out is None:
        out = _cp().empty((N, g.C, g.H, g.W), dtype=cols.dtype)
    _kernel("col2im")(_cp().ascontiguousarray(cols), *_geom(N, g), out)
    return out


def depthwise_conv2d(x, w, g, layout=None):
    cp = _cp()
    N = x.shape[0]
    y = cp.empty((N, g.OC, g.OH, g.OW), dtype=x.dtype)
    _kernel("depthwise_conv2d")(cp.ascontiguousarray(x), cp.ascontiguousarray(w), g.OC // g.C,
                                *_geom(N, g), y)
    return y


def depthwise_conv2d_backward_input(gy, w, g, layout=None):
    cp = _cp()
    N = gy.shape[0]
    dx = cp.empty((N, g.C, g.H, g.W), dtype=gy.dtype)
    _kernel("depthwise_conv2d_backward_input")(cp.ascontiguousarray(gy), cp.ascontiguousarray(w),
                                               g.OC // g.C, *_geom(N, g), dx)
    return dx


def max_pool2d(x, g):
    cp = _cp()
    N, C = x.shape[:2]
    y = cp.empty((N, C, g.OH, g.OW), dtype=x.dtype)
    argmax = cp.empty((N, C, g.OH, g.OW), dtype=cp.int64)
    _kernel("max_pool2d")(cp.ascontiguousarray(x), *_geom(N, g), y, argmax)
    return y, argmax


def avg_pool2d(x, g, divisor):
    cp = _cp()
    N, C = x.shape[:2]
    y = cp.empty((N, C, g.OH, g.OW), dtype=x.dtype)
    _kernel("avg_pool2d")(cp.ascontiguousarray(x), cp.asarray(divisor, dtype=x.dtype),
                          *_geom(N, g), y)
    return y


def avg_pool2d_backward(gy, g, divisor):
    cp = _cp()
    N = gy.shape[0]
    dx = cp.empty((N, g.C, g.H, g.W), dtype=gy.dtype)
    _kernel("avg_pool2d_backward")(cp.ascontiguousarray(gy), cp.asarray(divisor, dtype=gy.dtype),
                                   *_geom(N, g), dx)
    return dx
