"""minitorch_cnn.analysis: summary (params, MACs, memory), receptive fields, profile, plots.

Oracles: torch's FlopCounterMode for MACs of small networks, torchvision's published
figures for the zoo models, the (r, j, start) formulas checked against the support of
input gradients (with positive weights the set of input pixels a unit depends on is
exactly its receptive field), and hand-computed values.
"""
import csv
import io

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import minitorch_cnn as mt
from minitorch_cnn import analysis, nn
from minitorch_cnn.analysis import plots
from minitorch_cnn.analysis.published import IMAGENET
from minitorch_cnn.analysis.summary import build_for_counting
import minitorch_cnn.nn.functional as F


# --------------------------------------------------------------------- helpers
def small_cnn():
    """conv (groups, stride, dilation) -> BN -> ReLU -> pool -> conv -> GAP -> linear."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=2, dilation=2, groups=2), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 1, bias=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def torch_copy(model):
    """The same layers in torch (shapes only: MACs and parameter counts do not depend on
    the values)."""
    layers = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            layers.append(torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size,
                                          m.stride, m.padding, m.dilation, m.groups,
                                          bias=m.bias is not None))
        elif isinstance(m, nn.BatchNorm2d):
            layers.append(torch.nn.BatchNorm2d(m.num_features))
        elif isinstance(m, nn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(m, nn.MaxPool2d):
            layers.append(torch.nn.MaxPool2d(m.kernel_size, m.stride))
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            layers.append(torch.nn.AdaptiveAvgPool2d(m.output_size))
        elif isinstance(m, nn.Flatten):
            layers.append(torch.nn.Flatten())
        elif isinstance(m, nn.Linear):
            layers.append(torch.nn.Linear(m.in_features, m.out_features))
        else:
            raise TypeError(type(m))
    return torch.nn.Sequential(*layers)


def torch_macs(tmodel, shape):
    with FlopCounterMode(display=False) as fc:
        tmodel(torch.randn(*shape))
    return fc.get_total_flops() // 2          # torch counts a multiply-add as 2 FLOPs


class Inception(nn.Module):
    """Four branches (1x1, 3x3, 5x5, pool -> 1x1) concatenated along channels."""

    def __init__(self, c):
        super().__init__()
        self.b1 = nn.Conv2d(c, 4, 1)
        self.b2 = nn.Sequential(nn.Conv2d(c, 4, 1), nn.Conv2d(4, 4, 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(c, 4, 1), nn.Conv2d(4, 4, 5, padding=2))
        self.b4 = nn.Sequential(nn.AvgPool2d(3, 1, 1), nn.Conv2d(c, 4, 1))

    def forward(self, x):
        return F.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class Residual(nn.Module):
    """y = conv3x3(conv3x3(x)) + shortcut(x); the shortcut is a strided 1x1 when s > 1."""

    def __init__(self, c, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, stride, 1)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1)
        self.shortcut = nn.Conv2d(c, c, 1, stride) if stride > 1 else nn.Identity()

    def forward(self, x):
        return self.conv2(self.conv1(x)) + self.shortcut(x)


class SqueezeExcite(nn.Module):
    """x * sigmoid(conv1x1(global average of x)): every unit gets a map-wide gate."""

    def __init__(self, c):
        super().__init__()
        self.pool, self.fc, self.gate = nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c, 1), nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.fc(self.pool(x)))


def gradient_box(model, input_size):
    """The bounding box ((top, bottom), (left, right)) of the input pixels on which the
    centre unit of the output depends, measured with positive weights and a positive
    input so that no contribution can cancel."""
    model.double()
    for p in model.parameters():
        p.data = np.abs(p.data) + 0.1
    x = mt.tensor(np.random.default_rng(1).random((1,) + input_size) + 0.5,
                  requires_grad=True)
    y = model(x)
    g = np.zeros(y.shape)
    g[:, :, y.shape[2] // 2, y.shape[3] // 2] = 1
    y.backward(g)
    support = np.abs(x.grad.data).sum(axis=(0, 1)) > 0
    rows, cols = np.nonzero(support)
    return (rows.min(), rows.max()), (cols.min(), cols.max()), y.shape


def clip_box(region, size):
    (t, b), (l, r) = region
    return (max(t, 0), min(b, size[0] - 1)), (max(l, 0), min(r, size[1] - 1))


# --------------------------------------------------------------------- summary
def test_summary_macs_and_params_equal_torch_flop_counter():
    model = small_cnn()
    s = analysis.summary(model, (3, 20, 20), batch_size=2)
    tmodel = torch_copy(model)
    assert s.total_macs == torch_macs(tmodel, (2, 3, 20, 20))
    assert s.total_params == sum(p.numel() for p in tmodel.parameters())
    assert s.trainable_params == s.total_params
    # the rows: one per leaf layer, with torch's output shapes
    shapes, x = [], torch.randn(2, 3, 20, 20)
    for m in tmodel:
        x = m(x)
        shapes.append(tuple(x.shape))
    assert [r.output_shape for r in s.rows] == shapes
    assert [r.type for r in s.rows] == [type(m).__name__ for m in model]
    assert [r.params for r in s.rows] == [sum(p.numel() for p in m.parameters())
                                          for m in tmodel]
    assert all(r.activation_bytes == 4 * int(np.prod(r.output_shape)) for r in s.rows)
    assert s.activation_bytes == sum(r.activation_bytes for r in s.rows)


def test_summary_mac_formula_by_hand():
    # 3x3 conv, 4 -> 6 channels, groups 2, on 10x10 (pad 1): 6*10*10 outputs of 2*9 MACs
    model = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.Flatten(),
                          nn.Linear(600, 7))
    s = analysis.summary(model, (4, 10, 10))
    assert [r.macs for r in s.rows] == [6 * 10 * 10 * 2 * 9, 0, 600 * 7]
    assert analysis.summary(model, (4, 10, 10), batch_size=3).total_macs == 3 * s.total_macs


def test_summary_training_memory_and_state():
    model = small_cnn()
    model[1].train()
    model[4].eval()                                    # a mixed-mode model
    modes = [m.training for m in model.modules()]
    running = model[1].running_mean.data.copy()
    frozen = model[-1].weight
    frozen.requires_grad_(False)
    s = analysis.summary(model, (3, 16, 16), optimizer="adam")
    # the model is left as it was
    assert [m.training for m in model.modules()] == modes
    np.testing.assert_array_equal(model[1].running_mean.data, running)
    # totals
    params = list(model.parameters())
    assert s.param_bytes == sum(p.data.nbytes for p in params)
    assert s.trainable_params == s.total_params - frozen.data.size
    assert s.trainable_bytes == s.param_bytes - frozen.data.nbytes
    assert s.buffer_bytes == sum(b.data.nbytes for b in model.buffers())
    assert s.optimizer_bytes == 2 * s.trainable_bytes
    assert s.training_bytes == (s.param_bytes + s.trainable_bytes + s.optimizer_bytes
                                + s.buffer_bytes + s.kept_bytes)
    # every conv keeps at least its input for dL/dW: the kept total is at least those
    conv_inputs = 4 * (3 * 16 * 16 + 8 * 16 * 16 + 16 * 4 * 4)
    assert s.kept_bytes >= conv_inputs
    assert s.kept_bytes == sum(r.kept_bytes for r in s.rows) + s.outside_kept_bytes
    sgd = analysis.summary(model, (3, 16, 16), optimizer="sgd")
    assert s.training_bytes - sgd.training_bytes == 2 * s.trainable_bytes


class Keep(mt.Function):
    """y = x * w, saving x, two views of x and one 10-float array of its own."""

    def forward(self, x, w):
        self.save_for_backward(x, x[:, :1], x.reshape(-1))
        self.extra = np.ones(10, np.float32)
        return x * w

    def backward(self, g):
        x = self.saved[0]
        return g * 0, (g * x).sum(keepdims=True).reshape(1)


class KeepLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(mt.ones(1))

    def forward(self, x):
        return Keep.apply(x, self.weight)


class TwoKeeps(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = KeepLayer(), KeepLayer()

    def forward(self, x):
        y = self.a(x)
        return self.b(y) * y          # an op outside the layers: a product keeps both maps


def test_summary_kept_bytes_exactly():
    """Each storage is counted once (views share it), parameters are not counted, extra
    attributes of an op are, and ops outside layers get their own line."""
    s = analysis.summary(TwoKeeps(), (3, 4, 4))
    one_map = 4 * 3 * 4 * 4
    assert [r.kept_bytes for r in s.rows] == [one_map + 40, one_map + 40]
    assert s.outside_kept_bytes == one_map          # b's output (y is counted by b)
    assert s.kept_bytes == 3 * one_map + 80
    assert "(ops outside layers)" in str(s)


def test_summary_an_add_keeps_nothing():
    """The add's backward needs neither input, and the graph's edges hold no data
    (autograd.GraphEdge): b's output is not kept once the add has consumed it."""
    class AddKeeps(TwoKeeps):
        def forward(self, x):
            y = self.a(x)
            return self.b(y) + y
    s = analysis.summary(AddKeeps(), (3, 4, 4))
    assert s.outside_kept_bytes == 0
    assert s.kept_bytes == 2 * (4 * 3 * 4 * 4) + 80


