"""Model zoo I (LeNet-5, AlexNet, ZFNet, VGG A-E, NiN, GoogLeNet): parameter counts equal
the published figures, every builder runs forward at a small input, and one SGD step
lowers the loss on a fixed batch (paper variants included); the `models` command."""
import subprocess
import sys

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import functional as F
from minitorch_cnn import models
from minitorch_cnn.models.googlenet import GoogLeNetOutputs, loss_with_aux
from minitorch_cnn.nn.init import skip_init


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# (builder, kwargs, parameters): torchvision's published counts for alexnet, vgg*, googlenet;
# the issue's 61,706 for LeNet-5; the rest follow from the papers' layer tables.
PUBLISHED = [
    ("lenet5", {}, 61_706),
    ("alexnet", {}, 61_100_840),
    ("alexnet_paper", {}, 60_965_224),             # the paper's "60 million parameters"
    ("zfnet", {}, 62_357_608),
    ("vgg11", {}, 132_863_336),
    ("vgg11_bn", {}, 132_868_840),
    ("vgg11_lrn", {}, 132_863_336),               # LRN has no parameters
    ("vgg11_lrn_bn", {}, 132_868_840),
    ("vgg13", {}, 133_047_848),
    ("vgg13_bn", {}, 133_053_736),
    ("vgg16_c", {}, 133_638_952),
    ("vgg16_c_bn", {}, 133_647_400),
    ("vgg16", {}, 138_357_544),
    ("vgg16_bn", {}, 138_365_992),
    ("vgg19", {}, 143_667_240),
    ("vgg19_bn", {}, 143_678_248),
    ("nin", {}, 7_595_176),
    ("nin", {"cifar": True, "num_classes": 10}, 966_986),
    ("googlenet", {}, 6_624_904),
    ("googlenet", {"aux_logits": True}, 13_004_888),
    ("googlenet_paper", {}, 13_378_280),
    ("googlenet_paper", {"aux_logits": False}, 6_998_552),
]


@pytest.mark.parametrize("name,kwargs,expected", PUBLISHED,
                         ids=[f"{n}{'-' + '-'.join(map(str, k.values())) if k else ''}"
                              for n, k, _ in PUBLISHED])
def test_parameter_count_equals_the_published_figure(name, kwargs, expected):
    # skip_init: shapes without random numbers (the layers' structure is the same)
    assert n_params(skip_init(models.create, name, **kwargs)) == expected


def test_vgg_table_2_of_the_paper():
    """Table 2: "Number of parameters (in millions)": A, A-LRN, B, C, D, E."""
    table2 = {"vgg11": 133, "vgg11_lrn": 133, "vgg13": 133, "vgg16_c": 134, "vgg16": 138,
              "vgg19": 144}
    got = {name: round(n_params(skip_init(models.create, name)) / 1e6) for name in table2}
    assert got == table2


def test_every_builder_of_this_zoo_is_registered():
    names = set(models.list_models())
    assert {"lenet5", "alexnet", "alexnet_paper", "zfnet", "vgg11", "vgg11_bn", "vgg11_lrn",
            "vgg11_lrn_bn", "vgg13", "vgg13_bn", "vgg16_c", "vgg16_c_bn", "vgg16", "vgg16_bn",
            "vgg19", "vgg19_bn", "nin", "googlenet", "googlenet_paper"} <= names


# ------------------------------------------------------- forward and one SGD step
VGGS_TRAINED = ["vgg11", "vgg11_bn", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19",
                "vgg19_bn"]
VGGS_FORWARD = ["vgg11_lrn_bn", "vgg13_bn", "vgg16_c_bn", "vgg16_bn"]

# (builder, kwargs, input shape, learning rate). ImageNet layouts at the smallest input
# their pools allow; 224 only where the paper's fixed 5x5/3 auxiliary pool needs it.
# VGG's ImageNet classifier (102M weights in FC-6) is the same code for every column, so
# it is trained once, on A-LRN, with the layers' default init (init_weights=False: the
# model's own init draws 124M normal numbers, ~6 s here, and runs in every CIFAR case).
# Every column's conv stack is trained in its CIFAR form, BN at both ends of the depth
# range; the other BN variants (the same make_layers code) run forward below.
TRAIN = [
    ("lenet5", {}, (4, 1, 32, 32), 0.05),
    ("lenet5", {"cifar": True}, (4, 3, 32, 32), 0.05),
    ("alexnet", {}, (2, 3, 63, 63), 0.01),
    ("alexnet", {"cifar": True}, (2, 3, 32, 32), 0.01),
    ("alexnet_paper", {}, (2, 3, 63, 63), 0.01),
    ("alexnet_paper", {"cifar": True}, (2, 3, 32, 32), 0.01),
    ("zfnet", {}, (2, 3, 47, 47), 0.01),
    ("zfnet", {"cifar": True}, (2, 3, 32, 32), 0.01),
    ("vgg11_lrn", {"init_weights": False}, (2, 3, 32, 32), 0.01),
    *[(name, {"cifar": True}, (2, 3, 32, 32), 0.01) for name in VGGS_TRAINED],
    ("nin", {}, (2, 3, 39, 39), 0.01),
    ("nin", {"cifar": True}, (2, 3, 32, 32), 0.01),
    ("googlenet", {}, (2, 3, 32, 32), 0.01),
    ("googlenet", {"aux_logits": True, "transform_input": True}, (2, 3, 32, 32), 0.01),
    ("googlenet", {"cifar": True}, (2, 3, 32, 32), 0.01),
    ("googlenet_paper", {}, (1, 3, 224, 224), 0.01),       # no BN: one image will do
    ("googlenet_paper", {"cifar": True}, (2, 3, 32, 32), 0.01),
]


