"""Transforms: shapes, dtypes, exact crop/flip/resize content (PyTorch as the oracle for
bilinear resizing), determinism under a seed, VGG scale jittering ranges, ten-crop and
multi-scale evaluation, AlexNet's PCA lighting."""
import numpy as np
import pytest
import torch

import minitorch_cnn as mt
from minitorch_cnn import nn
from minitorch_cnn.data import transforms as T


def _img(h=20, w=30, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


# ------------------------------------------------------------------ conversion
def test_to_tensor_layout_dtype_range():
    img = _img()
    x = T.ToTensor()(img)
    assert x.shape == (3, 20, 30) and x.dtype == np.float32
    np.testing.assert_allclose(x, img.transpose(2, 0, 1) / 255, rtol=1e-6)
    assert T.to_tensor(img[:, :, 0]).shape == (1, 20, 30)             # grey (H, W)
    assert T.to_tensor(np.stack([img, img])).shape == (2, 3, 20, 30)  # stack of crops
    with pytest.raises(TypeError, match="ToTensor"):
        T.to_tensor(img.astype(np.int32))


def test_normalize_per_channel_and_checks():
    x = T.to_tensor(_img())
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    out = T.Normalize(mean, std)(x)
    ref = (x - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="apply ToTensor first"):
        T.Normalize(mean, std)(_img())                    # HWC uint8 given by mistake
    with pytest.raises(ValueError, match="2 channels, the image has 3"):
        T.Normalize((0.5, 0.5), (1, 1))(x)


# ------------------------------------------------------------------ geometry
@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_random_crop_equals_crop_of_padded_image(mode):
    img = _img(9, 11)
    for seed in range(20):
        out = T.RandomCrop((8, 10), padding=3, fill=7, padding_mode=mode, rng=seed)(img)
        kw = {"constant_values": 7} if mode == "constant" else {}
        padded = np.pad(img, ((3, 3), (3, 3), (0, 0)), mode=mode, **kw)
        r = np.random.default_rng(seed)                   # same draws: top, then left
        top, left = r.integers(0, 15 - 8 + 1), r.integers(0, 17 - 10 + 1)
        np.testing.assert_array_equal(out, padded[top:top + 8, left:left + 10])
        assert out.dtype == np.uint8


def test_random_crop_errors():
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.RandomCrop(40, padding=2)(_img(32, 32))
    with pytest.raises(TypeError, match="before ToTensor"):
        T.RandomCrop(8)(np.zeros((2, 3, 16, 16), np.float32))


def test_horizontal_flip():
    img = _img()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(img), img)
    t = T.RandomHorizontalFlip(rng=1)
    flipped = [np.array_equal(t(img), img[:, ::-1]) for _ in range(400)]
    assert 0.4 < np.mean(flipped) < 0.6


@pytest.mark.parametrize("size", [(40, 50), (10, 13), (7, 61), (33, 9)])
def test_resize_matches_torch_bilinear(size):
    img = _img(20, 30).astype(np.float32)
    ours = T.resize(img, size)
    ref = torch.nn.functional.interpolate(torch.tensor(img).permute(2, 0, 1)[None], size=size,
                                          mode="bilinear", align_corners=False)
    np.testing.assert_allclose(ours, ref[0].permute(1, 2, 0).numpy(), atol=1e-3)
    u8 = T.resize(img.astype(np.uint8), size)
    assert u8.dtype == np.uint8
    np.testing.assert_array_equal(u8, np.clip(np.rint(ours), 0, 255))


def test_resize_short_side_and_exact_and_center_crop():
    img = _img(20, 30)
    assert T.Resize(10)(img).shape == (10, 15, 3)
    assert T.Resize(10)(_img(30, 20)).shape == (15, 10, 3)
    assert T.Resize((7, 9))(img).shape == (7, 9, 3)
    np.testing.assert_array_equal(T.CenterCrop((10, 10))(img), img[5:15, 10:20])


def test_random_resized_crop_params_and_output():
    t = T.RandomResizedCrop(16, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3))
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, ch, cw = t.get_params(40, 60, rng)
        assert 0 <= top and top + ch <= 40 and 0 <= left and left + cw <= 60
        assert ch > 0 and cw > 0
    out = T.RandomResizedCrop((16, 12), rng=3)(_img(40, 60))
    assert out.shape == (16, 12, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, T.RandomResizedCrop((16, 12), rng=3)(_img(40, 60)))


