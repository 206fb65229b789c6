"""Model zoo II: ResNet (plain, basic, bottleneck, pre-activation, wide, ResNeXt, stochastic
depth), DenseNet, FractalNet, and the drop-path op.

Big ImageNet models cost seconds to build on 2 cores: each is built once, only to count its
parameters, except ResNet-152 and DenseNet-201, which are kept for one tiny forward and
backward pass.
"""
import sys

import numpy as np
import pytest
import torch

import minitorch_cnn as mt
from minitorch_cnn import nn, optim
from minitorch_cnn.nn import functional as F
from minitorch_cnn.models import create, list_models
from minitorch_cnn.models import resnet, resnet_cifar, densenet, fractalnet
from minitorch_cnn.io import load_torch_weights
from conftest import to_numpy


def n_params(model):
    return sum(p.data.size for p in model.parameters())


def n_params_no_bn(model):
    """Conv and linear weights only (some papers leave BatchNorm's out of their count)."""
    bn = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d)
          for p in m.parameters()}
    return sum(p.data.size for p in model.parameters() if id(p) not in bn)


# ------------------------------------------------------------ parameter counts
_KEPT = {}   # the two big models the forward/backward test reuses


TORCHVISION_COUNTS = [
    ("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
    ("resnet101", 44_549_160), ("resnet152", 60_192_808),
    ("wide_resnet50_2", 68_883_240), ("wide_resnet101_2", 126_886_696),
    ("resnext50_32x4d", 25_028_904), ("resnext101_32x8d", 88_791_336),
    ("densenet121", 7_978_856), ("densenet161", 28_681_000),
    ("densenet169", 14_149_480), ("densenet201", 20_013_928),
]


@pytest.mark.parametrize("name,count", TORCHVISION_COUNTS)
def test_torchvision_parameter_counts(name, count):
    model = create(name)
    assert n_params(model) == count
    if name in ("resnet152", "densenet201"):
        _KEPT[name] = model


# the papers' rounded figures (millions): He et al. 2015 Table 6, He et al. 2016,
# Zagoruyko & Komodakis 2016, Huang et al. 2017
PAPER_COUNTS = [
    ("resnet20", 0.27), ("resnet32", 0.46), ("resnet44", 0.66), ("resnet56", 0.85),
    ("resnet110", 1.7), ("resnet1202", 19.4),
    ("plain20", 0.27), ("plain56", 0.85), ("plain110", 1.7),   # option A has no parameters
    ("preact_resnet110", 1.7), ("preact_resnet164", 1.7),
    ("wrn28_10", 36.5), ("wrn40_4", 8.9), ("wrn16_8", 11.0),
    ("densenet_bc_100_12", 0.8),
]


@pytest.mark.parametrize("name,millions", PAPER_COUNTS)
def test_paper_parameter_counts(name, millions):
    n = n_params(create(name))
    digits = len(str(millions).split(".")[1])      # as many decimals as the paper gives
    assert round(n / 1e6, digits) == millions


def test_cifar_resnet_exact_counts_and_option_b():
    assert n_params(resnet_cifar.resnet20()) == 269_722
    assert n_params(resnet_cifar.resnet110()) == 1_727_962
    # option B adds two 1x1 projections + BN: 16->32 and 32->64
    assert n_params(resnet_cifar.resnet20(shortcut="B")) == 269_722 + (16 * 32 + 64) + (32 * 64 + 128)


def test_resnext29_and_preact1001_counts():
    assert n_params(resnet_cifar.resnext29_8x64d()) == 34_426_698        # Xie et al.: 34.4M
    # He et al. 2016's 10.2M for ResNet-1001 counts the conv and fc weights (10.18M);
    # with BatchNorm's scale and shift it is 10.33M
    m = resnet_cifar.preact_resnet1001()
    assert round(n_params_no_bn(m) / 1e6, 1) == 10.2 and n_params(m) == 10_327_706


def test_structure_details():
    # stride on the 3x3 (torchvision) or on the first 1x1 (the paper), same parameters
    tv = resnet.Bottleneck(256, 128, 2, _projection(256, 512), stride_on="3x3")
    paper = resnet.Bottleneck(256, 128, 2, _projection(256, 512), stride_on="1x1")
    assert n_params(tv) == n_params(paper)
    assert (tv.conv1.stride, tv.conv2.stride) == ((1, 1), (2, 2))
    assert (paper.conv1.stride, paper.conv2.stride) == ((2, 2), (1, 1))
    x = mt.randn(1, 256, 8, 8)
    assert tv(x).shape == paper(x).shape == (1, 512, 4, 4)
    # ResNeXt-50 (32x4d): 32 groups of 4 channels in the first stage's 3x3
    b = resnet.Bottleneck(64, 64, groups=32, base_width=4)
    assert b.conv2.groups == 32 and b.conv2.in_channels == 128
    # option A is parameter-free; plain nets have no shortcut at all
    r20 = resnet_cifar.resnet20()
    assert isinstance(r20.layer2[0].downsample, resnet.ZeroPadShortcut)
    assert all(b.downsample is None for b in resnet_cifar.plain20().blocks())
    # pre-activation: an ImageNet stem is already activated, the CIFAR stem is a bare conv
    assert resnet.preact_resnet18(num_classes=10).layer1[0].bn1 is None
    c18 = resnet.preact_resnet18(num_classes=10, cifar=True)     # 3x3 stem, no max pool
    assert c18.conv1.kernel_size == (3, 3) and c18.maxpool is None and c18.bn1 is None
    assert c18(mt.randn(2, 3, 32, 32)).shape == (2, 10)
    p110 = resnet_cifar.preact_resnet110()
    assert p110.bn1 is None and p110.layer1[0].bn1 is not None and p110.bn_final is not None
    # DenseNet-BC: 3 blocks of 16 layers, 2k stem, compression 0.5
    d = densenet.densenet_bc_100_12()
    assert len(d.features.denseblock1) == 16 and d.features.conv0.out_channels == 24
    assert d.features.transition1.conv.out_channels == (24 + 16 * 12) // 2


def _conv_macs_at_224(model):
    """Multiply-adds of every conv at 224x224, from one forward at 32x32: every spatial
    size divides exactly (224 = 7 * 32), so each conv does 7^2 times the work."""
    macs = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(lambda m, inp, out: macs.append(
                out.data[0].size * m.weight.data[0].size))
    model.eval()
    with mt.no_grad():
        model(mt.randn(1, 3, 32, 32))
    return sum(macs) * 7 ** 2


def test_resnet50_stride_placement_gives_the_papers_flops():
    # torchvision documents 4.09 GFLOPS (stride on the 3x3); the paper's 3.8 billion
    # multiply-adds come from striding the first 1x1 (3.86, which the paper truncates)
    tv = _conv_macs_at_224(resnet.resnet50(num_classes=10)) / 1e9
    paper = _conv_macs_at_224(resnet.resnet50(num_classes=10, stride_on="1x1")) / 1e9
    assert round(tv, 2) == 4.09
    assert 3.8 <= paper < 3.9


def _projection(cin, cout):
    return nn.Sequential(resnet.conv1x1(cin, cout, 2), nn.BatchNorm2d(cout))


def test_zero_pad_shortcut_values():
    x = mt.randn(2, 3, 6, 6)
    y = resnet.ZeroPadShortcut(3, 5, 2)(x)
    assert y.shape == (2, 5, 3, 3)
    np.testing.assert_array_equal(y.data[:, :3], x.data[:, :, ::2, ::2])
    assert not y.data[:, 3:].any()


def test_bad_configurations_say_what_is_wrong():
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet_cifar.resnet_cifar(21)
    with pytest.raises(ValueError, match="6n\\+4"):
        resnet_cifar.wrn(27, 10)
    with pytest.raises(ValueError, match="PlainBlock"):
        resnet_cifar.plain20(stochastic_depth=0.5)
    with pytest.raises(ValueError, match="groups=1"):
        resnet.ResNet(resnet.BasicBlock, [1, 1], planes=(8, 16), groups=4)
    with pytest.raises(ValueError, match="p_L"):
        resnet_cifar.resnet20(stochastic_depth=0.0)
    with pytest.raises(ValueError, match="6n\\+4"):
        densenet.densenet_bc(99, 12)
    with pytest.raises(ValueError, match="channel widths"):
        fractalnet.FractalNet(blocks=3, channels=(8, 16))


def test_registry_lists_every_builder():
    names = set(list_models())
    for fam in (resnet, resnet_cifar, densenet, fractalnet):
        assert set(fam.BUILDERS) <= names
    for name in ("resnet152", "resnet1202", "plain110", "preact_resnet164", "wrn28_10",
                 "resnext29_16x64d", "densenet_bc_100_12", "fractalnet"):
        assert name in names


# ----------------------------------------------------- very deep: no recursion error
@pytest.mark.parametrize("name", ["resnet152", "densenet201"])
def test_very_deep_forward_backward(name):
    model = _KEPT.pop(name, None)
    if model is None:
        model = create(name)
    # compile every kernel on a small model of the same family first (Numba's compiler
    # needs a deep stack of its own)
    small = (resnet.ResNet(resnet.Bottleneck, [1, 1, 1, 1], planes=(4, 4, 4, 4))
             if name == "resnet152" else densenet.DenseNet(4, (1, 1, 1, 1), 8, bn_size=2))
    small(mt.randn(2, 3, 32, 32, requires_grad=True)).sum().backward()
    # two 32x32 images: the last stage is 1x1, so training-mode BN sees 2 values
    x = mt.randn(2, 3, 32, 32, requires_grad=True)
    # leave little head-room on the stack: a recursive walk of the ~1,000-op graph
    # would blow it
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(_stack()) + 300)
    try:
        out = model(x)
        out.sum().backward()
    finally:
        sys.setrecursionlimit(limit)
    assert out.shape == (2, 1000)
    assert x.grad is not None and np.isfinite(x.grad.data).all()
    first = model.conv1.weight if name == "resnet152" else model.features.conv0.weight
    assert first.grad is not None and np.abs(first.grad.data).sum() > 0


