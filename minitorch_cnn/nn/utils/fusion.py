"""Fusion as an explicit step: swap a BatchNorm and the ReLU after it for one fused layer.

``fuse_modules(model, [["features.1", "features.2"], ...])`` follows
torch.ao.quantization.fuse_modules: each list names modules that run one after the
other; the first is replaced by the fused layer and the others by ``nn.Identity``, in
place in their parents, so names and the state dict stay as they were. Supported:
[BatchNorm2d, ReLU] and [BatchNorm2d, ReLU6] -> ``nn.BatchNormReLU2d``.

``fuse_batchnorm_relu(model)`` does it wherever a model allows: every BatchNorm2d directly
followed by a ReLU or ReLU6 in an ``nn.Sequential``, and every module that defines
``fuse()`` (residual blocks, whose forward is not a Sequential, name their own pairs
there, and fuse their tail BN -> + shortcut -> ReLU into ``nn.BatchNormAddReLU2d``). The
model builders call it; build with ``fuse=False`` for the plain modules. The numbers and
gradients are the same either way (tests/test_fusion.py).
"""
import copy

from ..conv import BatchNorm2d
from ..fused import BatchNormReLU2d
from ..layers import Identity, ReLU, ReLU6
from ..module import Sequential

__all__ = ["fuse_modules", "fuse_batchnorm_relu"]

_MAX_VALUE = {ReLU: float("inf"), ReLU6: 6.0}      # the activations a BatchNorm absorbs


def _parent(model, name):
    """(the module holding ``name``, the last part of ``name``)."""
    *path, last = name.split(".")
    parent = model
    for part in path:
        parent = parent._modules[part]
    if last not in parent._modules:
        raise KeyError(f"fuse_modules: {type(model).__name__} has no module named {name!r}")
    return parent, last


def _fused(mods, names):
    """The one layer that computes ``mods`` in a row."""
    kinds = [type(m) for m in mods]
    if len(mods) == 2 and kinds[0] is BatchNorm2d and kinds[1] in _MAX_VALUE:
        return BatchNormReLU2d.from_modules(mods[0], _MAX_VALUE[kinds[1]])
    raise NotImplementedError(
        f"fuse_modules: cannot fuse {names} ({', '.join(k.__name__ for k in kinds)}); "
        f"supported: [BatchNorm2d, ReLU] and [BatchNorm2d, ReLU6]")


def fuse_modules(model, modules_to_fuse, inplace=True):
    """Fuse each list of module names in ``modules_to_fuse`` (or one list) into one layer:
    the first name gets the fused layer, the others nn.Identity. Returns the model (a
    fused copy with ``inplace=False``)."""
    if not inplace:
        model = copy.deepcopy(model)
    if modules_to_fuse and isinstance(modules_to_fuse[0], str):
        modules_to_fuse = [modules_to_fuse]
    for names in modules_to_fuse:
        places = [_parent(model, n) for n in names]
        fused = _fused([parent._modules[k] for parent, k in places], list(names))
        for i, (parent, k) in enumerate(places):
            parent._modules[k] = fused if i == 0 else Identity()   # same place, same order
    return model


def fuse_batchnorm_relu(model):
    """Fuse every BatchNorm2d -> ReLU/ReLU6 pair of model's Sequentials, and call
    ``fuse()`` on each module that has one; in place. Returns the model."""
    for name, m in list(model.named_modules()):
        if isinstance(m, Sequential):
            keys = list(m._modules)
            pairs = [[a, b] for a, b in zip(keys, keys[1:])
                     if type(m._modules[a]) is BatchNorm2d and type(m._modules[b]) in _MAX_VALUE]
            fuse_modules(m, pairs)
        elif callable(getattr(m, "fuse", None)):
            m.fuse()
    return model