def test_summary_exports():
    model = small_cnn()
    s = analysis.summary(model, (3, 16, 16))
    text = str(s)
    for r in s.rows:
        assert r.name in text
    assert f"{s.total_params:,}" in text
    md = s.to_markdown()
    assert md.startswith("| Layer | Type |")
    md_rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(md_rows) == 1 + len(s.rows) + (1 if s.outside_kept_bytes else 0)
    rows = list(csv.DictReader(io.StringIO(s.to_csv())))
    assert [r["name"] for r in rows[:len(s.rows)]] == [r.name for r in s.rows]
    assert rows[-1]["name"] == "total"
    assert int(rows[-1]["macs"]) == s.total_macs
    assert int(rows[-1]["params"]) == s.total_params
    assert sum(int(r["macs"]) for r in rows[:-1]) == s.total_macs


def test_summary_csv_to_file(tmp_path):
    s = analysis.summary(small_cnn(), (3, 16, 16))
    path = tmp_path / "summary.csv"
    text = s.to_csv(path)
    assert path.read_text() == text


def test_summary_errors():
    model = small_cnn()
    with pytest.raises(ValueError, match="optimizer"):
        analysis.summary(model, (3, 16, 16), optimizer="lbfgs")
    with pytest.raises(ValueError, match="input_size"):
        analysis.summary(model, (3, 0, 16))
    with pytest.raises(ValueError, match="cuda"):
        analysis.summary(model, (3, 16, 16), device="cuda")


