"""Model zoo III: MobileNet V1/V2 and EfficientNet B0-B7 (issue 7).

- every builder: parameter count and multiply-adds equal the published figures, the
  depthwise convs are real depthwise convs (groups == in_channels == out_channels) and
  run on the direct depthwise kernels, forward and backward give finite gradients;
- the compound scaling table, printed: depth/width/resolution multipliers per phi and
  FLOP growth of about 2^phi;
- cifar=True variants at 32x32: one SGD step lowers the loss;
- torch models with torchvision's module names load through io.load_torch_weights and
  give the same logits (eval), the same loss, gradients and BN statistics (train).
"""
import math
from functools import partial

import numpy as np
import pytest
import torch

import minitorch_cnn as mt
import minitorch_cnn.nn as nn
import minitorch_cnn.nn.functional as F
from minitorch_cnn import io, kernels, optim
from minitorch_cnn.models import create, list_models
from minitorch_cnn.models import efficientnet as E
from minitorch_cnn.models import mobilenet as M
from conftest import to_numpy

# (builder, kwargs) -> (parameters, GMACs, side the GMACs are counted at, tolerance).
# torchvision's num_params (exact) and "_ops" (GMACs rounded to 0.1, at the crop side it
# evaluates on: 288 for B2); the MobileNet V1 paper's Table 6 (4.2M / 569M ... rounded).
PUBLISHED = {
    "mobilenet_v1": (4.2e6, 0.569, 224, 0.001),
    "mobilenet_v1_075": (2.6e6, 0.325, 224, 0.001),
    "mobilenet_v1_050": (1.3e6, 0.149, 224, 0.001),
    "mobilenet_v1_025": (0.5e6, 0.041, 224, 0.001),
    "mobilenet_v2": (3_504_872, 0.301, 224, 0.001),
    "efficientnet_b0": (5_288_548, 0.4, 224, 0.05),
    "efficientnet_b1": (7_794_184, 0.7, 240, 0.05),
    "efficientnet_b2": (9_109_994, 1.1, 288, 0.05),
    "efficientnet_b3": (12_233_232, 1.8, 300, 0.05),
    "efficientnet_b4": (19_341_616, 4.4, 380, 0.05),
    "efficientnet_b5": (30_389_784, 10.3, 456, 0.05),
    "efficientnet_b6": (43_040_704, 19.1, 528, 0.05),
    "efficientnet_b7": (66_347_960, 37.7, 600, 0.05),
}
NATIVE_RESOLUTION = dict(zip(sorted(n for n in PUBLISHED if n.startswith("efficientnet_b")),
                             [224, 240, 260, 300, 380, 456, 528, 600]))   # the paper's


def count_params(model):
    return sum(p.data.size for p in model.parameters())


