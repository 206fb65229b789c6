"""Image transforms, written in NumPy: the augmentations of the classic CNN papers.

Layout, as a sample flows through a pipeline:

    dataset item      (H, W, C) uint8       HWC, as stored on disk (CIFAR-10, MNIST, Shapes)
    geometric ops     (H, W, C) any dtype   RandomCrop, RandomHorizontalFlip, Resize,
                                            CenterCrop, RandomResizedCrop, ScaleJitter, TenCrop
    ToTensor          (C, H, W) float32     values in [0, 1]
    colour ops        (C, H, W) float32     Lighting (AlexNet's PCA noise), Normalize

``TenCrop`` and ``MultiScaleCrops`` return a stack of K crops, (K, h, w, C);
``ToTensor``, ``Lighting`` and ``Normalize`` accept such a leading K axis too, and
the DataLoader then yields (N, K, C, h, w) batches (see ``predict_crops``).

Randomness: every random transform draws from a NumPy ``Generator``: the ``rng``
given to it (a Generator or an int seed), else the generator of the DataLoader
that is running it (one per epoch, derived from the loader's seed, so augmentation
is reproducible whether or not batches are prepared in a background thread), else
``backend.get_rng()`` (seeded by ``manual_seed``).
"""
import contextlib
import math
import threading

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor

__all__ = ["Compose", "Lambda", "ToTensor", "to_tensor", "Normalize", "RandomCrop",
           "RandomHorizontalFlip", "Resize", "resize", "CenterCrop", "RandomResizedCrop",
           "ScaleJitter", "TenCrop", "MultiScaleCrops", "Lighting", "pca_lighting_stats",
           "predict_crops", "multi_crop_predict", "get_rng", "augmentation_rng",
           "IMAGENET_EIGVAL", "IMAGENET_EIGVEC"]

# ------------------------------------------------------------------ randomness
_local = threading.local()


def get_rng():
    """The generator a random transform without its own ``rng`` draws from."""
    rng = getattr(_local, "rng", None)
    return rng if rng is not None else backend.get_rng()


@contextlib.contextmanager
def augmentation_rng(rng):
    """Within this block (in this thread) random transforms draw from ``rng``.

    The DataLoader wraps each epoch in it, so the random crops of epoch e depend on
    the loader's seed and e only, not on which thread runs them or on what the
    training step drew from the global generator in the meantime."""
    prev = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = prev


def _as_generator(rng):
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


class _Random:
    """Base of the random transforms: holds the optional explicit generator."""

    def __init__(self, rng=None):
        self.rng = _as_generator(rng)

    @property
    def _gen(self):
        return self.rng if self.rng is not None else get_rng()


# ------------------------------------------------------------------ helpers
def _pair(size, name):
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    if len(size) != 2:
        raise ValueError(f"{name}: size must be an int or (height, width), got {size!r}")
    return int(size[0]), int(size[1])


# A channel axis holds 1 (grey), 3 (RGB) or 4 (RGBA) numbers; an image side is rarely one
# of those, so the shape tells HWC (32, 32, 3) from CHW (3, 32, 32) in practice.
_CHANNELS = (1, 3, 4)


def _looks_chw(shape):
    return len(shape) >= 3 and shape[-3] in _CHANNELS and shape[-1] not in _CHANNELS


def _looks_hwc(shape):
    return len(shape) >= 3 and shape[-1] in _CHANNELS and shape[-3] not in _CHANNELS


def _describe(img):
    if isinstance(img, np.ndarray):
        return f"a {img.dtype} array of shape {img.shape}"
    if isinstance(img, Tensor):
        return f"a Tensor of shape {img.shape}"
    return f"a {type(img).__module__}.{type(img).__name__}"