def _stack():
    import traceback
    return traceback.extract_stack()


# ---------------------------------------------------------------- drop-path op
def test_drop_path_row_and_batch():
    x = mt.ones(4000, 3, 2, 2)
    y = F.drop_path(x, 0.3, training=True, mode="row").data
    per_sample = y.reshape(4000, -1)
    # a sample is dropped entirely or kept entirely, survivors scaled by 1/(1-p)
    assert np.all((per_sample == 0).all(1) | np.isclose(per_sample, 1 / 0.7).all(1))
    assert abs((per_sample[:, 0] == 0).mean() - 0.3) < 0.03
    outcomes = {float(F.drop_path(mt.ones(5, 2), 0.5, True, "batch").data.sum())
                for _ in range(40)}
    assert outcomes == {0.0, 20.0}           # the whole batch goes or stays
    assert F.drop_path(x, 0.3, training=False) is x
    assert not F.drop_path(x, 1.0, True, "row").data.any()


def test_drop_path_backward_uses_the_same_mask():
    x = mt.randn(64, 5, requires_grad=True)
    y = F.drop_path(x, 0.5, training=True, mode="row")
    (y * 3.0).sum().backward()
    dropped = (y.data == 0).all(1)
    assert 0 < dropped.sum() < 64
    assert not x.grad.data[dropped].any()
    np.testing.assert_allclose(x.grad.data[~dropped], 3.0 / 0.5)