def test_compare_table():
    c = analysis.compare({"small": small_cnn(), "mlp": nn.Sequential(
        nn.Flatten(), nn.Linear(3 * 8 * 8, 5))}, (3, 8, 8))
    text = str(c)
    assert "small" in text and "mlp" in text
    assert c.summaries[1].total_macs == 3 * 8 * 8 * 5
    assert c.to_markdown().count("\n") == 4
    assert "Top-1" in text


# ------------------------------------------------------- published zoo figures
ZOO = {  # name: (torchvision's num_params, torchvision's GFLOPS = GMACs)
    "vgg16": (138_357_544, 15.47),
    "resnet50": (25_557_032, 4.09),
    "mobilenet_v2": (3_504_872, 0.30),
    "efficientnet_b0": (5_288_548, 0.39),
    "googlenet": (6_624_904, 1.50),
}


@pytest.fixture(scope="module")
def zoo_summaries():
    """One summary per zoo model at 224x224, computed on first use (VGG-16's 15.5 GMACs
    forward is the costly part of this file: it runs once)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = analysis.summary(build_for_counting(name), (3, 224, 224))
        return cache[name]
    return get


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_params_and_macs_equal_torchvision(name, zoo_summaries):
    s = zoo_summaries(name)
    params, gmacs = ZOO[name]
    assert s.total_params == params
    assert round(s.total_macs / 1e9, 2) == gmacs        # the figure as published
    assert IMAGENET[name].params == params and IMAGENET[name].gmacs == gmacs


def test_vgg16_where_memory_and_parameters_live(zoo_summaries):
    """VGG-16's activations sit in the early convs, its parameters in the first fc."""
    s = zoo_summaries("vgg16")
    convs = [r for r in s.rows if r.type == "Conv2d"]
    fcs = [r for r in s.rows if r.type == "Linear"]
    assert max(s.rows, key=lambda r: r.activation_bytes).output_shape == (1, 64, 224, 224)
    assert fcs[0].params == 512 * 7 * 7 * 4096 + 4096 == 102_764_544
    assert max(s.rows, key=lambda r: r.params) is fcs[0]
    assert sum(r.macs for r in convs) == 15_346_630_656      # 13 convs, hand-summed
    # the values of the conv, pool and fc outputs: 15.09M, or 15.24M with the 150,528
    # of the input image -- the "about 15.2M" of the issue. ReLU and Dropout rows add
    # their own outputs on top (this engine does not compute in place).
    maps = sum(r.activation_bytes for r in s.rows if r.type in ("Conv2d", "MaxPool2d",
                                                                 "Linear")) // 4
    assert maps == 13_547_520 + 1_530_368 + 9_192