def _check_hwc(img, name):
    """Geometric transforms take (H, W, C) or (H, W) NumPy images with real pixels
    (uint8, or int/float), before ToTensor; say what came instead and what to do."""
    if not isinstance(img, np.ndarray):
        hint = ("(Tensors are made by the DataLoader after the transforms; use the array "
                "itself)" if isinstance(img, Tensor) else
                "(convert it first, e.g. np.asarray(image))")
        raise TypeError(f"{name}: expected an (H, W, C) or (H, W) NumPy image, got "
                        f"{_describe(img)} {hint}")
    if img.ndim not in (2, 3):
        hint = ("; a stack or batch of images? apply the transform to each image (as a "
                "dataset transform), before ToTensor" if img.ndim == 4 else "")
        raise TypeError(f"{name}: expected an (H, W, C) or (H, W) image (apply it before "
                        f"ToTensor), got shape {img.shape}{hint}")
    if _looks_chw(img.shape):
        raise TypeError(f"{name}: expected an HWC image (H, W, C), got shape {img.shape}, "
                        f"which looks like CHW (channels first, as ToTensor gives); apply "
                        f"{name} before ToTensor, or turn the array with "
                        f"img.transpose(1, 2, 0)")
    if img.dtype.kind not in "uif":
        raise TypeError(f"{name}: expected uint8, integer or float pixels, got {img.dtype} "
                        f"(convert with img.astype(np.uint8) or img.astype(np.float32))")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{name}: the image is empty (shape {img.shape})")


def _check_chw(img, name):
    """Colour transforms take (C, H, W) or (K, C, H, W) float arrays, after ToTensor."""
    if not isinstance(img, np.ndarray) or img.ndim not in (3, 4) or img.dtype.kind != "f":
        raise TypeError(f"{name}: expected a float (C, H, W) image (apply ToTensor "
                        f"first), got {_describe(img)}")
    if _looks_hwc(img.shape):
        raise TypeError(f"{name}: expected a CHW image (C, H, W), got shape {img.shape}, "
                        f"which looks like HWC (channels last); apply ToTensor first, or "
                        f"turn the array with img.transpose(2, 0, 1)")


def _crop(img, top, left, h, w):
    return img[top:top + h, left:left + w]


def _check_fits(img, h, w, name):
    if img.shape[0] < h or img.shape[1] < w:
        raise ValueError(f"{name}: crop {h}x{w} is larger than the image "
                         f"{img.shape[0]}x{img.shape[1]}")


def _random_crop(img, h, w, rng, name):
    _check_fits(img, h, w, name)
    top = int(rng.integers(0, img.shape[0] - h + 1))
    left = int(rng.integers(0, img.shape[1] - w + 1))
    return _crop(img, top, left, h, w)


def _center_crop(img, h, w, name="CenterCrop"):
    _check_fits(img, h, w, name)
    top = int(round((img.shape[0] - h) / 2))
    left = int(round((img.shape[1] - w) / 2))
    return _crop(img, top, left, h, w)


# ------------------------------------------------------------------ pipeline
class Compose:
    """Apply transforms one after the other: ``Compose([t1, t2])(x) == t2(t1(x))``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda:
    """Wrap any function ``f(img) -> img`` as a transform."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, img):
        return self.fn(img)


def to_tensor(img):
    """(H, W, C) uint8 in [0, 255] -> (C, H, W) float32 in [0, 1].

    An (H, W) image gains a channel: (1, H, W). A stack of crops (K, H, W, C) becomes
    (K, C, H, W). Float input is taken as already in [0, 1] and only transposed."""
    if isinstance(img, Tensor):
        raise TypeError(f"ToTensor: expected an (H, W, C) NumPy image, got {_describe(img)} "
                        f"(it is a tensor already)")
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim not in (3, 4):
        raise TypeError(f"ToTensor: expected an (H, W, C), (H, W) or (K, H, W, C) image, "
                        f"got shape {img.shape}")
    if _looks_chw(img.shape):
        raise TypeError(f"ToTensor: expected an HWC image (H, W, C), got shape {img.shape}, "
                        f"which looks like CHW already (was ToTensor applied twice?); "
                        f"turn an HWC array out of it with img.transpose(1, 2, 0)")
    out = np.moveaxis(img, -1, -3)                  # (..., H, W, C) -> (..., C, H, W)
    if img.dtype == np.uint8:
        return out.astype(np.float32) * np.float32(1 / 255)
    if img.dtype.kind == "f":
        return np.ascontiguousarray(out, dtype=np.float32)
    raise TypeError(f"ToTensor: expected uint8 or float pixels, got {img.dtype}")