def count_macs(model, side):
    """Multiply-adds of every Conv2d and Linear for one ``side x side`` image.

    Walks the modules in registration order, which is the order these networks run
    them, following the side of the map through each conv: OH = (H + 2P - K) // S + 1;
    a conv costs OH*OW * C_out * (C_in / groups) * KH*KW. The squeeze-and-excitation
    convs (fc1, fc2) act on the pooled 1x1 map and leave the side unchanged.
    """
    macs, h = 0, side
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            if name.endswith(("fc1", "fc2")):
                area = 1
            else:
                h = (h + 2 * m.padding[0] - kh) // m.stride[0] + 1
                area = h * h
            macs += area * m.out_channels * (m.in_channels // m.groups) * kh * kw
        elif isinstance(m, nn.Linear):
            macs += m.in_features * m.out_features
    return macs


def n_blocks(model):
    """Depthwise-separable / inverted-residual / MBConv blocks: one depthwise conv each."""
    if isinstance(model, M.MobileNetV1):
        return len(M.V1_CFG)
    if isinstance(model, M.MobileNetV2):
        return sum(n for _, _, n, _ in M.V2_SETTING)
    return sum(s.repeats for s in model.stages)


@pytest.fixture
def depthwise_calls(monkeypatch):
    """Count the calls of the direct depthwise kernels (forward, dL/dx, dL/dw)."""
    calls = {"forward": 0, "input": 0, "weight": 0}
    for key, fname in [("forward", "depthwise_conv2d"),
                       ("input", "depthwise_conv2d_backward_input"),
                       ("weight", "depthwise_conv2d_backward_weight")]:
        def counted(*args, _f=getattr(kernels, fname), _key=key, **kw):
            calls[_key] += 1
            return _f(*args, **kw)
        monkeypatch.setattr(kernels, fname, counted)
    return calls


def _feature_side(model):
    """Record the side of the map that ``model.features`` hands to the pooling."""
    sides = []
    model.features.register_forward_hook(lambda m, inputs, out: sides.append(out.shape[-1]))
    return sides


# ------------------------------------------------------------ every builder, as published

BUILDS = [(name, {}) for name in PUBLISHED] + [("efficientnet", {"phi": 1})]


@pytest.mark.parametrize("name, kwargs", BUILDS,
                         ids=[n + "".join(f"_{k}{v}" for k, v in kw.items()) for n, kw in BUILDS])
def test_builder_size_depthwise_forward_backward(name, kwargs, depthwise_calls):
    model = create(name, **kwargs)
    if name == "efficientnet":
        # phi = 1 scales B0 by d = 1.2, w = 1.1: B2's multipliers, so B2's parameters
        # (with no published MACs at the rule's 258x258)
        params, gmacs, side, tol = PUBLISHED["efficientnet_b2"][0], None, 258, None
    else:
        params, gmacs, side, tol = PUBLISHED[name]
    n, macs = count_params(model), count_macs(model, side)
    print(f"{name} {kwargs}: {n:,} parameters, {macs / 1e9:.3f} GMACs at {side}x{side}")
    if name.startswith("mobilenet_v1"):
        assert abs(n - params) < 0.05e6          # the paper rounds to 0.1M
    else:
        assert n == params
    if gmacs is not None:
        assert abs(macs / 1e9 - gmacs) <= tol

    # depthwise: one per block, groups == in == out, one 3x3 (or 5x5) filter per channel
    grouped = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(grouped) == n_blocks(model)
    for m in grouped:
        assert m.groups == m.in_channels == m.out_channels
        assert m.weight.shape[:2] == (m.out_channels, 1)

    assert model.default_resolution == NATIVE_RESOLUTION.get(name, side)
    if name in NATIVE_RESOLUTION:               # torchvision's BatchNorm settings
        eps, momentum = (1e-3, 0.01) if name in E.TF_BATCHNORM else (1e-5, 0.1)
        assert all(m.eps == eps and m.momentum == momentum
                   for m in model.modules() if isinstance(m, nn.BatchNorm2d))

    # forward and backward at 64x64 (ImageNet strides: 64 -> 2), on the depthwise kernels
    sides = _feature_side(model)
    x = mt.randn(2, 3, 64, 64, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 1000) and sides == [2]
    out.sum().backward()
    k = n_blocks(model)
    assert depthwise_calls == {"forward": k, "input": k, "weight": k}
    assert x.grad.shape == x.shape and np.isfinite(to_numpy(x.grad)).all()
    for pname, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(to_numpy(p.grad)).all(), pname


def test_efficientnet_stochastic_depth_and_metadata():
    model = create("efficientnet_b0", num_classes=10, cifar=True)
    assert model.default_resolution == 32
    # drop probability rises linearly with the block index b: 0.2 * b / 16, b = 0..15
    probs = [m.stochastic_depth.p for m in model.modules() if isinstance(m, E.MBConv)]
    assert probs == pytest.approx([0.2 * b / 16 for b in range(16)])
    assert all(m.mode == "row" for m in model.modules() if isinstance(m, nn.StochasticDepth))
    # SE squeezes to a quarter of the block's input channels, as 1x1 convs with bias
    se = model.features[2][0].block[2]           # stage 2, first block: 16 -> 96 -> 24
    assert isinstance(se, nn.SqueezeExcitation)
    assert (se.fc1.in_channels, se.fc1.out_channels, se.fc2.out_channels) == (96, 4, 96)
    assert se.fc1.bias is not None and se.fc2.bias is not None
    for name in ["mobilenet_v1", "mobilenet_v2", "efficientnet_b0", "efficientnet_b7",
                 "efficientnet"]:
        assert name in list_models()
    with pytest.raises(ValueError, match="phi"):
        E.efficientnet(phi=-1)


def test_make_divisible():
    assert M._make_divisible(32 * 0.75) == 24
    assert M._make_divisible(40 * 0.75) == 32     # 30 -> nearest multiple of 8
    assert M._make_divisible(16 * 1.1) == 16      # 17.6 -> 16 loses under 10%
    assert M._make_divisible(10) == 16            # 10 -> 8 would lose 20%: one step up
    assert M._make_divisible(3) == 8              # never below the divisor


# ---------------------------------------------------------------- compound scaling table

@pytest.fixture
def no_init(monkeypatch):
    """Skip random initialisation: the scaling table needs the architecture only."""
    for fname in ["uniform_", "normal_", "kaiming_uniform_", "kaiming_normal_"]:
        monkeypatch.setattr(nn.init, fname, lambda t, *args, **kwargs: t)


def test_compound_scaling_table(no_init):
    """phi -> d = 1.2^phi, w = 1.1^phi, r = 224 * 1.15^phi; FLOPs grow ~ 2^phi."""
    base = count_macs(create("efficientnet", phi=0), 224)
    growth = E.ALPHA * E.BETA ** 2 * E.GAMMA ** 2
    assert growth == pytest.approx(2.0, abs=0.1)
    print(f"\nalpha * beta^2 * gamma^2 = {growth:.4f}")
    print(" phi  depth  width   res  repeats per stage         parameters     GMACs   "
          "x B0  (a b^2 g^2)^phi  2^phi")
    ratios = []
    for phi in range(8):
        d, w, r = E.compound_scaling(phi)
        assert (d, w) == pytest.approx((1.2 ** phi, 1.1 ** phi))
        assert r == round(224 * 1.15 ** phi)
        model = create("efficientnet", phi=phi)
        assert (model.depth_mult, model.width_mult, model.default_resolution) == (d, w, r)
        for s0, s in zip(E.B0_STAGES, model.stages):
            assert s.repeats == math.ceil(s0.repeats * d)
            assert s.out_channels % 8 == 0 and s.out_channels >= 0.9 * s0.out_channels * w
        assert n_blocks(model) == sum(len(stage) for stage in list(model.features)[1:-1])
        macs = count_macs(model, r)
        ratios.append(macs / base)
        print(f"{phi:4d}  {d:5.3f}  {w:5.3f}  {r:4d}  {str([s.repeats for s in model.stages]):24s}"
              f"  {count_params(model):>11,}  {macs / 1e9:8.3f}  {ratios[-1]:6.2f}"
              f"  {growth ** phi:15.2f}  {2 ** phi:5d}")
    # Rounding (ceil of repeats, channels to multiples of 8) keeps each model near, not at,
    # the ideal: within a third of 2^phi, and close to 2x per step over the whole range.
    for phi, ratio in enumerate(ratios):
        assert 0.75 < ratio / 2 ** phi < 1.35
    assert ratios[-1] ** (1 / 7) == pytest.approx(2.0, abs=0.1)


# ------------------------------------------------------- CIFAR variants: one SGD step

@pytest.mark.parametrize("name, final_side", [("mobilenet_v1", 2), ("mobilenet_v2", 4),
                                              ("efficientnet_b0", 4)])
def test_cifar_variant_sgd_step_lowers_loss(name, final_side):
    """cifar=True: 32x32 inputs shrink to 2x2 (V1) or 4x4 (V2, EfficientNet), and one SGD
    step on a small batch lowers its loss (same dropout / stochastic-depth masks)."""
    model = create(name, num_classes=10, cifar=True)
    sides = _feature_side(model)
    x, y = mt.randn(4, 3, 32, 32), mt.tensor(np.array([3, 7, 0, 5]))

    def loss_now():
        mt.manual_seed(1)
        return F.cross_entropy(model(x), y)

    loss = loss_now()
    assert sides == [final_side] and np.isfinite(loss.item())
    loss.backward()
    optim.SGD(model.parameters(), lr=0.05).step()
    assert loss_now().item() < loss.item()


# ---------------------------------------------- torchvision layout: same logits, grads

def _t_conv_bn_act(cin, cout, k=3, stride=1, groups=1, act=torch.nn.ReLU6, bn=(1e-5, 0.1)):
    """torchvision's Conv2dNormActivation: Sequential(conv, bn[, act]); bn = (eps, momentum)."""
    layers = [torch.nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
              torch.nn.BatchNorm2d(cout, eps=bn[0], momentum=bn[1])]
    if act is not None:
        layers.append(act())
    return torch.nn.Sequential(*layers)


class TorchInvertedResidual(torch.nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = int(round(cin * t))
        self.use_res = stride == 1 and cin == cout
        layers = [_t_conv_bn_act(cin, hidden, 1)] if t != 1 else []
        layers += [_t_conv_bn_act(hidden, hidden, 3, stride, hidden),
                   torch.nn.Conv2d(hidden, cout, 1, bias=False), torch.nn.BatchNorm2d(cout)]
        self.conv = torch.nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class TorchMobileNetV2(torch.nn.Module):
    """torchvision's MobileNetV2 module tree, rebuilt from the paper's table."""

    def __init__(self, num_classes, width_mult, first_strides=(2, 2)):
        super().__init__()
        c_in = M._make_divisible(32 * width_mult)
        last = M._make_divisible(1280 * max(1.0, width_mult))
        layers = [_t_conv_bn_act(3, c_in, 3, first_strides[0])]
        for i, (t, c, n, s) in enumerate(M.V2_SETTING):
            s = first_strides[1] if i == 1 else s
            c_out = M._make_divisible(c * width_mult)
            for j in range(n):
                layers.append(TorchInvertedResidual(c_in, c_out, s if j == 0 else 1, t))
                c_in = c_out
        layers.append(_t_conv_bn_act(c_in, last, 1))
        self.features = torch.nn.Sequential(*layers)
        self.classifier = torch.nn.Sequential(torch.nn.Dropout(0.2),
                                              torch.nn.Linear(last, num_classes))

    def forward(self, x):
        x = torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(x)


class TorchSE(torch.nn.Module):
    def __init__(self, c, s):
        super().__init__()
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = torch.nn.Conv2d(c, s, 1), torch.nn.Conv2d(s, c, 1)
        self.activation, self.scale_activation = torch.nn.SiLU(), torch.nn.Sigmoid()

    def forward(self, x):
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


class TorchMBConv(torch.nn.Module):
    def __init__(self, cin, cout, k, stride, t, bn):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        hidden = M._make_divisible(cin * t)
        act = torch.nn.SiLU
        layers = [_t_conv_bn_act(cin, hidden, 1, act=act, bn=bn)] if hidden != cin else []
        layers += [_t_conv_bn_act(hidden, hidden, k, stride, hidden, act=act, bn=bn),
                   TorchSE(hidden, max(1, cin // 4)),
                   _t_conv_bn_act(hidden, cout, 1, act=None, bn=bn)]
        self.block = torch.nn.Sequential(*layers)

    def forward(self, x):          # stochastic depth is the identity here (eval, or p = 0)
        return self.block(x) + x if self.use_res else self.block(x)


class TorchEfficientNet(torch.nn.Module):
    """torchvision's EfficientNet module tree over a (scaled) stage table."""

    def __init__(self, stages, num_classes, bn=(1e-5, 0.1), first_strides=(2, 2)):
        super().__init__()
        act = torch.nn.SiLU
        layers = [_t_conv_bn_act(3, stages[0].in_channels, 3, first_strides[0], act=act, bn=bn)]
        for i, s in enumerate(stages):
            stride = first_strides[1] if i == 1 else s.stride
            layers.append(torch.nn.Sequential(*[
                TorchMBConv(s.in_channels if j == 0 else s.out_channels, s.out_channels,
                            s.kernel, stride if j == 0 else 1, s.expand_ratio, bn)
                for j in range(s.repeats)]))
        last = 4 * stages[-1].out_channels
        layers.append(_t_conv_bn_act(stages[-1].out_channels, last, 1, act=act, bn=bn))
        self.features = torch.nn.Sequential(*layers)
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.classifier = torch.nn.Sequential(torch.nn.Dropout(0.2),
                                              torch.nn.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _randomize_bn(tmodel):
    """Give the BN layers non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(0)
    for m in tmodel.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
            m.running_var.copy_(0.5 + torch.rand(c, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(c, generator=g))


CASES = {
    "mobilenet_v2": (lambda: TorchMobileNetV2(10, 1.0),
                     lambda: M.mobilenet_v2(num_classes=10)),
    "mobilenet_v2_0.5_cifar": (lambda: TorchMobileNetV2(10, 0.5, first_strides=(1, 1)),
                               lambda: M.mobilenet_v2(num_classes=10, width_mult=0.5, cifar=True)),
    "efficientnet_b0": (lambda: TorchEfficientNet(E.B0_STAGES, 10),
                        lambda: E.efficientnet_b0(num_classes=10)),
    "efficientnet_b5_bn_cifar": (   # B5's BatchNorm settings on a smaller net, CIFAR stem
        lambda: TorchEfficientNet(E.scale_stages(E.B0_STAGES, 0.5, 0.5), 10, bn=(1e-3, 0.01),
                                  first_strides=(1, 1)),
        lambda: E.EfficientNet(E.scale_stages(E.B0_STAGES, 0.5, 0.5), 0.2, 0.2, 10,
                               partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01), cifar=True)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_torchvision_layout_loads_and_matches_torch(case):
    make_torch, make_ours = CASES[case]
    torch.manual_seed(0)
    tmodel = make_torch()
    _randomize_bn(tmodel)
    model = make_ours()
    io.load_torch_weights(model, tmodel.state_dict())      # strict: every name must match
    side = 32 if "cifar" in case else 64

    # eval, float32: the same logits
    x = np.random.default_rng(0).standard_normal((2, 3, side, side)).astype(np.float32)
    tmodel.eval(), model.eval()
    with torch.no_grad():
        expect = tmodel(torch.from_numpy(x)).numpy()
    with mt.no_grad():
        got = to_numpy(model(mt.tensor(x)))
    np.testing.assert_allclose(got, expect, rtol=1e-3, atol=1e-4)

    # train, float64 (float32 rounding flips a few ReLU6 clips and blurs the comparison),
    # dropout and stochastic depth off: the same loss, gradients and BN running statistics
    tmodel.double(), model.double()
    for m in list(tmodel.modules()) + list(model.modules()):
        if isinstance(m, (torch.nn.Dropout, nn.Dropout, nn.StochasticDepth)):
            m.p = 0.0
    tmodel.train(), model.train()
    x = np.random.default_rng(1).standard_normal((4, 3, side, side))
    y = np.array([1, 4, 9, 0])
    tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    loss = F.cross_entropy(model(mt.tensor(x)), mt.tensor(y))
    loss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-10)
    tparams = dict(tmodel.named_parameters())
    scale = max(np.abs(p.grad.numpy()).max() for p in tparams.values())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tparams[name].grad.numpy(),
                                   rtol=1e-6, atol=1e-9 * scale, err_msg=name)
    tstate = tmodel.state_dict()
    for name, b in model.named_buffers():
        np.testing.assert_allclose(to_numpy(b), tstate[name].numpy(), rtol=1e-9, err_msg=name)