# ------------------------------------------------------------ receptive fields
@pytest.mark.parametrize("n, padding", [(2, 0), (3, 0), (2, 1), (3, 1)])
def test_stacked_3x3_receptive_field(n, padding):
    layers = []
    for _ in range(n):
        layers += [nn.Conv2d(2, 2, 3, padding=padding), nn.ReLU()]
    rf = analysis.receptive_field(nn.Sequential(*layers), (2, 16, 16))
    assert rf.last.r == (2 * n + 1, 2 * n + 1)           # 5 for two, 7 for three
    assert rf.last.j == (1, 1)
    single = analysis.receptive_field(nn.Sequential(nn.Conv2d(2, 2, 2 * n + 1)), (2, 16, 16))
    assert single.last.r == rf.last.r                    # one 5x5 / one 7x7 sees the same


def test_receptive_field_formula_by_hand():
    # conv 7x7/2 pad 3 -> maxpool 3x3/2 pad 1 -> conv 3x3 dilation 2 -> avgpool 2/2
    model = nn.Sequential(nn.Conv2d(1, 2, 7, 2, 3), nn.MaxPool2d(3, 2, 1),
                          nn.Conv2d(2, 2, 3, padding=2, dilation=2), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(2 * 8 * 8, 3))
    rf = analysis.receptive_field(model, (1, 64, 64))
    r = [row.r[0] for row in rf.rows]
    j = [row.j[0] for row in rf.rows]
    # r: 7; 7 + 2*2 = 11; 11 + (5-1)*4 = 27; 27 + 1*4 = 31; flatten sees the 8x8 map:
    # 31 + 7*8 = 87
    assert r == [7, 11, 27, 31, 87, 87]
    assert j == [2, 4, 4, 8, 64, 64]
    assert [row.start[0] for row in rf.rows[:4]] == [0.0, 0.0, 0.0, 2.0]


