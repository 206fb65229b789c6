"""Fusion in the open: nn.BatchNormReLU2d, nn.BatchNormAddReLU2d and their ops against
torch's separate modules; nn.utils.fuse_modules / fuse_batchnorm_relu; the models, fused
and not, giving the same numbers with the same state dict; hooks seeing the fused layers."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F
from minitorch_cnn import analysis, kernels, models, nn
from minitorch_cnn.models import mobilenet, resnet, resnet_cifar, vgg
from minitorch_cnn.models.densenet import DenseNet
from minitorch_cnn.models.mobilenet import MobileNetV2
from minitorch_cnn.models.resnet import Bottleneck, PreActBottleneck, ResNet

from conftest import to_numpy


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=tol, atol=tol)


@pytest.mark.parametrize("kernels_tier", ["fast", "reference"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_add_relu_matches_torch(kernels_tier, training):
    """relu(batch_norm(x) + r) as one op: output, running statistics and the gradients of
    x, weight, bias and the residual, as torch's three ops."""
    rng = np.random.default_rng(0)
    x, r = rng.standard_normal((4, 3, 5, 6)) * 2 + 1, rng.standard_normal((4, 3, 5, 6))
    w, b, dy = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal((4, 3, 5, 6))
    rm, rv = mt.tensor(rng.standard_normal(3)), mt.tensor(rng.uniform(0.5, 2, 3))
    rmt, rvt = torch.tensor(to_numpy(rm)), torch.tensor(to_numpy(rv))
    X, R, W, B = (mt.tensor(a, requires_grad=True) for a in (x, r, w, b))
    with mt.backend.use_kernels(kernels_tier):
        y = F.batch_norm_add_relu(X, R, rm, rv, W, B, training, 0.1, 1e-5)
        y.backward(mt.tensor(dy))
    xt, rt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, r, w, b))
    yt = TF.relu(TF.batch_norm(xt, rmt, rvt, wt, bt, training, 0.1, 1e-5) + rt)
    yt.backward(torch.tensor(dy))
    assert (yt == 0).any() and (yt > 0).any()
    for ours, theirs in ((y, yt), (X.grad, xt.grad), (R.grad, rt.grad), (W.grad, wt.grad),
                         (B.grad, bt.grad), (rm, rmt), (rv, rvt)):
        _close(ours, theirs.detach())


def test_batch_norm_add_relu_gradcheck():
    rng = np.random.default_rng(1)
    x = mt.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    r = mt.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    w = mt.tensor(rng.standard_normal(2) + 2, requires_grad=True)
    b = mt.tensor(rng.standard_normal(2), requires_grad=True)
    assert mt.gradcheck(lambda x, r, w, b: F.batch_norm_add_relu(x, r, None, None, w, b, True),
                        (x, r, w, b))


def test_batch_norm_add_relu_refuses_a_residual_of_another_shape():
    with pytest.raises(ValueError, match="residual must match the input"):
        F.batch_norm_add_relu(mt.zeros(2, 3, 4, 4), mt.zeros(2, 3, 4, 5), mt.zeros(3),
                              mt.ones(3))


@pytest.mark.parametrize("act,max_value", [("ReLU", np.inf), ("ReLU6", 6.0)])
def test_fuse_modules_like_torch(act, max_value):
    """torch.ao.quantization.fuse_modules' semantics: the first name becomes the fused
    layer, the rest nn.Identity, in place; state dict names unchanged; same numbers."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                                 getattr(torch.nn, act)()).double()
    plain = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4),
                          getattr(nn, act)()).double()
    plain.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    params = list(plain.parameters())
    fused = nn.utils.fuse_modules(plain, [["1", "2"]], inplace=False)
    assert type(plain[1]) is nn.BatchNorm2d                # inplace=False: a fused copy
    nn.utils.fuse_modules(plain, ["1", "2"])               # one list, in place
    for m in (fused, plain):
        assert [type(c).__name__ for c in m] == ["Conv2d", "BatchNormReLU2d", "Identity"]
        assert m[1].max_value == max_value
        assert list(m.state_dict()) == list(theirs.state_dict())
    assert list(plain.parameters()) == params              # the same Parameter objects
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)) * 4
    X, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = plain(X), theirs(xt)
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    _close(y, yt.detach())
    _close(X.grad, xt.grad)
    _close(plain[1].weight.grad, theirs[1].weight.grad)
    for k, v in theirs.state_dict().items():               # running statistics too
        _close(plain.state_dict()[k], v)
    assert "max_value=6" in repr(plain) if max_value == 6 else "max_value" not in repr(plain)


def test_fuse_modules_refuses_what_it_cannot_fuse():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4))
    with pytest.raises(NotImplementedError, match=r"cannot fuse \['0', '1'\]"):
        nn.utils.fuse_modules(m, [["0", "1"]])
    with pytest.raises(KeyError, match="no module named '5'"):
        nn.utils.fuse_modules(m, [["2", "5"]])


def test_sequential_runs_each_module_as_it_is(monkeypatch):
    """No fusion hidden in nn.Sequential: BatchNorm then ReLU runs two ops, unless the
    model was fused explicitly (one op, and no separate clamp)."""
    clamps = []
    real = kernels.clamp
    monkeypatch.setattr(kernels, "clamp", lambda *a: clamps.append(1) or real(*a))
    m = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
    x = mt.randn(2, 3, 4, 4)
    y = m(x)
    assert len(clamps) == 1 and type(y.grad_fn).__name__ == "ReLU"
    nn.utils.fuse_batchnorm_relu(m)
    z = m(x)
    _close(z, y)
    assert len(clamps) == 1 and type(z.grad_fn).__name__ == "BatchNorm"


def test_hooks_see_the_fused_layers():
    """A forward hook on a fused layer sees it run with its fused output; the summary and
    the profiler's layer list show the fused types."""
    model = resnet_cifar.resnet20(num_classes=10)
    block = model.layer1[0]
    assert type(block.bn1).__name__ == "BatchNormReLU2d" and type(block.relu1) is nn.Identity
    assert type(block.bn2).__name__ == "BatchNormAddReLU2d"
    seen = []
    block.bn2.register_forward_hook(lambda m, i, o: seen.append((len(i), o.data.min())))
    model(mt.randn(2, 3, 8, 8))
    assert len(seen) == 1 and seen[0][0] == 2 and seen[0][1] >= 0     # (x, residual)
    rows = analysis.summary(model, (3, 8, 8)).rows
    types = {r.type for r in rows}
    assert {"BatchNormReLU2d", "BatchNormAddReLU2d"} <= types and "BatchNorm2d" not in types