class ToTensor:
    """HWC uint8 -> CHW float32 in [0, 1] (see ``to_tensor``).

    It returns a NumPy array: samples stay NumPy inside the data pipeline, and the
    DataLoader turns each collated batch into a Tensor."""

    def __call__(self, img):
        return to_tensor(img)

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """x[c] <- (x[c] - mean[c]) / std[c] on a float (C, H, W) image (or (K, C, H, W))."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"Normalize: mean has {self.mean.size} entries, std has "
                             f"{self.std.size}")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std.tolist()}")
        self._shift = self.mean.reshape(-1, 1, 1)           # (C, 1, 1): broadcast over H, W
        self._scale = (1 / self.std).reshape(-1, 1, 1)

    def __call__(self, img):
        _check_chw(img, "Normalize")
        c = img.shape[-3]
        if self.mean.size not in (1, c):
            raise ValueError(f"Normalize: mean/std have {self.mean.size} channels, "
                             f"the image has {c}")
        out = img - self._shift.astype(img.dtype, copy=False)
        out *= self._scale.astype(img.dtype, copy=False)
        return out

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


# ------------------------------------------------------------------ geometry
class RandomCrop(_Random):
    """Pad by ``padding`` pixels on every side, then cut a random ``size`` crop.

    The CIFAR recipe (ResNet paper, sec. 4.2): pad 4, crop 32, so the image moves by
    up to 4 pixels. ``fill`` is the constant padding value, or ``padding_mode="reflect"``.
    """

    def __init__(self, size, padding=0, fill=0, padding_mode="constant", rng=None):
        super().__init__(rng)
        self.size = _pair(size, "RandomCrop")
        self.padding, self.fill, self.padding_mode = int(padding), fill, padding_mode
        if padding_mode not in ("constant", "reflect", "edge"):
            raise ValueError(f"RandomCrop: padding_mode must be 'constant', 'reflect' or "
                             f"'edge', got {padding_mode!r}")

    def __call__(self, img):
        _check_hwc(img, "RandomCrop")
        p, (h, w), gen = self.padding, self.size, self._gen
        if p and self.padding_mode == "constant":
            # the crop of the padded image, without building the padded image: a
            # fill-valued (h, w) window into which the part that overlaps img is copied
            H, W = img.shape[:2]
            if H + 2 * p < h or W + 2 * p < w:
                raise ValueError(f"RandomCrop: crop {h}x{w} is larger than the padded "
                                 f"image {H + 2 * p}x{W + 2 * p}")
            y0 = int(gen.integers(0, H + 2 * p - h + 1)) - p   # window origin in img
            x0 = int(gen.integers(0, W + 2 * p - w + 1)) - p
            out = np.full((h, w) + img.shape[2:], self.fill, dtype=img.dtype)
            ys, ye, xs, xe = max(y0, 0), min(y0 + h, H), max(x0, 0), min(x0 + w, W)
            out[ys - y0:ye - y0, xs - x0:xe - x0] = img[ys:ye, xs:xe]
            return out
        if p:
            pad = ((p, p), (p, p)) + ((0, 0),) * (img.ndim - 2)   # H and W only
            img = np.pad(img, pad, mode=self.padding_mode)
        return _random_crop(img, h, w, gen, "RandomCrop")

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip(_Random):
    """Mirror left-right with probability ``p``."""

    def __init__(self, p=0.5, rng=None):
        super().__init__(rng)
        self.p = float(p)

    def __call__(self, img):
        _check_hwc(img, "RandomHorizontalFlip")
        return img[:, ::-1] if self._gen.random() < self.p else img

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


def resize(img, size):
    """Bilinear resize of an (H, W[, C]) image to ``size = (out_h, out_w)``.

    Pixel centres are aligned (half-pixel convention, as PyTorch's
    ``interpolate(mode="bilinear", align_corners=False)``, OpenCV and PIL use):
        src = (dst + 0.5) * in / out - 0.5,  clamped to [0, in - 1],
    and each output pixel mixes its 4 nearest input pixels with weights
    (1-wy)(1-wx), (1-wy)wx, wy(1-wx), wy wx. No anti-aliasing filter: shrinking by
    more than 2x skips input pixels. uint8 in -> uint8 out (rounded; other integer
    dtypes likewise).
    """
    _check_hwc(img, "Resize")
    oh, ow = _pair(size, "Resize")
    if oh <= 0 or ow <= 0:
        raise ValueError(f"Resize: output size must be positive, got {(oh, ow)}")
    h, w = img.shape[:2]
    if (oh, ow) == (h, w):
        return img

    def taps(n_in, n_out):
        src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        src = np.clip(src, 0, n_in - 1)
        i0 = np.floor(src).astype(np.intp)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (src - i0).astype(np.float32)

    y0, y1, wy = taps(h, oh)
    x0, x1, wx = taps(w, ow)
    f = img.astype(np.float32)
    wy = wy.reshape((-1, 1) + (1,) * (img.ndim - 2))      # (OH, 1[, 1])
    wx = wx.reshape((1, -1) + (1,) * (img.ndim - 2))      # (1, OW[, 1])
    top = f[y0] * (1 - wy) + f[y1] * wy                   # (OH, W[, C]): rows first
    out = top[:, x0] * (1 - wx) + top[:, x1] * wx         # (OH, OW[, C])
    if img.dtype.kind in "iu":                 # uint8 (or other integers): rounded, clipped
        info = np.iinfo(img.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(img.dtype)
    return out.astype(img.dtype, copy=False)


def _short_side_size(h, w, s):
    """(h', w') with min(h', w') = s and the aspect ratio kept (isotropic rescale)."""
    if h <= w:
        return s, max(1, int(round(w * s / h)))
    return max(1, int(round(h * s / w))), s


class Resize:
    """Bilinear resize. ``size`` an int: the shorter side becomes ``size`` and the
    aspect ratio is kept; ``size`` a pair (h, w): exactly that size."""

    def __init__(self, size):
        self.size = size if isinstance(size, (int, np.integer)) else _pair(size, "Resize")

    def __call__(self, img):
        _check_hwc(img, "Resize")
        if isinstance(self.size, tuple):
            return resize(img, self.size)
        return resize(img, _short_side_size(img.shape[0], img.shape[1], int(self.size)))

    def __repr__(self):
        return f"Resize({self.size})"


class CenterCrop:
    """Cut the central ``size`` crop."""

    def __init__(self, size):
        self.size = _pair(size, "CenterCrop")

    def __call__(self, img):
        _check_hwc(img, "CenterCrop")
        return _center_crop(img, *self.size)

    def __repr__(self):
        return f"CenterCrop({self.size})"


class RandomResizedCrop(_Random):
    """GoogLeNet/Inception-style crop: a random patch covering a fraction of the image
    area drawn from ``scale`` and with aspect ratio (w/h) log-uniform in ``ratio``,
    resized to ``size``. After 10 patches that do not fit, the central crop with the
    ratio clamped into range is used."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), rng=None):
        super().__init__(rng)
        self.size = _pair(size, "RandomResizedCrop")
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        if not (0 < self.scale[0] <= self.scale[1] <= 1 and 0 < self.ratio[0] <= self.ratio[1]):
            raise ValueError(f"RandomResizedCrop: need 0 < scale[0] <= scale[1] <= 1 and "
                             f"0 < ratio[0] <= ratio[1], got scale={scale}, ratio={ratio}")

    def get_params(self, h, w, rng):
        """(top, left, crop_h, crop_w) of the patch for an h x w image."""
        area = h * w
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(log_lo, log_hi))
            cw = int(round(math.sqrt(target * aspect)))
            ch = int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                return (int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)),
                        ch, cw)
        aspect = min(max(w / h, self.ratio[0]), self.ratio[1])   # fallback: central crop
        cw, ch = (w, int(round(w / aspect))) if w / h < aspect else (int(round(h * aspect)), h)
        ch, cw = min(ch, h), min(cw, w)
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, img):
        _check_hwc(img, "RandomResizedCrop")
        top, left, ch, cw = self.get_params(img.shape[0], img.shape[1], self._gen)
        return resize(_crop(img, top, left, ch, cw), self.size)

    def __repr__(self):
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


