"""VGG's section 3.1: deeper nets start from a trained net A (init_from_shallower)."""
import numpy as np
import pytest

from minitorch_cnn import models, nn
from minitorch_cnn.models.vgg import init_from_shallower


@pytest.mark.parametrize("deep_name", ["vgg13", "vgg16_c", "vgg16", "vgg19"])
def test_copies_conv1_1_conv2_1_conv3_1_conv3_2_and_the_classifier(deep_name):
    a = models.create("vgg11", num_classes=10, cifar=True)
    deep = models.create(deep_name, num_classes=10, cifar=True)
    before = {k: v.detach().numpy().copy() for k, v in deep.state_dict().items()}
    copied = init_from_shallower(deep, a)
    # A's convs sit at features 0, 3, 6, 8; in the deeper nets conv1_1 is features.0 and
    # conv2_1 comes after conv1_2, ReLU and pool
    a_convs = ["features.0", "features.3", "features.6", "features.8"]
    stage_starts = {"vgg13": ["features.0", "features.5", "features.10", "features.12"],
                    "vgg16_c": ["features.0", "features.5", "features.10", "features.12"],
                    "vgg16": ["features.0", "features.5", "features.10", "features.12"],
                    "vgg19": ["features.0", "features.5", "features.10", "features.12"]}
    deep_state, a_state = deep.state_dict(), a.state_dict()
    for src, dst in zip(a_convs, stage_starts[deep_name]):
        for p in ("weight", "bias"):
            np.testing.assert_array_equal(deep_state[f"{dst}.{p}"].detach().numpy(),
                                          a_state[f"{src}.{p}"].detach().numpy())
    np.testing.assert_array_equal(deep_state["classifier.weight"].detach().numpy(),
                                  a_state["classifier.weight"].detach().numpy())
    assert len(copied) == 4 * 2 + 2
    untouched = [k for k in before if k not in copied]
    assert untouched                                       # conv1_2, conv2_2, ... stay random
    for k in untouched:
        np.testing.assert_array_equal(deep_state[k].detach().numpy(), before[k])


@pytest.mark.slow          # two ImageNet VGGs: ~270M parameters to initialise (~30 s)
def test_imagenet_classifier_has_three_layers_and_bn_comes_along():
    a = models.create("vgg11_bn", num_classes=7)
    d = models.create("vgg16_bn", num_classes=7)
    copied = init_from_shallower(d, a)
    assert [k for k in copied if k.startswith("classifier")] == [
        f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    assert "features.1.running_var" in copied               # conv1_1's BatchNorm


def test_mismatched_classifiers_are_refused_before_anything_is_written():
    a = models.create("vgg11", num_classes=10, cifar=True)
    d = models.create("vgg16", num_classes=10, cifar=True)
    d.classifier = nn.Sequential(nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 10))
    with pytest.raises(ValueError, match="classifiers differ"):
        init_from_shallower(d, a)
    a = models.create("vgg11", num_classes=5, cifar=True)
    d = models.create("vgg16", num_classes=10, cifar=True)
    before = d.features[0].weight.detach().numpy().copy()
    with pytest.raises(ValueError, match=r"classifier.weight has shape \(10, 512\)"):
        init_from_shallower(d, a)
    np.testing.assert_array_equal(d.features[0].weight.detach().numpy(), before)
    with pytest.raises(TypeError, match="must be a VGG"):
        init_from_shallower(models.create("resnet20"), a)