def _tiny(name):
    """Small members of each family that fusion changes, as (builder, input size)."""
    return {
        "resnet20": (lambda **k: resnet_cifar.resnet20(**k), 8),
        "plain20": (lambda **k: resnet_cifar.plain20(**k), 8),
        "bottleneck": (lambda **k: ResNet(Bottleneck, [2, 1], num_classes=10, planes=(4, 8),
                                          stem="imagenet", **k), 16),
        "preact_bottleneck": (lambda **k: ResNet(PreActBottleneck, [1, 1], num_classes=10,
                                                 planes=(4, 8), stem="cifar", **k), 8),
        "wrn": (lambda **k: resnet_cifar.wrn(10, 1, num_classes=10, **k), 8),
        "vgg11_bn": (lambda **k: vgg.vgg11_bn(num_classes=10, cifar=True, **k), 32),
        "mobilenet_v2": (lambda **k: MobileNetV2(10, width_mult=0.25, cifar=True, **k), 16),
        "mobilenet_v1": (lambda **k: mobilenet.mobilenet_v1_025(10, cifar=True, **k), 32),
        "googlenet": (lambda **k: models.create("googlenet", num_classes=10, cifar=True, **k),
                      16),
        "densenet": (lambda **k: DenseNet(4, (2, 2), 8, num_classes=10, **k), 16),
    }[name]


@pytest.mark.parametrize("name", ["resnet20", "plain20", "bottleneck", "preact_bottleneck",
                                  "wrn", "vgg11_bn", "mobilenet_v2", "mobilenet_v1",
                                  "googlenet", "densenet"])
def test_fused_and_plain_models_agree(name):
    """The builders fuse by default; fuse=False keeps the plain modules. Same parameters,
    same state dict names and order, same outputs and gradients (float64, training mode),
    same running statistics."""
    build, size = _tiny(name)
    mt.manual_seed(0)
    plain = build(fuse=False).double()
    fused = build().double()
    fused.load_state_dict(plain.state_dict())
    assert list(fused.state_dict()) == list(plain.state_dict())
    kinds = {type(m).__name__ for m in fused.modules()}
    assert "BatchNormReLU2d" in kinds and "BatchNormReLU2d" not in \
        {type(m).__name__ for m in plain.modules()}
    x = np.random.default_rng(0).standard_normal((2, 3, size, size))
    results = []
    for m in (plain, fused):
        mt.manual_seed(1)                       # the same dropout masks
        X = mt.tensor(x, requires_grad=True)
        y = m(X)
        (y * y).sum().backward()
        results.append([y, X.grad] + [p.grad for p in m.parameters()] + list(m.buffers()))
    for a, b in zip(*results):
        _close(a, b, 1e-9)


def test_stochastic_depth_keeps_the_addition_apart():
    """Stochastic depth scales the branch before the addition at test time: such blocks
    fuse their BN -> ReLU pairs only, and turning it on after fusion is refused."""
    m = resnet_cifar.resnet20(stochastic_depth=0.5)
    assert all(type(b.bn2) is nn.BatchNorm2d and type(b.bn1).__name__ == "BatchNormReLU2d"
               for b in m.blocks())
    with pytest.raises(ValueError, match="stochastic depth"):
        resnet_cifar.resnet20().set_stochastic_depth(0.5)


def test_zero_grad_set_to_none_false_keeps_zeroed_tensors():
    m = nn.Linear(3, 2)
    m(mt.randn(4, 3)).sum().backward()
    grad = m.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is grad and not to_numpy(grad).any()
    m.zero_grad()
    assert m.weight.grad is None