class ScaleJitter(_Random):
    """VGG's scale jittering (Simonyan & Zisserman 2015, sec. 3.1, "multi-scale training").

    Each image is isotropically rescaled so that its shorter side is S, with S drawn
    uniformly from the integers in [S_min, S_max], and then a ``crop`` x ``crop`` patch is
    cut at a random place. One network thus sees objects over a range of scales.

    The paper: S in [256, 512] and 224 x 224 crops on ImageNet (single-scale training
    used S = 256 or 384). On CIFAR's 32 x 32 images the same ratios (crop/S from 0.875
    down to 0.4375) would be S in [37, 73] with 32-pixel crops, which cuts away most
    of a small object; a milder range such as ``ScaleJitter(32, 48, 32)`` keeps more
    of it. Which range trains best at 32 pixels is a matter to measure.
    """

    def __init__(self, s_min, s_max, crop, rng=None):
        super().__init__(rng)
        self.s_min, self.s_max, self.crop = int(s_min), int(s_max), _pair(crop, "ScaleJitter")
        if not self.s_min <= self.s_max:
            raise ValueError(f"ScaleJitter: need s_min <= s_max, got {s_min} > {s_max}")
        if self.s_min < max(self.crop):
            raise ValueError(f"ScaleJitter: s_min={s_min} is smaller than the crop "
                             f"{self.crop}: the rescaled image could not hold it")

    def rescale(self, img, rng=None):
        """First half: the image rescaled so that its shorter side is a random S."""
        _check_hwc(img, "ScaleJitter")
        s = int((rng or self._gen).integers(self.s_min, self.s_max + 1))
        return resize(img, _short_side_size(img.shape[0], img.shape[1], s))

    def __call__(self, img):
        gen = self._gen
        return _random_crop(self.rescale(img, gen), *self.crop, gen, "ScaleJitter")

    def __repr__(self):
        return f"ScaleJitter(s_min={self.s_min}, s_max={self.s_max}, crop={self.crop})"