def test_scale_jitter_short_side_range_and_crop():
    """VGG: the short side S of the rescaled image lies in [S_min, S_max] (both ends
    reached), the aspect ratio is kept, and the output is the crop size."""
    t = T.ScaleJitter(32, 48, 28, rng=0)
    img = _img(32, 40)
    sides = []
    for _ in range(300):
        r = t.rescale(img)
        s = min(r.shape[:2])
        assert 32 <= s <= 48 and r.shape[1] == round(40 * s / 32)
        sides.append(s)
    assert min(sides) == 32 and max(sides) == 48
    for _ in range(20):
        assert t(img).shape == (28, 28, 3)
    with pytest.raises(ValueError, match="smaller than the crop"):
        T.ScaleJitter(24, 48, 32)


def test_random_transforms_deterministic_under_seed():
    pipe = T.Compose([T.ScaleJitter(32, 48, 32), T.RandomCrop(32, padding=4),
                      T.RandomHorizontalFlip(), T.RandomResizedCrop(24), T.ToTensor(),
                      T.Lighting(0.1)])
    img = _img(32, 32)
    mt.manual_seed(5)                                     # no rng given: backend.get_rng()
    a = [pipe(img) for _ in range(5)]
    mt.manual_seed(5)
    b = [pipe(img) for _ in range(5)]
    for x, y in zip(a, b):
        assert x.shape == (3, 24, 24) and x.dtype == np.float32
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(a[0], x) for x in a[1:])
    with T.augmentation_rng(np.random.default_rng(1)):   # the loader's per-epoch generator
        c = pipe(img)
    with T.augmentation_rng(np.random.default_rng(1)):
        np.testing.assert_array_equal(c, pipe(img))


# ------------------------------------------------------------------ multi-crop
def test_ten_crop_positions_and_flips():
    img = _img(20, 30)
    out = T.TenCrop((8, 12))(img)
    assert out.shape == (10, 8, 12, 3)
    ref = [img[:8, :12], img[:8, 18:], img[12:, :12], img[12:, 18:], img[6:14, 9:21]]
    for i in range(5):
        np.testing.assert_array_equal(out[i], ref[i])
        np.testing.assert_array_equal(out[5 + i], ref[i][:, ::-1])
    assert T.TenCrop(8, flip=False)(img).shape == (5, 8, 8, 3)


def test_multi_scale_crops_and_predict():
    img = _img(32, 40)
    crops = T.MultiScaleCrops([24, 32], 20)(img)
    assert crops.shape == (20, 20, 20, 3)
    np.testing.assert_array_equal(crops[10:], T.TenCrop(20)(T.Resize(32)(img)))

    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 20 * 20, 5))
    model.train()
    tf = T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.25,) * 3)])
    p = T.multi_crop_predict(model, img, [24, 32], 20, transform=tf)
    assert p.shape == (5,) and abs(p.sum() - 1) < 1e-6
    assert model.training                                  # mode restored
    x = tf(crops).reshape(20, -1).astype(np.float64)       # the oracle, in NumPy
    z = x @ model[1].weight.data.T.astype(np.float64) + model[1].bias.data
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(p, (e / e.sum(1, keepdims=True)).mean(0), rtol=1e-4)
    batch = np.stack([tf(crops), tf(crops[::-1])])         # (N=2, K, C, h, w)
    np.testing.assert_allclose(T.predict_crops(model, mt.tensor(batch)), np.stack([p, p]),
                               rtol=1e-4)


# ------------------------------------------------------------------ colour
def test_lighting_is_a_zero_mean_constant_colour_shift():
    t = T.Lighting(0.1, rng=0)
    x = T.to_tensor(_img())
    out = t(x)
    delta = out - x
    assert out.dtype == np.float32
    np.testing.assert_allclose(delta, np.broadcast_to(delta[:, :1, :1], delta.shape), atol=1e-6)
    offs = np.stack([t.offset() for _ in range(20000)])   # (draws, 3)
    sd = offs.std(0)
    assert np.all(np.abs(offs.mean(0)) < 4 * sd / np.sqrt(len(offs)))
    # covariance of the offset: V diag((alphastd * eigval)^2) V^T
    V, lam = T.IMAGENET_EIGVEC.astype(np.float64), T.IMAGENET_EIGVAL.astype(np.float64)
    np.testing.assert_allclose(np.cov(offs, rowvar=False), V @ np.diag((0.1 * lam) ** 2) @ V.T,
                               atol=2e-5)
    np.testing.assert_array_equal(T.Lighting(0.0)(x), x)
    with pytest.raises(TypeError, match="apply ToTensor first"):
        t(_img())