def test_stochastic_depth_module():
    m = nn.StochasticDepth(0.2, "row")
    x = mt.randn(8, 4)
    assert repr(m) == "StochasticDepth(p=0.2, mode=row)"
    m.eval()
    assert m(x) is x
    m.train()
    y = m(x).data
    kept = ~(y == 0).all(1)
    np.testing.assert_allclose(y[kept], x.data[kept] / 0.8, rtol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        nn.StochasticDepth(0.2, "col")
    with pytest.raises(ValueError, match="probability"):
        F.drop_path(x, 1.5)


# ----------------------------------------------------------- stochastic depth
def _count_calls(modules):
    """A list whose length grows by one each time any of ``modules`` runs."""
    calls = []
    for m in modules:
        m.register_forward_hook(lambda mod, inp, out: calls.append(1))
    return calls


def test_resnet110_stochastic_depth_draws_match_expected_depth():
    model = resnet_cifar.resnet110(stochastic_depth=0.5)
    blocks = model.blocks()
    L = len(blocks)
    assert L == 54
    p = np.array([b.survival_prob for b in blocks])
    np.testing.assert_allclose(p, 1 - np.arange(1, L + 1) / L * 0.5)   # linear decay to 0.5
    ran = []                                      # a block's conv1 runs iff it was not dropped
    for i, b in enumerate(blocks):
        b.conv1.register_forward_hook(lambda m, inp, out, i=i: ran.append(i))
    x = mt.randn(2, 3, 8, 8)
    active = []
    for seed in range(20):
        # one uniform draw per block per mini-batch, in order: block l survives if u < p_l
        mt.manual_seed(seed)
        survivors = np.flatnonzero(mt.backend.get_rng().random(L) < p)
        mt.manual_seed(seed)
        del ran[:]
        with mt.no_grad():
            model(x)
        np.testing.assert_array_equal(ran, survivors)
        active.append(len(ran))
    assert len(set(active)) > 3                   # the depth varies with the seed
    expected = p.sum()                            # 40.25 of 54 blocks
    std_of_mean = np.sqrt((p * (1 - p)).sum() / len(active))
    assert abs(np.mean(active) - expected) < 4 * std_of_mean
    draws = mt.backend.get_rng().random((4000, L)) < p
    assert abs(draws.sum(1).mean() - expected) < 0.25


def test_stochastic_depth_eval_scales_each_branch_by_its_survival_probability():
    """Eval: H_l = ReLU(p_l F(H_{l-1}) + x). F ends in BN, so the same network without
    stochastic depth and with each bn2 scale and shift multiplied by p_l is identical."""
    sd = resnet_cifar.resnet20(stochastic_depth=0.5)
    ref = resnet_cifar.resnet20()
    for m in sd.modules():     # running statistics that make eval BN no identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.data = mt.randn(*m.running_mean.shape).data * 0.1
            m.running_var.data = mt.rand(*m.running_var.shape).data + 0.5
    state = {k: v.data.copy() for k, v in sd.state_dict().items()}
    for i, b in enumerate(sd.blocks()):
        stage, j = divmod(i, 3)
        for part in ("weight", "bias"):
            state[f"layer{stage + 1}.{j}.bn2.{part}"] *= b.survival_prob
    ref.load_state_dict(state)
    sd.eval()
    ref.eval()
    x = mt.randn(2, 3, 16, 16)
    with mt.no_grad():
        y1, y2 = sd(x).data, sd(x).data
        np.testing.assert_array_equal(y1, y2)                          # deterministic
        np.testing.assert_allclose(y1, ref(x).data, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- FractalNet
def test_fractal_block_structure():
    block = fractalnet.FractalBlock(4, 3, 8)
    convs = [m for m in block.modules() if isinstance(m, fractalnet.ConvUnit)]
    assert len(convs) == 1 + 2 + 4 + 8                # columns of 2^(c-1) convs
    z = mt.randn(1, 3, 4, 4)
    with mt.no_grad():
        assert len(block(z)) == 4                     # one output per column, unjoined
        calls = _count_calls(convs)
        for c in range(4):
            del calls[:]
            (y,) = block(z, column=c)
            assert len(calls) == 2 ** c and y.shape == (1, 8, 4, 4)


def test_local_drop_mask_keeps_at_least_one():
    for n in (2, 3, 4):
        masks = np.array([fractalnet.local_drop_mask(n, 0.15) for _ in range(4000)])
        assert masks.any(1).all()
        expected = n * 0.85 + 0.15 ** n      # all dropped (p^n) -> one is put back
        assert abs(masks.sum(1).mean() - expected) < 0.04
    masks = np.array([fractalnet.local_drop_mask(3, 0.9) for _ in range(2000)])
    assert masks.any(1).all()


def test_join_is_the_mean_of_the_survivors():
    a, b, c = mt.ones(2, 2), mt.ones(2, 2) * 2, mt.ones(2, 2) * 6
    np.testing.assert_allclose(fractalnet.join([a, b, c]).data, 3.0)
    mt.manual_seed(3)
    y = fractalnet.join([a, b, c], p_local=0.5).data
    assert y.flat[0] in {1, 2, 6, 1.5, 3.5, 4, 3}


def test_fractalnet_drop_path_depth_and_eval():
    model = fractalnet.fractalnet(columns=3, blocks=2, channels=(4, 8))
    convs = [m for m in model.modules() if isinstance(m, fractalnet.ConvUnit)]
    assert len(convs) == 2 * 7
    # half the mini-batches global (one of 3 columns), half local (rate 0.15)
    plans = [model.drop_path_plan() for _ in range(4000)]
    glob = [c for c, _ in plans if c is not None]
    assert abs(len(glob) / 4000 - 0.5) < 0.03
    assert np.allclose(np.bincount(glob) / len(glob), 1 / 3, atol=0.04)
    assert {q for c, q in plans if c is None} == {0.15}
    # global batches run one column: 1, 2 or 4 convs per block; local ones run all 7
    calls = _count_calls(convs)
    x = mt.randn(2, 3, 8, 8)
    counts = []
    with mt.no_grad():
        for _ in range(40):
            del calls[:]
            model(x)
            counts.append(len(calls))
    assert set(counts) == {2, 4, 8, 14}
    expected = 0.5 * 2 * 7 + 0.5 * 2 * (1 + 2 + 4) / 3     # 9.33 convs per forward
    assert abs(np.mean(counts) - expected) < 2.0
    model.eval()
    with mt.no_grad():
        del calls[:]
        y1 = model(x).data
        assert len(calls) == 14
        np.testing.assert_array_equal(y1, model(x).data)
        del calls[:]
        model(x, column=2)                           # the deepest column alone
        assert len(calls) == 2 * 4


# ------------------------------------------------------- one SGD step per family
SMALL = {
    "resnet20": lambda: resnet_cifar.resnet20(),
    "plain20": lambda: resnet_cifar.plain20(),
    "resnet_sd": lambda: resnet_cifar.resnet_cifar(14, stochastic_depth=0.5),
    "preact_resnet": lambda: resnet_cifar.preact_resnet_cifar(11, bottleneck=True),
    "wrn": lambda: resnet_cifar.wrn(10, 2, dropout=0.3),
    "resnext29": lambda: resnet.ResNet(resnet.Bottleneck, [1, 1, 1], num_classes=10,
                                       planes=(8, 16, 32), stem="cifar", groups=4,
                                       width_per_group=16),
    "densenet_bc": lambda: densenet.densenet_bc(16, 6),
    "fractalnet": lambda: fractalnet.fractalnet(columns=3, channels=(8, 16, 16, 32, 32)),
}


@pytest.mark.parametrize("family", list(SMALL))
def test_one_sgd_step_lowers_the_loss(family):
    mt.manual_seed(0)
    model = SMALL[family]()
    x, y = mt.randn(8, 3, 32, 32), mt.randint(0, 10, (8,))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def loss():
        mt.manual_seed(123)      # the same dropped blocks / paths / dropout masks each time
        return F.cross_entropy(model(x), y)

    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    with mt.no_grad():
        after = loss()
    assert after.item() < before.item()


def test_densenet_checkpoint_matches_the_plain_graph_and_keeps_less():
    """memory_efficient checkpoints each bottleneck (utils.checkpoint: recomputed in
    backward): same gradients and the same running statistics as the plain graph, far
    fewer saved bytes."""
    mt.set_default_dtype(np.float64)
    try:
        models = []
        for eff in (True, False):
            mt.manual_seed(0)
            models.append(densenet.DenseNet(growth_rate=4, block_config=(12,),
                                            num_init_features=8, bn_size=2, num_classes=3,
                                            cifar=True, memory_efficient=eff))
        x = mt.randn(2, 3, 8, 8)
        saved, grads = [], []
        for m in models:
            xi = mt.tensor(x.data, requires_grad=True)
            out = m(xi)
            saved.append(_saved_bytes(out))
            out.sum().backward()
            grads.append([xi.grad.data] + [p.grad.data for p in m.parameters()])
        for a, b in zip(*grads):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        for (k, a), (_, b) in zip(models[0].state_dict().items(),
                                  models[1].state_dict().items()):
            np.testing.assert_allclose(a.data, b.data, rtol=1e-12, err_msg=k)
        assert saved[0] < 0.5 * saved[1]      # 0.36 with this block of 12 layers
    finally:
        mt.set_default_dtype(np.float32)


def _saved_bytes(out):
    """Bytes of the distinct arrays every op in out's graph keeps for backward."""
    seen, total, stack, fns = set(), 0, [out.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in fns:
            continue
        fns.add(id(fn))
        for a in fn.saved:
            if hasattr(a, "nbytes") and id(a) not in seen:
                seen.add(id(a))
                total += a.nbytes
        stack.extend(parent for parent, _ in fn.next_functions)
    return total


# ------------------------------------------------ torchvision-structured weights
class TorchBasicBlock(torch.nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class TorchBottleneck(torch.nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        width = int(planes * base_width / 64) * groups
        self.conv1 = torch.nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(width)
        self.conv2 = torch.nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(width)
        self.conv3 = torch.nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = torch.nn.BatchNorm2d(planes * 4)
        self.relu = torch.nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


class TorchResNet(torch.nn.Module):
    """torchvision's ResNet layout and module names, narrower, written with torch.nn."""

    def __init__(self, block, layers, planes, num_classes=10, **block_kw):
        super().__init__()
        self.inplanes = planes[0]
        self.conv1 = torch.nn.Conv2d(3, planes[0], 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes[0])
        self.relu = torch.nn.ReLU()
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1)
        for i, (n, p) in enumerate(zip(layers, planes)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or self.inplanes != p * block.expansion:
                down = torch.nn.Sequential(
                    torch.nn.Conv2d(self.inplanes, p * block.expansion, 1, stride, bias=False),
                    torch.nn.BatchNorm2d(p * block.expansion))
            blocks = [block(self.inplanes, p, stride, down, **block_kw)]
            self.inplanes = p * block.expansion
            blocks += [block(self.inplanes, p, **block_kw) for _ in range(1, n)]
            setattr(self, f"layer{i + 1}", torch.nn.Sequential(*blocks))
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(self.inplanes, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TorchDenseLayer(torch.nn.Module):
    def __init__(self, cin, k, bn_size):
        super().__init__()
        self.norm1 = torch.nn.BatchNorm2d(cin)
        self.relu1 = torch.nn.ReLU()
        self.conv1 = torch.nn.Conv2d(cin, bn_size * k, 1, bias=False)
        self.norm2 = torch.nn.BatchNorm2d(bn_size * k)
        self.relu2 = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(bn_size * k, k, 3, padding=1, bias=False)

    def forward(self, feats):
        b = self.conv1(self.relu1(self.norm1(torch.cat(feats, 1))))
        return self.conv2(self.relu2(self.norm2(b)))


class TorchDenseBlock(torch.nn.ModuleDict):
    def __init__(self, n, cin, k, bn_size):
        super().__init__()
        for i in range(n):
            self.add_module(f"denselayer{i + 1}", TorchDenseLayer(cin + i * k, k, bn_size))

    def forward(self, x):
        feats = [x]
        for layer in self.values():
            feats.append(layer(feats))
        return torch.cat(feats, 1)


class TorchDenseNet(torch.nn.Module):
    """torchvision's DenseNet layout and names (features.conv0, denseblock1..4,
    transition1..3, norm5, classifier), with tiny blocks."""

    def __init__(self, k=4, blocks=(2, 2, 2, 2), init=8, bn_size=2, num_classes=10):
        super().__init__()
        T = torch.nn
        self.features = T.Sequential()
        self.features.add_module("conv0", T.Conv2d(3, init, 7, 2, 3, bias=False))
        self.features.add_module("norm0", T.BatchNorm2d(init))
        self.features.add_module("relu0", T.ReLU())
        self.features.add_module("pool0", T.MaxPool2d(3, 2, 1))
        c = init
        for i, n in enumerate(blocks):
            self.features.add_module(f"denseblock{i + 1}", TorchDenseBlock(n, c, k, bn_size))
            c += n * k
            if i != len(blocks) - 1:
                tr = T.Sequential()
                tr.add_module("norm", T.BatchNorm2d(c))
                tr.add_module("relu", T.ReLU())
                tr.add_module("conv", T.Conv2d(c, c // 2, 1, bias=False))
                tr.add_module("pool", T.AvgPool2d(2, 2))
                self.features.add_module(f"transition{i + 1}", tr)
                c //= 2
        self.features.add_module("norm5", T.BatchNorm2d(c))
        self.classifier = T.Linear(c, num_classes)

    def forward(self, x):
        x = torch.relu(self.features(x))
        return self.classifier(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _randomise_bn(torch_model):
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in torch_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _load_torch(ours, torch_model, tmp_path):
    """Through a .pth file written by torch.save and read back without torch."""
    path = tmp_path / "weights.pth"
    torch.save(torch_model.state_dict(), path)
    load_torch_weights(ours, str(path), strict=True)


TORCH_PAIRS = {
    "basic": (lambda: TorchResNet(TorchBasicBlock, [1, 2, 1, 1], (8, 16, 16, 32)),
              lambda: resnet.ResNet(resnet.BasicBlock, [1, 2, 1, 1], num_classes=10,
                                    planes=(8, 16, 16, 32))),
    "resnext": (lambda: TorchResNet(TorchBottleneck, [1, 1, 2, 1], (16, 16, 32, 32),
                                    groups=4, base_width=16),
                lambda: resnet.ResNet(resnet.Bottleneck, [1, 1, 2, 1], num_classes=10,
                                      planes=(16, 16, 32, 32), groups=4, width_per_group=16)),
    "densenet": (lambda: TorchDenseNet(),
                 lambda: densenet.DenseNet(4, (2, 2, 2, 2), 8, bn_size=2, num_classes=10)),
}


@pytest.mark.parametrize("pair", list(TORCH_PAIRS))
def test_torchvision_structured_weights_give_the_same_logits(pair, tmp_path):
    torch.manual_seed(0)
    make_torch, make_ours = TORCH_PAIRS[pair]
    tm = make_torch()
    _randomise_bn(tm)
    tm.eval()
    ours = make_ours()
    assert list(ours.state_dict()) == list(tm.state_dict())     # same names, same order
    _load_torch(ours, tm, tmp_path)
    ours.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = tm(torch.from_numpy(x)).numpy()
    with mt.no_grad():
        got = to_numpy(ours(mt.tensor(x)))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# -------------------------------------------------------------------- devices
def test_cifar_resnet_on_device(device):
    model = resnet_cifar.resnet20(stochastic_depth=0.8).to(device)
    x = mt.randn(2, 3, 16, 16, device=device)
    out = model(x)
    F.cross_entropy(out, mt.randint(0, 10, (2,), device=device)).backward()
    assert out.device == device and model.conv1.weight.grad.device == device
    y = F.drop_path(mt.ones(6, 3, device=device), 0.5, True, "row")
    assert y.device == device