# -------------------------------------------------------- multi-crop evaluation
def _ten_crops(img, h, w, flip):
    """(K, h, w[, C]) with K = 5 (4 corners + centre) or 10 (and their mirror images)."""
    _check_fits(img, h, w, "TenCrop")
    H, W = img.shape[:2]
    crops = [_crop(img, 0, 0, h, w), _crop(img, 0, W - w, h, w),
             _crop(img, H - h, 0, h, w), _crop(img, H - h, W - w, h, w),
             _center_crop(img, h, w, "TenCrop")]
    if flip:
        crops += [c[:, ::-1] for c in crops]
    return np.stack(crops)


class TenCrop:
    """The 4 corner crops and the central crop, then each of them mirrored.

    AlexNet's test-time averaging (Krizhevsky et al. 2012, sec. 4.1): returns a stack
    (10, h, w, C) in the order [top-left, top-right, bottom-left, bottom-right,
    centre, and the same five flipped left-right]. ``flip=False`` gives 5 crops."""

    def __init__(self, size, flip=True):
        self.size, self.flip = _pair(size, "TenCrop"), bool(flip)

    def __call__(self, img):
        _check_hwc(img, "TenCrop")
        return _ten_crops(img, *self.size, self.flip)

    def __repr__(self):
        return f"TenCrop({self.size}, flip={self.flip})"