@pytest.mark.parametrize("build, size", [
    (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, 2, 1), nn.AvgPool2d(2),
                           nn.Conv2d(3, 3, 5, 1, 2)), (2, 33, 33)),
    (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, dilation=3), nn.Conv2d(3, 3, 3, 2),
                           nn.Conv2d(3, 3, 3, padding=4, dilation=4)), (2, 41, 41)),
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), Inception(4)), (2, 21, 21)),
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), Residual(4, 2), Residual(4)),
     (2, 25, 25)),
    (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.AdaptiveAvgPool2d(3)), (2, 12, 12)),
    (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, 2, 1), SqueezeExcite(3), nn.Conv2d(3, 3, 3)),
     (2, 24, 24)),
], ids=["stride-pool", "dilation", "inception", "residual", "adaptive", "squeeze-excite"])
def test_receptive_field_equals_gradient_support(build, size):
    mt.manual_seed(0)
    model = build()
    rf = analysis.receptive_field(model, size)
    box_rows, box_cols, yshape = gradient_box(model, size)
    region = rf.output.region(yshape[2] // 2, yshape[3] // 2)
    assert clip_box(region, size[1:]) == (box_rows, box_cols)


def test_receptive_field_through_branches_and_residuals():
    rf = analysis.receptive_field(nn.Sequential(Inception(3)), (3, 12, 12))
    assert rf.row("0.b3.1").r == (5, 5)               # the 5x5 branch
    assert rf.row("0.b2.1").r == (3, 3)
    # the concatenation's field is the largest branch's: a 1x1 conv after it shows it
    after = analysis.receptive_field(nn.Sequential(Inception(3), nn.Conv2d(16, 2, 1)),
                                     (3, 12, 12))
    assert after.last.r == (5, 5)
    res = analysis.receptive_field(nn.Sequential(Residual(3), nn.Conv2d(3, 2, 1)), (3, 12, 12))
    assert res.last.r == (5, 5)                      # max(identity path 1, conv path 5)


class Subsample(nn.Module):
    """x[:, :, ::2, ::2] outside any conv/pool layer: geometry the tools cannot see."""

    def forward(self, x):
        return x[:, :, ::2, ::2]


def test_squeeze_excitation_gives_global_context():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), SqueezeExcite(3), nn.Conv2d(3, 3, 3))
    rf = analysis.receptive_field(model, (2, 32, 32))
    assert rf.row("0").r == (3, 3) and not rf.row("0").global_context
    last = rf.row("2")
    assert last.global_context and last.r[0] >= 32      # the gate saw the whole image
    assert "*" in str(rf)


def test_receptive_field_unknown_resize_warns():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), Subsample(), nn.Conv2d(1, 1, 3))
    with pytest.warns(UserWarning, match="assuming"):
        rf = analysis.receptive_field(model, (1, 16, 16))
    # assumed a 2x2/2 pool: 3 -> 4 -> 4 + 2*2 = 8 (an upper bound: slicing gives 7)
    assert rf.last.r == (8, 8) and rf.last.j == (2, 2)


def test_vgg_receptive_field_on_a_small_input():
    """At 32x32 VGG's adaptive pool copies the 1x1 map to 7x7: the classifier sees no
    more than pool5 (r = 150 for VGG-11), not a wider window."""
    rf = analysis.receptive_field(build_for_counting("vgg11"), (3, 32, 32))
    assert rf.row("features.20").r == (150, 150)
    assert rf.output.r == (150, 150)


def test_vgg16_receptive_fields():
    rf = analysis.receptive_field(build_for_counting("vgg16", num_classes=10), (3, 32, 32))
    convs = [r for r in rf.rows if r.type == "Conv2d"]
    pools = [r for r in rf.rows if r.type == "MaxPool2d"]
    # the known VGG-16 sequence: 3 5 | 10 14 | 24 32 40 | 60 76 92 | 132 164 196
    assert [c.r[0] for c in convs] == [3, 5, 10, 14, 24, 32, 40, 60, 76, 92, 132, 164, 196]
    assert [p.r[0] for p in pools] == [6, 16, 44, 100, 212]
    assert [p.j[0] for p in pools] == [2, 4, 8, 16, 32]
    assert "196" in str(rf) and rf.to_markdown().startswith("| Layer |")