def _loss(model, x, y):
    mt.manual_seed(1)                 # the same dropout masks for both evaluations
    return loss_with_aux(model(x), y)  # plain cross-entropy unless aux logits come back


@pytest.mark.parametrize("name,kwargs,shape,lr", TRAIN,
                         ids=[f"{n}{'-cifar' if k.get('cifar') else ''}"
                              f"{'-aux' if k.get('aux_logits') else ''}" for n, k, *_ in TRAIN])
def test_forward_and_one_sgd_step_lowers_the_loss(name, kwargs, shape, lr):
    num_classes = 10
    model = models.create(name, num_classes=num_classes, **kwargs)
    x = mt.randn(*shape)
    y = mt.tensor(np.arange(shape[0]) % num_classes)
    model.train()
    loss0 = _loss(model, x, y)
    assert np.isfinite(loss0.item())
    loss0.backward()
    for p in model.parameters():
        assert p.grad is not None and p.grad.shape == p.shape
        p.data -= lr * p.grad.data
    loss1 = _loss(model, x, y)
    assert loss1.item() < loss0.item()
    model.eval()
    with mt.no_grad():
        out = model(x)
    assert out.shape == (shape[0], num_classes)     # eval: plain logits, no aux heads
    assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("name", VGGS_FORWARD)
def test_forward_of_the_other_vgg_bn_variants(name):
    model = models.create(name, num_classes=10, cifar=True).eval()
    with mt.no_grad():
        out = model(mt.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and np.isfinite(out.numpy()).all()


def test_googlenet_returns_the_aux_logits_in_training_and_weights_them_by_0_3():
    model = models.create("googlenet_paper", num_classes=5, cifar=True)
    x, y = mt.randn(2, 3, 32, 32), mt.tensor([1, 3])
    mt.manual_seed(1)
    out = model(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert [tuple(o.shape) for o in out] == [(2, 5)] * 3
    expected = (F.cross_entropy(out.logits, y).item() + 0.3 * (
        F.cross_entropy(out.aux_logits1, y).item() + F.cross_entropy(out.aux_logits2, y).item()))
    assert loss_with_aux(out, y).item() == pytest.approx(expected, rel=1e-6)


def test_paper_variants_have_the_papers_layers():
    alex = skip_init(models.create, "alexnet_paper")
    convs = [m for m in alex.features if type(m).__name__ == "Conv2d"]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]                 # the two GPUs
    assert sum(type(m).__name__ == "LocalResponseNorm" for m in alex.features) == 2
    goog = skip_init(models.create, "googlenet_paper")
    assert tuple(goog.inception3a.branch3[1].conv.weight.shape) == (32, 16, 5, 5)   # true 5x5
    assert tuple(skip_init(models.create, "googlenet").inception3a.branch3[1].conv.weight
                 .shape) == (32, 16, 3, 3)                             # torchvision's 3x3
    vggc = skip_init(models.create, "vgg16_c")
    kernels = [m.weight.shape[-1] for m in vggc.features if type(m).__name__ == "Conv2d"]
    assert kernels == [3] * 6 + [1] + [3, 3, 1] + [3, 3, 1]


# -------------------------------------------------------------------- the command
def test_models_command_lists_every_builder_with_its_parameters():
    run = subprocess.run([sys.executable, "-m", "minitorch_cnn", "models"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr + run.stdout
    rows = {line.split()[0]: line.split()[-1] for line in run.stdout.splitlines()[1:-1]}
    assert set(rows) == set(models.list_models())
    assert rows["lenet5"] == "61,706"
    assert rows["vgg16"] == "138,357,544"
    assert rows["googlenet"] == "6,624,904"
    filtered = subprocess.run([sys.executable, "-m", "minitorch_cnn", "models", "vgg19"],
                              capture_output=True, text=True, timeout=120)
    assert [line.split()[0] for line in filtered.stdout.splitlines()[1:-1]] == ["vgg19",
                                                                                 "vgg19_bn"]
