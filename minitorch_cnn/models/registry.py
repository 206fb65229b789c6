"""The model zoo's index: ``create("resnet50", num_classes=10)`` and ``list_models()``.

Each family module lists its builders in a ``BUILDERS`` dict (name -> function);
this file gathers them explicitly, family by family (no registration by import
side effects).
"""
from . import (lenet, alexnet, vgg, nin, googlenet, resnet, densenet, fractalnet, mobilenet,
               efficientnet)

FAMILIES = (lenet, alexnet, vgg, nin, googlenet, resnet, densenet, fractalnet, mobilenet,
            efficientnet)


def _all_builders():
    out = {}
    for fam in FAMILIES:
        for name, fn in fam.BUILDERS.items():
            out[name] = fn
    return out


def list_models():
    """Names of every builder, family by family."""
    return list(_all_builders())


def create(name, **kwargs):
    """Build model ``name`` (a builder name such as ``vgg16_bn``) with ``kwargs``."""
    builders = _all_builders()
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(builders)}")
    return builders[name](**kwargs)