class MultiScaleCrops:
    """Multi-scale, multi-crop testing: rescale the image so its shorter side is Q for
    each Q in ``scales``, take ``TenCrop(crop)`` at each scale, and stack everything:
    (len(scales) * 10, crop, crop, C). The class scores of all crops are then averaged
    (``predict_crops``).

    VGG (sec. 4.2 and 4.3) tested a scale-jittered model at Q in {S_min,
    (S_min + S_max)/2, S_max} = {256, 384, 512} and, for multi-crop evaluation, took a
    5 x 5 grid of 224 crops and their flips at each scale (150 crops); here each scale
    contributes AlexNet's 10 crops instead."""

    def __init__(self, scales, crop, flip=True):
        self.scales = [int(q) for q in scales]
        self.crop, self.flip = _pair(crop, "MultiScaleCrops"), bool(flip)
        if min(self.scales) < max(self.crop):
            raise ValueError(f"MultiScaleCrops: every scale must be >= the crop "
                             f"{self.crop}, got scales {self.scales}")

    def __call__(self, img):
        _check_hwc(img, "MultiScaleCrops")
        h, w = img.shape[:2]
        return np.concatenate([_ten_crops(resize(img, _short_side_size(h, w, q)),
                                          *self.crop, self.flip) for q in self.scales])

    def __repr__(self):
        return f"MultiScaleCrops(scales={self.scales}, crop={self.crop}, flip={self.flip})"


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predict_crops(model, crops, device=None):
    """Class probabilities averaged over crops.

    ``crops``: (N, K, C, h, w), K crops of each of N images (a DataLoader batch built
    with TenCrop/MultiScaleCrops then ToTensor), as a Tensor or an array.
    Returns an (N, num_classes) NumPy array: mean over the K crops of softmax(model(crop)).
    The model is run in eval mode without a graph and left in the mode it was in."""
    x = crops.data if isinstance(crops, Tensor) else crops
    if x.ndim != 5:
        raise ValueError(f"predict_crops: expected crops of shape (N, K, C, h, w), "
                         f"got {tuple(x.shape)}")
    n, k = x.shape[:2]
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            # (N, K, C, h, w) -> (N*K, C, h, w): all crops in one batch
            logits = model(Tensor(x.reshape((n * k,) + tuple(x.shape[2:])), device=device))
    finally:
        if was_training:
            model.train()
    z = backend.to_device(logits.data, "cpu").astype(np.float64)
    return _softmax(z).reshape(n, k, -1).mean(axis=1)          # (N*K, classes) -> (N, classes)


def multi_crop_predict(model, image, scales, crop, transform=None, flip=True, device=None):
    """Class probabilities of one (H, W, C) image by VGG-style multi-scale, multi-crop
    testing: softmax averaged over 10 crops at each scale in ``scales``, then over the
    scales. ``transform`` maps the (K, crop, crop, C) stack to model input (default
    ``ToTensor()``; pass ``Compose([ToTensor(), Normalize(mean, std)])`` to normalise).
    Returns a (num_classes,) NumPy array that sums to 1."""
    transform = transform or ToTensor()
    crops = transform(MultiScaleCrops(scales, crop, flip)(image))   # (K, C, crop, crop)
    # equal weight per scale: each scale contributes the same number of crops
    return predict_crops(model, crops[None], device=device)[0]