def test_effective_receptive_field_inside_theoretical(tmp_path):
    mt.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3, 2), nn.ReLU(),
                          nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    erf = analysis.effective_receptive_field(model, (2, 40, 40), samples=4)
    inside = erf.inside_mask()
    assert erf.theoretical.r == (13, 13)              # 3, 5, +2*2 = 9, +2*2 = 13
    assert inside.sum() == 13 * 13
    assert erf.heatmap.shape == (40, 40)
    assert np.all(erf.heatmap[~inside] == 0)         # nothing outside the theoretical field
    ci = (erf.region[0][0] + erf.region[0][1]) // 2
    ck = (erf.region[1][0] + erf.region[1][1]) // 2
    assert erf.heatmap[ci, ck] > 0
    # the effective field is concentrated: the central 5x5 holds more than its share
    centre = erf.heatmap[ci - 2:ci + 3, ck - 2:ck + 3].sum()
    assert centre / erf.heatmap.sum() > 25 / 169
    fig = erf.plot(tmp_path / "erf.png")
    assert (tmp_path / "erf.png").stat().st_size > 10_000 and fig.axes


def test_effective_receptive_field_of_a_named_block():
    mt.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), Residual(4, 2), Residual(4),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    erf = analysis.effective_receptive_field(model, (2, 24, 24), layer="1", samples=2)
    assert erf.layer == "1"
    assert np.all(erf.heatmap[~erf.inside_mask()] == 0)
    with pytest.raises(KeyError, match="no module named"):
        analysis.effective_receptive_field(model, (2, 24, 24), layer="nope")
    with pytest.raises(ValueError, match="N, C, H, W"):
        analysis.effective_receptive_field(model, (2, 24, 24), layer="5")


# --------------------------------------------------------------------- profile
def test_profile_rows_and_totals():
    mt.manual_seed(0)
    model = small_cnn()
    bn = model[1]
    running = bn.running_mean.data.copy()
    x = mt.randn(4, 3, 16, 16)
    p = analysis.profile(model, x, repeat=2, warmup=1)
    names = [r.name for r in p.rows]
    assert names == [str(i) for i in range(len(model))] + ["(outside layers)"]
    by = {r.name: r for r in p.rows}
    for conv in ("0", "3", "6"):
        assert by[conv].forward_ms > 0 and by[conv].backward_ms > 0
    layers = p.rows[:-1]
    assert sum(r.forward_ms for r in layers) <= p.forward_ms * 1.05 + 0.5
    assert sum(r.backward_ms for r in layers) <= p.backward_ms * 1.05 + 0.5
    # a ReLU's forward allocates at least its output
    assert by["2"].forward_peak >= 4 * 8 * 16 * 16 * 4
    assert p.forward_peak >= by["2"].forward_peak
    # the profile leaves no trace
    np.testing.assert_array_equal(bn.running_mean.data, running)
    assert all(q.grad is None for q in model.parameters())
    assert "(outside layers)" in str(p) and p.to_markdown().startswith("| Layer |")


def test_profile_without_memory_and_errors():
    model = small_cnn()
    p = analysis.profile(model, mt.randn(2, 3, 8, 8), repeat=1, warmup=0, memory=False)
    assert p.forward_peak is None and all(r.forward_peak is None for r in p.rows)
    with pytest.raises(TypeError, match="Tensor"):
        analysis.profile(model, np.zeros((2, 3, 8, 8)))


def test_profile_and_graph_use_only_public_engine_hooks():
    """analysis reaches the engine only through public names, and patches nothing: no
    ``from ..autograd import _private``, no assignment to a ``forward``/``backward``."""
    import ast
    import pathlib
    root = pathlib.Path(analysis.__file__).parent
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("autograd"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from autograd"
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign))
                       else [])
            for t in targets:
                name = (t.attr if isinstance(t, ast.Attribute) else
                        t.slice.value if isinstance(t, ast.Subscript)
                        and isinstance(t.slice, ast.Constant) else None)
                assert name not in ("forward", "backward"), \
                    f"{path.name}:{node.lineno} replaces {name}"


