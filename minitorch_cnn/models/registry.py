"""The model zoo's index: ``create("resnet50", num_classes=10)`` and ``list_models()``.

Each family module lists its builders in a ``BUILDERS`` dict (name -> function);
this file gathers them explicitly, family by family (no registration by import
side effects).
"""
import difflib

from . import (lenet, alexnet, vgg, nin, googlenet, resnet, resnet_cifar, densenet,
               fractalnet, mobilenet, efficientnet)

FAMILIES = (lenet, alexnet, vgg, nin, googlenet, resnet, resnet_cifar, densenet, fractalnet,
            mobilenet, efficientnet)


def _all_builders():
    out = {}
    for fam in FAMILIES:
        for name, fn in fam.BUILDERS.items():
            out[name] = fn
    return out


def list_models():
    """Names of every builder, family by family."""
    return list(_all_builders())


class UnknownModelError(ValueError):
    """A model name that no builder has; the message names the closest ones."""


def check_name(name):
    """``name`` if a builder has it, else UnknownModelError naming the closest builders
    (by ``difflib``'s similarity of the names)."""
    builders = _all_builders()
    if name in builders:
        return name
    if not isinstance(name, str):
        raise UnknownModelError(f"a model name must be a string such as 'resnet18', got "
                                f"{type(name).__name__} {name!r}")
    close = difflib.get_close_matches(name.lower(), list(builders), n=4, cutoff=0.5)
    hint = (f"did you mean {', '.join(close)}?" if close else
            f"no builder has a similar name")
    raise UnknownModelError(f"unknown model {name!r}: {hint} (all {len(builders)} are "
                            f"listed by `python -m minitorch_cnn models` and "
                            f"models.list_models())")


def create(name, **kwargs):
    """Build model ``name`` (a builder name such as ``vgg16_bn``) with ``kwargs``."""
    check_name(name)
    return _all_builders()[name](**kwargs)
