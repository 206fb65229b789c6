"""Bad input gets a clear error, and changes nothing.

Each case below is a mistake a user makes (a float64 batch into a float32 model, a CHW
image into a crop, a one-sample batch into BatchNorm in training, ...). For each: the error
type, the words a user needs (what was expected, what came, what to do), and that the
parameters, gradients, buffers and input arrays it touched are exactly as they were.
(The trainer, io and CLI halves of the same list live with those modules' tests.)
"""
import re

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import nn, optim
from minitorch_cnn.data import transforms as T

CASES = {}


def case(name, error, words):
    """Register ``build() -> (call, watched)``: ``call()`` must raise ``error`` with a
    message matching every regex in ``words``; ``watched`` (Tensors, Modules, arrays)
    must be unchanged afterwards."""
    def register(build):
        assert name not in CASES
        CASES[name] = (build, error, words)
        return build
    return register


def _linear():
    mt.manual_seed(0)
    return nn.Linear(4, 3)


def _conv():
    mt.manual_seed(0)
    return nn.Conv2d(3, 4, 3)


def _image(h=16, w=16):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


LINEAR = re.escape("Linear(in_features=4, out_features=3, bias=True)")

# ------------------------------------------------------------------------ layers
@case("Linear float64 input", TypeError,
      [LINEAR + r": expected input dtype float32 \(the dtype of its weight\), got float64; "
       r"convert the input with x\.float\(\) or the model with model\.double\(\)"])
def _():
    m = _linear()
    return lambda: m(mt.ones(2, 4, dtype=np.float64)), [m]


@case("Linear int64 input", TypeError, [LINEAR + r": .*got int64; convert the input with "
                                        r"x\.float\(\)$"])
def _():
    m = _linear()
    return lambda: m(mt.tensor(np.ones((2, 4), np.int64))), [m]


@case("Linear float16 input", TypeError, [LINEAR + r": .*float32.*got float16.*x\.float\(\)"])
def _():
    m = _linear()
    return lambda: m(mt.tensor(np.ones((2, 4), np.float16))), [m]


@case("Linear in_features", ValueError, [LINEAR + r": expected input with 4 features in the "
                                         r"last dim, got shape \(2, 5\)"])
def _():
    m = _linear()
    return lambda: m(mt.ones(2, 5)), [m]


@case("Linear 0-d input", ValueError, [r"expected input with 4 features.*got shape \(\)"])
def _():
    m = _linear()
    return lambda: m(mt.tensor(1.0)), [m]


@case("float64 model, float32 input", TypeError,
      [r"expected input dtype float64 \(the dtype of its weight\), got float32; convert the "
       r"input with x\.double\(\) or the model with model\.float\(\)"])
def _():
    m = _linear().double()
    return lambda: m(mt.ones(2, 4)), [m]


@case("Conv2d float64 input", TypeError, [r"Conv2d\(3->4\): expected input dtype float32 "
                                          r"\(the dtype of its weight\), got float64"])
def _():
    m = _conv()
    return lambda: m(mt.ones(1, 3, 8, 8, dtype=np.float64)), [m]


@case("Conv2d uint8 images", TypeError, [r"Conv2d\(3->4\): .*got uint8; convert the input "
                                         r"with x\.float\(\)"])
def _():
    m, x = _conv(), mt.tensor(np.zeros((1, 3, 8, 8), np.uint8))
    return lambda: m(x), [m, x]


@case("Conv2d NHWC batch", ValueError, [r"Conv2d\(3->4\): expected input with 3 channels, "
                                        r"got 8 \(input shape \(2, 8, 8, 3\)\)"])
def _():
    m = _conv()
    return lambda: m(mt.ones(2, 8, 8, 3)), [m]


@case("Conv2d flat input", ValueError, [r"Conv2d\(3->4\): expected a 4-D input .*got shape "
                                        r"\(2, 3\)"])