def test_profile_leaves_no_hooks_and_sees_checkpointed_layers():
    from minitorch_cnn.models import densenet
    mt.manual_seed(0)
    model = densenet.DenseNet(growth_rate=4, block_config=(2,), num_init_features=8,
                              bn_size=2, num_classes=3, cifar=True)
    user_calls = []
    model.classifier.register_forward_pre_hook(lambda m, args: user_calls.append(1))
    p = analysis.profile(model, mt.randn(2, 3, 8, 8), repeat=1, warmup=0, memory=False)
    by = {r.name: r for r in p.rows}
    # the layers inside the checkpointed bottleneck run (and are timed) in the forward
    assert by["features.denseblock1.denselayer1.conv1"].forward_ms > 0
    assert by["features.denseblock1.denselayer1.conv2"].backward_ms > 0
    assert user_calls == [1]                   # the user's own hook ran with the profiler's
    for m in model.modules():                  # the profiler's hooks are gone
        assert len(m.__dict__.get("_forward_pre_hooks", {})) == (m is model.classifier)
        assert not m.__dict__.get("_forward_hooks") and "forward" not in m.__dict__


# ----------------------------------------------------------------------- plots
def check_png(path, min_bytes=10_000):
    assert path.exists() and path.stat().st_size > min_bytes
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_curves_from_records_and_csv(tmp_path):
    records = [{"epoch": e, "train_loss": 2.3 / e, "val_loss": 2.5 / e,
                "train_acc": 1 - 0.9 / e, "val_acc": 1 - 1.0 / e} for e in range(1, 11)]
    fig = plots.training_curves(records, tmp_path / "curves.png")
    check_png(tmp_path / "curves.png")
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 2
    path = tmp_path / "metrics.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(records[0]))
        w.writeheader()
        w.writerows(records)
    fig = plots.training_curves(path, tmp_path / "curves_csv.png")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(),
                               [r["train_loss"] for r in records])
    with pytest.raises(ValueError, match="loss"):
        plots.training_curves([{"epoch": 1, "lr": 0.1}])


def test_training_curves_one_epoch_and_title(tmp_path):
    """After one epoch: one labelled point per curve on a single 'epoch 1' tick (not
    ticks at 0.945 ... 1.050), values against zero, and the title the trainer passes."""
    rec = [{"epoch": 1, "train_loss": 1.93, "val_loss": 1.71, "train_acc": 0.29,
            "val_acc": 0.37, "lr": 0.01}]
    fig = plots.training_curves(rec, tmp_path / "one.png", title="vgg11_bn on shapes, lr 0.01")
    check_png(tmp_path / "one.png")
    assert fig._suptitle.get_text() == "vgg11_bn on shapes, lr 0.01"
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [1.0]
        assert ax.get_ylim()[0] == 0
        assert {t.get_text() for t in ax.texts} & {"1.93", "0.29"}     # values written out
    assert fig.axes[1].get_ylim()[1] == pytest.approx(1.05)
    assert "fraction" in fig.axes[1].get_ylabel() and "loss" in fig.axes[0].get_ylabel()
    pct = [{"epoch": e, "train_err": 50 / e} for e in (1, 2, 3)]
    fig = plots.training_curves(pct)
    assert "%" in fig.axes[0].get_ylabel() and "3 epochs" in fig._suptitle.get_text()


def test_filters_and_feature_maps(tmp_path):
    mt.manual_seed(0)
    model = small_cnn()
    fig = plots.first_layer_filters(model, tmp_path / "filters.png")
    check_png(tmp_path / "filters.png", 5_000)
    assert "8 filters 3x3" in fig.axes[0].get_title()
    image = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    fig = plots.feature_maps(model, image, "2", tmp_path / "maps.png")
    check_png(tmp_path / "maps.png")
    assert "8 of 8 channels, 32x32" in fig.axes[1].get_title()
    with pytest.raises(KeyError, match="no module named"):
        plots.feature_maps(model, image, "conv9")