# ------------------------------------------------------------------ colour
# The principal components of ImageNet's RGB pixel values (in [0, 1]) as used by
# fb.resnet.torch and many ports since: eigval[i] scales the i-th direction eigvec[:, i].
IMAGENET_EIGVAL = np.array([0.2175, 0.0188, 0.0045], dtype=np.float32)
IMAGENET_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009],
                            [-0.5808, -0.0045, -0.8140],
                            [-0.5836, -0.6948, 0.4203]], dtype=np.float32)


class Lighting(_Random):
    """AlexNet's PCA colour augmentation (Krizhevsky et al. 2012, sec. 4.1; "fancy PCA").

    To every pixel of an image add the same RGB offset
        delta = [p1, p2, p3] @ [a1 * l1, a2 * l2, a3 * l3],   a_i ~ N(0, alphastd^2),
    where p_i (the columns of ``eigvec``) are the principal directions of the dataset's
    RGB values and l_i (``eigval``) their scales. a is drawn once per image; the
    paper used alphastd = 0.1. It changes the intensity and colour of the illumination, to
    which object identity should be invariant. Works on float (C, H, W) images in
    [0, 1], after ToTensor and before Normalize. ``pca_lighting_stats`` computes
    eigval/eigvec for another dataset.
    """

    def __init__(self, alphastd=0.1, eigval=IMAGENET_EIGVAL, eigvec=IMAGENET_EIGVEC, rng=None):
        super().__init__(rng)
        self.alphastd = float(alphastd)
        self.eigval = np.asarray(eigval, dtype=np.float32).reshape(3)
        self.eigvec = np.asarray(eigvec, dtype=np.float32).reshape(3, 3)

    def offset(self, rng=None):
        """One random RGB offset, shape (3,)."""
        alpha = (rng or self._gen).normal(0.0, self.alphastd, size=3).astype(np.float32)
        return self.eigvec @ (alpha * self.eigval)

    def __call__(self, img):
        _check_chw(img, "Lighting")
        if img.shape[-3] != 3:
            raise ValueError(f"Lighting: expected 3 (RGB) channels, got shape {img.shape}")
        if self.alphastd == 0:
            return img
        return img + self.offset().reshape(3, 1, 1).astype(img.dtype, copy=False)

    def __repr__(self):
        return f"Lighting(alphastd={self.alphastd})"


def pca_lighting_stats(images, max_pixels=1_000_000, rng=None):
    """``(eigval, eigvec)`` for ``Lighting`` from a set of RGB images.

    ``images``: (N, H, W, 3) uint8 (as the datasets store them) or float in [0, 1].
    The 3 x 3 covariance of the pixel values (scaled to [0, 1]) is eigen-decomposed,
    Sigma = V diag(w) V^T; the columns of V come back as ``eigvec`` and sqrt(w) (the
    standard deviation along each direction, the scale on which the ImageNet figures
    above and alphastd = 0.1 are used) as ``eigval``, largest first. At most
    ``max_pixels`` randomly chosen pixels are used."""
    x = np.asarray(images)
    if x.ndim < 2 or x.shape[-1] != 3:
        hint = (" (channels first? pass the HWC images, as the datasets store them)"
                if x.ndim >= 3 and x.shape[-3] == 3 else "")
        raise ValueError(f"pca_lighting_stats: expected (..., H, W, 3) RGB images, "
                         f"got shape {x.shape}{hint}")
    pixels = x.reshape(-1, 3)                                    # (N*H*W, 3)
    if len(pixels) > max_pixels:
        pick = _as_generator(rng if rng is not None else 0).choice(
            len(pixels), max_pixels, replace=False)
        pixels = pixels[pick]
    pixels = pixels.astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0)
    cov = np.cov(pixels, rowvar=False)                           # (3, 3)
    w, v = np.linalg.eigh(cov)                                   # ascending
    order = np.argsort(w)[::-1]
    return (np.sqrt(np.clip(w[order], 0, None)).astype(np.float32),
            v[:, order].astype(np.float32))