def test_pca_lighting_stats_recovers_known_covariance():
    rng = np.random.default_rng(0)
    A = np.array([[0.20, 0.00, 0.00], [0.15, 0.05, 0.00], [0.10, 0.02, 0.03]])
    pixels = 0.5 + rng.standard_normal((50000, 3)) @ A.T      # covariance A A^T
    eigval, eigvec = T.pca_lighting_stats(pixels.reshape(100, 25, 20, 3))
    w = np.sort(np.linalg.eigvalsh(A @ A.T))[::-1]
    np.testing.assert_allclose(eigval ** 2, w, rtol=0.05, atol=1e-5)
    np.testing.assert_allclose(eigvec.T @ eigvec, np.eye(3), atol=1e-5)
    assert np.all(np.diff(eigval) <= 0)
    u8 = np.clip(pixels * 255, 0, 255).astype(np.uint8).reshape(100, 25, 20, 3)
    ev8, _ = T.pca_lighting_stats(u8)                        # uint8 is scaled to [0, 1]
    np.testing.assert_allclose(ev8, eigval, rtol=0.05)


# ------------------------------------------------------------- wrong layouts and types
GEOMETRIC = {
    "RandomCrop": T.RandomCrop(8, padding=2, rng=0),
    "RandomCrop reflect": T.RandomCrop(8, padding=2, padding_mode="reflect", rng=0),
    "RandomHorizontalFlip": T.RandomHorizontalFlip(1.0, rng=0),
    "Resize": T.Resize(12), "CenterCrop": T.CenterCrop(8),
    "RandomResizedCrop": T.RandomResizedCrop(8, rng=0),
    "ScaleJitter": T.ScaleJitter(16, 20, 8, rng=0), "TenCrop": T.TenCrop(8),
    "MultiScaleCrops": T.MultiScaleCrops([16], 8), "resize": lambda im: T.resize(im, (8, 8)),
}


@pytest.mark.parametrize("name", list(GEOMETRIC))
def test_geometric_transforms_say_hwc_was_expected(name):
    """Given a CHW array (after ToTensor, or from another library), every geometric
    transform says that an HWC image was expected, what shape came, and what to do;
    and it still works on the HWC image itself."""
    t = GEOMETRIC[name]
    img = _img(16, 16)
    t(img)
    short = name.split()[0].replace("resize", "Resize")
    chw = T.to_tensor(img)
    with pytest.raises(TypeError, match=rf"{short}: expected an HWC image \(H, W, C\), got "
                                        rf"shape \(3, 16, 16\), which looks like CHW.*"
                                        rf"transpose\(1, 2, 0\)"):
        t(chw)
    for bad, words in [(np.zeros((2, 16, 16, 3), np.uint8), "stack or batch"),
                       (np.zeros(16, np.uint8), r"got shape \(16,\)"),
                       (mt.tensor(np.zeros((16, 16, 3), np.float32)), "got a Tensor"),
                       ([[0, 1], [1, 0]], "got a builtins.list"),
                       (np.zeros((16, 16, 3), bool), "expected uint8, integer or float "
                                                     "pixels, got bool")]:
        with pytest.raises(TypeError, match=rf"{short}: .*{words}"):
            t(bad)
    with pytest.raises(ValueError, match="empty"):
        t(np.zeros((0, 16, 3), np.uint8))


@pytest.mark.parametrize("t", [T.Normalize((0.5, 0.5, 0.5), (0.2, 0.2, 0.2)), T.Lighting(0.1)])
def test_colour_transforms_say_chw_was_expected(t):
    hwc = _img(16, 16).astype(np.float32) / 255
    with pytest.raises(TypeError, match=r"expected a CHW image \(C, H, W\), got shape "
                                        r"\(16, 16, 3\), which looks like HWC.*ToTensor"):
        t(hwc)
    t(np.ascontiguousarray(hwc.transpose(2, 0, 1)))


def test_to_tensor_refuses_chw_and_tensors():
    x = T.to_tensor(_img(16, 16))
    with pytest.raises(TypeError, match=r"ToTensor: expected an HWC image .* looks like CHW "
                                        r"already \(was ToTensor applied twice\?\)"):
        T.to_tensor(x)
    with pytest.raises(TypeError, match="it is a tensor already"):
        T.to_tensor(mt.tensor(x))


def test_resize_rounds_every_integer_dtype():
    img = (_img(4, 4).astype(np.int16) * 3 - 300)
    out = T.resize(img, (7, 5))
    ref = np.rint(T.resize(img.astype(np.float32), (7, 5)))
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, ref.astype(np.int16))
    with pytest.raises(ValueError, match="channels first"):
        T.pca_lighting_stats(np.zeros((2, 3, 8, 8), np.uint8))