def _():
    m = _conv()
    return lambda: m(mt.ones(2, 3)), [m]


@case("Sequential names the layer that refuses", TypeError, [r"^Conv2d\(3->4\): .*float64"])
def _():
    m = nn.Sequential(_conv(), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
    return lambda: m(mt.randn(2, 3, 8, 8, dtype=np.float64)), [m]


@case("BatchNorm2d one value per channel", ValueError,
      [r"BatchNorm2d\(3\): expected more than 1 value per channel when training, got input "
       r"shape \(1, 3, 1, 1\)", r"batch of at least 2 samples, or call model\.eval\(\)"])
def _():
    m = nn.BatchNorm2d(3)
    return lambda: m(mt.ones(1, 3, 1, 1)), [m]


@case("BatchNorm2d empty batch in training", ValueError,
      [r"BatchNorm2d\(3\): expected more than 1 value per channel when training, got input "
       r"shape \(0, 3, 4, 4\) \(an empty batch has no mean or variance\)", r"model\.eval\(\)"])
def _():
    m = nn.BatchNorm2d(3)
    return lambda: m(mt.ones(0, 3, 4, 4)), [m]


@case("BatchNorm1d one sample", ValueError, [r"BatchNorm1d\(5\): expected more than 1 value "
                                             r"per channel"])
def _():
    m = nn.Sequential(_linear(), nn.Linear(3, 5), nn.BatchNorm1d(5))
    return lambda: m(mt.ones(1, 4)), [m]


@case("BatchNorm2d float64 input", TypeError, [r"BatchNorm2d\(3\): expected input dtype "
                                               r"float32 .*got float64"])
def _():
    m = nn.BatchNorm2d(3)
    return lambda: m(mt.ones(2, 3, 2, 2, dtype=np.float64)), [m]


@case("BatchNorm2d channels", ValueError, [r"BatchNorm2d\(3\): expected input with 3 channels, "
                                           r"got 4"])
def _():
    m = nn.BatchNorm2d(3)
    return lambda: m(mt.ones(2, 4, 2, 2)), [m]


@case("model.to(float16)", TypeError, [r"Sequential\.to: expected dtype float32 or float64 "
                                       r"\(minitorch_cnn computes in those two\), got float16"])
def _():
    m = nn.Sequential(_linear(), nn.BatchNorm1d(3))
    return lambda: m.to(np.float16), [m]


@case("model.to(int64)", TypeError, [r"expected dtype float32 or float64.*got int64"])
def _():
    m = _linear()
    return lambda: m.to("cpu", np.int64), [m]


@case("MaxPool2d window larger than the map", ValueError,
      [r"max_pool2d: window 3x3 .* does not fit the input 2x2"])
def _():
    return lambda: nn.MaxPool2d(3)(mt.ones(1, 1, 2, 2)), []


# -------------------------------------------------------------- functional ops
@case("F.linear bias dtype", TypeError, [r"linear: input dtype float32 and bias dtype float64 "
                                         r"differ; make them one dtype"])
def _():
    w, b = mt.ones(3, 4, requires_grad=True), mt.zeros(3, dtype=np.float64, requires_grad=True)
    return lambda: F.linear(mt.ones(2, 4), w, b), [w, b]


@case("F.conv2d bias dtype", TypeError, [r"conv2d: input dtype float32 and bias dtype float64"])
def _():
    w = mt.ones(4, 3, 3, 3)
    return lambda: F.conv2d(mt.ones(1, 3, 5, 5), w, mt.zeros(4, dtype=np.float64)), [w]


@case("F.batch_norm running stats dtype", TypeError,
      [r"batch_norm: input dtype float64 and running_var dtype float32"])
def _():
    rm, rv = mt.zeros(3, dtype=np.float64), mt.ones(3)
    return lambda: F.batch_norm(mt.ones(2, 3, dtype=np.float64), rm, rv, training=True), [rm, rv]


@case("matmul float32 @ float64", TypeError, [r"matmul: expected both operands of one dtype, "
                                              r"got float32 and float64"])
def _():
    return lambda: mt.ones(2, 3) @ mt.ones(3, 2, dtype=np.float64), []


@case("relu of a mask", TypeError, [r"relu: bool input is not supported; convert it with "
                                    r"x\.float\(\)"])
def _():
    return lambda: F.relu(mt.tensor([True, False])), []


@case("softmax of class indices", TypeError, [r"softmax: expected a floating-point input "
                                              r"\(float32 or float64\), got int64"])
def _():
    return lambda: F.softmax(mt.tensor([[1, 2]]), 1), []


@case("max_pool2d float16", TypeError, [r"max_pool2d: float16 input is not supported"])
def _():
    return lambda: F.max_pool2d(mt.tensor(np.ones((1, 1, 4, 4), np.float16)), 2), []


@case("avg_pool2d on integers", TypeError, [r"avg_pool2d: expected a floating-point input"])
def _():
    return lambda: F.avg_pool2d(mt.tensor(np.ones((1, 1, 4, 4), np.int64)), 2), []


@case("adaptive pool of an empty map", ValueError, [r"adaptive_avg_pool2d: expected an input "
                                                    r"of at least 1x1 pixels, got shape"])
def _():
    return lambda: F.adaptive_avg_pool2d(mt.ones(1, 2, 0, 3), 1), []


# ------------------------------------------------------------------------ losses
@case("cross_entropy on integer logits", TypeError,
      [r"cross_entropy: expected a floating-point input \(the logits\)"])
def _():
    return lambda: F.cross_entropy(mt.tensor([[1, 2], [3, 4]]), mt.tensor([0, 1])), []


@case("cross_entropy with one-hot float targets", TypeError,
      [r"cross_entropy: expected integer class indices \(int64\) as target, got float32"])
def _():
    x = mt.randn(2, 3, requires_grad=True)
    return lambda: F.cross_entropy(x, mt.tensor([[1.0, 0, 0], [0, 1, 0]])), [x]


@case("cross_entropy class out of range", IndexError, [r"target class 3 is out of range for 3 "
                                                       r"classes \(expected 0\.\.2"])
def _():
    return lambda: F.cross_entropy(mt.randn(2, 3), mt.tensor([0, 3])), []


@case("cross_entropy target shape", ValueError, [r"target of shape \(3,\) does not fit input "
                                                 r"of shape \(2, 3\)"])
def _():
    return lambda: F.cross_entropy(mt.randn(2, 3), mt.tensor([0, 1, 2])), []


@case("mse_loss on integers", TypeError, [r"mse_loss: expected a floating-point input and "
                                          r"target \(got int64 and int64\)"])
def _():
    return lambda: F.mse_loss(mt.tensor([1, 2]), mt.tensor([1, 3])), []


@case("nll_loss float16", TypeError, [r"nll_loss: float16 input is not supported"])
def _():
    return lambda: F.nll_loss(mt.tensor(np.zeros((2, 3), np.float16)), mt.tensor([0, 1])), []


# ---------------------------------------------------------------- tensor operators
@case("if tensor:", RuntimeError, [r"Boolean value of Tensor with more than one value is "
                                   r"ambiguous.*t\.any\(\) or t\.all\(\)"])
def _():
    return lambda: bool(mt.tensor([1.0, 0.0]) > 0), []


@case("len of a 0-d tensor", TypeError, [r"len\(\) of a 0-d tensor"])
def _():
    return lambda: len(mt.tensor(1.0).sum()), []


@case("iterating a 0-d tensor", TypeError, [r"iteration over a 0-d tensor"])
def _():
    return lambda: [v for v in mt.tensor(3)], []


@case("float() of many values", ValueError, [r"only one element tensors can be converted to "
                                             r"Python scalars \(float\(\) of a tensor of shape "
                                             r"\(2,\)\)"])
def _():
    return lambda: float(mt.tensor([1.0, 2.0])), []


@case("int tensor += 0.5", TypeError, [r"in-place \+=: the result is float32, which cannot be "
                                       r"stored in this int64 tensor"])
def _():
    counts = mt.tensor([1, 2])
    def call():
        c = counts
        c += 0.5
    return call, [counts]


@case("parameter += outside no_grad", RuntimeError,
      [r"a leaf tensor that requires grad is being used in an in-place operation \(\-=\); "
       r"update it under no_grad\(\)"])
def _():
    m = _linear()
    def call():
        w = m.weight
        w -= 0.1
    return call, [m]


@case("parameter[i] = v outside no_grad", RuntimeError,
      [r"leaf tensor that requires grad .*\(t\[i\] = v\); do it under no_grad\(\)"])
def _():
    m = _linear()
    return lambda: m.weight.__setitem__(0, 0.0), [m]


@case("mean of a bool tensor", TypeError, [r"mean: expected a floating-point tensor, got bool",
                                           r"\(pred == y\)\.float\(\)\.mean\(\)"])
def _():
    return lambda: (mt.tensor([1, 2]) == mt.tensor([1, 3])).mean(), []


@case("float & float", TypeError, [r"bitwise_and \(&\): works on bool or integer tensors, got "
                                   r"float32; for masks compare first"])
def _():
    x = mt.tensor([0.5, 1.0])
    return lambda: x & x, [x]


@case("tensor + None", TypeError, [r"unsupported operand type\(s\) for \+: 'Tensor' and "
                                   r"'NoneType'"])
def _():
    return lambda: mt.ones(2) + None, []


@case("integer division by zero", ZeroDivisionError, [r"floor_divide: integer division by "
                                                      r"zero"])
def _():
    return lambda: mt.tensor([4, 5]) // mt.tensor([2, 0]), []


@case("backward after changing a saved input", RuntimeError,
      [r"modified by an in-place operation: Linear saved an array of shape \(2, 4\)",
       r"t = t\.clone\(\)"])
def _():
    m = _linear()
    x = mt.ones(2, 4)
    loss = m(x).sum()
    x[0, 0] = 5.0
    watched = [m]          # no gradient reaches the parameters
    return lambda: loss.backward(), watched


# ------------------------------------------------------------------- optimizers
@case("SGD negative lr", ValueError, [r"SGD: invalid learning rate -1 \(expected lr >= 0\)"])
def _():
    m = _linear()
    return lambda: optim.SGD(m.parameters(), lr=-1), [m]


@case("SGD negative momentum", ValueError, [r"SGD: invalid momentum -0\.9 \(expected >= 0\)"])
def _():
    m = _linear()
    return lambda: optim.SGD(m.parameters(), lr=0.1, momentum=-0.9), [m]


@case("SGD Nesterov without momentum", ValueError, [r"Nesterov momentum needs momentum > 0"])
def _():
    m = _linear()
    return lambda: optim.SGD(m.parameters(), lr=0.1, nesterov=True), [m]


@case("SGD given one tensor", TypeError, [r"SGD: params should be an iterable of Tensors or "
                                          r"dicts, got a single Tensor \(wrap it in a list\)"])
def _():
    m = _linear()
    return lambda: optim.SGD(m.weight, lr=0.1), [m]


@case("SGD on an integer tensor", TypeError, [r"SGD can only optimize floating-point Tensors, "
                                              r"got dtype int64"])
def _():
    return lambda: optim.SGD([mt.tensor([1, 2])], lr=0.1), []


@case("Adam betas", ValueError, [r"Adam: invalid betas \(1\.5, 0\.9\) \(expected each in "
                                 r"\[0, 1\)\)"])
def _():
    m = _linear()
    return lambda: optim.Adam(m.parameters(), betas=(1.5, 0.9)), [m]


@case("RMSprop alpha", ValueError, [r"RMSprop: invalid alpha -1 \(expected in \[0, 1\]\)"])
def _():
    m = _linear()
    return lambda: optim.RMSprop(m.parameters(), lr=0.1, alpha=-1), [m]


# ------------------------------------------------------------------- transforms
@case("RandomCrop of a CHW array", TypeError,
      [r"RandomCrop: expected an HWC image \(H, W, C\), got shape \(3, 32, 32\), which looks "
       r"like CHW", r"before ToTensor, or turn the array with img\.transpose\(1, 2, 0\)"])
def _():
    chw = T.to_tensor(_image(32, 32))
    return lambda: T.RandomCrop(32, padding=4, rng=0)(chw), [chw]


@case("RandomHorizontalFlip of a CHW array", TypeError, [r"RandomHorizontalFlip: expected an "
                                                         r"HWC image.*looks like CHW"])
def _():
    chw = np.ascontiguousarray(_image().transpose(2, 0, 1))
    return lambda: T.RandomHorizontalFlip(1.0)(chw), [chw]


@case("RandomCrop of a batch", TypeError, [r"RandomCrop: expected an \(H, W, C\) or \(H, W\) "
                                           r"image .*got shape \(4, 16, 16, 3\); a stack or "
                                           r"batch of images\?"])
def _():
    batch = np.stack([_image()] * 4)
    return lambda: T.RandomCrop(8)(batch), [batch]


@case("Resize of a Tensor", TypeError, [r"Resize: expected an \(H, W, C\) or \(H, W\) NumPy "
                                        r"image, got a Tensor of shape"])
def _():
    x = mt.tensor(_image().astype(np.float32))
    return lambda: T.Resize(8)(x), [x]


@case("CenterCrop of a bool mask", TypeError, [r"CenterCrop: expected uint8, integer or float "
                                               r"pixels, got bool"])
def _():
    mask = np.zeros((16, 16), bool)
    return lambda: T.CenterCrop(8)(mask), [mask]


@case("Normalize of an HWC float image", TypeError,
      [r"Normalize: expected a CHW image \(C, H, W\), got shape \(16, 16, 3\), which looks "
       r"like HWC"])
def _():
    img = _image().astype(np.float32) / 255
    return lambda: T.Normalize((0.5,) * 3, (0.25,) * 3)(img), [img]


@case("ToTensor twice", TypeError, [r"ToTensor: expected an HWC image .*was ToTensor applied "
                                    r"twice\?"])
def _():
    x = _image()
    return lambda: T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.2,) * 3),
                              T.ToTensor()])(x), [x]


# ----------------------------------------------------------------------- runner
def _snapshot(watched):
    """Copies of every array a case could have changed."""
    out = []
    for w in watched:
        if isinstance(w, nn.Module):
            out += [(k, mt.backend.to_device(v.data, "cpu").copy(), v.dtype)
                    for k, v in w.state_dict().items()]
            out += [(k + ".grad", None if p.grad is None else p.grad.data.copy(), None)
                    for k, p in w.named_parameters()]
        elif isinstance(w, mt.Tensor):
            out += [("tensor", w.data.copy(), w.dtype),
                    ("tensor.grad", None if w.grad is None else w.grad.data.copy(), None)]
        else:
            out.append(("array", np.array(w, copy=True), w.dtype))
    return out


def _same(before, after):
    assert len(before) == len(after)
    for (k, a, da), (_, b, db) in zip(before, after):
        assert da == db, f"{k}: dtype changed {da} -> {db}"
        if a is None or b is None:
            assert a is None and b is None, f"{k}: a gradient appeared or vanished"
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{k} changed")


def test_there_are_enough_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name):
    build, error, words = CASES[name]
    call, watched = build()
    before = _snapshot(watched)
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for pattern in words:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    assert "Traceback" not in message
    _same(before, _snapshot(watched))