def test_gradient_flow(tmp_path):
    mt.manual_seed(0)
    model = small_cnn()
    records = []
    for _ in range(3):
        model.zero_grad()
        model(mt.randn(2, 3, 16, 16)).sum().backward()
        records.append(plots.gradient_norms(model))
    assert list(records[0]) == ["0.weight", "3.weight", "6.weight", "10.weight"]
    assert all(v > 0 for v in records[0].values())
    fig = plots.gradient_flow(records, tmp_path / "flow.png")
    check_png(tmp_path / "flow.png")
    assert len(fig.axes[0].lines) == 3
    fig = plots.gradient_flow({"a": records, "b": records[:1]}, tmp_path / "flow2.png")
    assert len(fig.axes[0].lines) == 2


def test_complexity_chart(tmp_path):
    rows = [{"name": n, "top1": IMAGENET[n].top1, "gmacs": IMAGENET[n].gmacs,
             "params": IMAGENET[n].params, "source": IMAGENET[n].source, "measured": False}
            for n in ("alexnet", "vgg16", "vgg19_bn", "resnet50", "mobilenet_v2",
                      "efficientnet_b0", "efficientnet_b7", "googlenet", "mobilenet_v1",
                      "resnet18", "resnet101", "densenet161", "resnet152", "wide_resnet50_2")]
    fig = plots.complexity_chart(tmp_path / "chart.png", rows=rows)
    check_png(tmp_path / "chart.png", 30_000)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert {t.get_text() for t in ax.texts} == {r["name"] for r in rows}
    # no two labels overlap (the chart places them: googlenet/resnet18 sat on each other)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_complexity_data_from_the_zoo():
    rows = plots.complexity_data(measure_missing=False)
    from minitorch_cnn.models import list_models
    zoo = set(list_models())
    assert {r["name"] for r in rows} == {n for n, p in IMAGENET.items()
                                         if n in zoo and p.gmacs is not None}
    assert all(not r["measured"] for r in rows)


# ------------------------------------------------------------------------- CLI
def run_cli(capsys, *argv):
    from minitorch_cnn.__main__ import main
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_cli_summary_receptive_field_compare(capsys, tmp_path):
    out = run_cli(capsys, "summary", "resnet18", "--input", "3x32x32", "--csv",
                  str(tmp_path / "r18.csv"))
    assert "11,689,512" in out and "layer4.1.conv2" in out
    assert (tmp_path / "r18.csv").read_text().splitlines()[-1].startswith("total,,,,11689512")
    out = run_cli(capsys, "receptive-field", "resnet18", "--input", "3x64x64", "--markdown")
    assert out.startswith("| Layer |") and "| conv1 | Conv2d |" in out
    out = run_cli(capsys, "compare", "resnet18", "resnet34", "--input", "3x32x32")
    assert "21,797,672" in out and "69.8%" in out and "73.3%" in out
    with pytest.raises(SystemExit):
        run_cli(capsys, "summary", "resnet18", "--input", "224")


def test_summary_shows_each_convs_algorithm():
    """The Algorithm column: which fast-path unit each conv ran (fast.choose_conv), and
    the story (im2col) under the reference kernels; "-" for other layers."""
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 16, 3, padding=1), nn.Conv2d(16, 8, 1),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8))
    s = analysis.summary(model, (3, 16, 16))
    assert [r.algorithm for r in s.rows] == ["blocked_im2col", "", "winograd F(4x4)",
                                             "pointwise", "depthwise (planes)"]
    assert "winograd F(4x4)" in str(s) and "| Algorithm |" in s.to_markdown()
    with mt.backend.use_kernels("reference"):
        s = analysis.summary(model, (3, 16, 16))
    assert [r.algorithm for r in s.rows] == ["im2col", "", "im2col", "im2col", "im2col"]
