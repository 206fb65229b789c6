"""Module: a layer or a whole network, holding Parameters, buffers and sub-modules.

Assigning a Parameter, a Module or (with ``register_buffer``) an array-backed Tensor
as an attribute registers it under that name; ``state_dict()`` then names every
entry with dotted paths exactly as PyTorch does (``features.0.weight``,
``layer1.0.bn1.running_mean``), so weights move between the two unchanged.
"""
from collections import OrderedDict

import numpy as np

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module (``requires_grad=True``)."""

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


_global_forward_pre_hooks = {}


def register_module_forward_pre_hook(hook):
    """Call ``hook(module, inputs)`` before the forward of every module (PyTorch's
    ``torch.nn.modules.module.register_module_forward_pre_hook``); ``utils.checkpoint``
    uses it to see which modules a recomputation runs. Returns a handle with ``remove()``."""
    return _add_hook(_global_forward_pre_hooks, hook)


def _add_hook(hooks, hook):
    key = object()
    hooks[key] = hook
    return _HookHandle(hooks, key)


class Module:
    """Base class of every layer and network: define ``forward`` and call the module."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"assigning attributes")
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()) and (value is None or
                                                                   isinstance(value, Tensor)):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor, persistent=True):
        """A Tensor that belongs to the state (saved, moved) but is not learned,
        such as BatchNorm's running mean."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def register_parameter(self, name, param):
        if param is None:
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def add_module(self, name, module):
        self._modules[name] = module

    # ---------------------------------------------------------- running
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        pre = self.__dict__.get("_forward_pre_hooks", {})
        for hook in (*_global_forward_pre_hooks.values(), *pre.values()):
            res = hook(self, args)
            if res is not None:               # a pre-hook may replace the inputs
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in tuple(self.__dict__.get("_forward_hooks", {}).values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    def register_forward_pre_hook(self, hook):
        """Call ``hook(module, inputs)`` before every forward; it may return new inputs (a
        tuple, or one value). Returns a handle with ``remove()``."""
        return _add_hook(self.__dict__.setdefault("_forward_pre_hooks", {}), hook)

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward (used by the
        analysis tools to see each layer's output); it may return a new output. Returns a
        handle with ``remove()``."""
        return _add_hook(self.__dict__.setdefault("_forward_hooks", {}), hook)

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    # -------------------------------------------------------- traversal
    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every descendant, depth first."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()
                        if c is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for k, c in self._modules.items():
            if c is not None:
                yield k, c

    def children(self):
        for _, c in self.named_children():
            yield c

    def named_parameters(self, prefix="", recurse=True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mname, m in mods:
            for k, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{k}" if mname else k), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix=""):
        for mname, m in self.named_modules(prefix):
            for k, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{k}" if mname else k), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn):
        """Call ``fn(m)`` on every sub-module (children first) and on self."""
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    def requires_grad_(self, requires_grad=True):
        """Switch gradients of every parameter on or off (e.g. to freeze a backbone)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: ``p.grad = None`` (the default, as torch), or with
        ``set_to_none=False`` keep each ``p.grad`` Tensor and make it zeros (a new array:
        a gradient array may be shared, so none is written in place)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data = p.grad.xp.zeros_like(p.grad.data)

    # ------------------------------------------------------------ state
    def state_dict(self):
        """An ordered dict of dotted name -> Tensor (parameters, then buffers, per module,
        in registration order, as PyTorch orders them)."""
        out = OrderedDict()
        for mname, m in self.named_modules():
            pre = f"{mname}." if mname else ""
            for k, p in m._parameters.items():
                if p is not None:
                    out[pre + k] = p
            for k, b in m._buffers.items():
                if b is not None and k not in m._non_persistent:
                    out[pre + k] = b
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into this module's parameters and buffers.

        ``state_dict`` maps names to Tensors or arrays. With ``strict``, any missing,
        unexpected or mis-shaped key raises one error that lists them all; without it,
        mis-shaped keys still raise and the (missing, unexpected) names are returned.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for k, v in state_dict.items():
            if k in own:
                shape = tuple(getattr(v, "shape", np.shape(v)))
                if shape != tuple(own[k].shape):
                    mismatched.append(f"{k}: checkpoint {shape}, model {tuple(own[k].shape)}")
        if mismatched or (strict and (missing or unexpected)):
            lines = [f"Error(s) in loading state_dict for {type(self).__name__}:"]
            if missing:
                lines.append("  missing keys: " + ", ".join(missing))
            if unexpected:
                lines.append("  unexpected keys: " + ", ".join(unexpected))
            if mismatched:
                lines.append("  size mismatch: " + "; ".join(mismatched))
            raise RuntimeError("\n".join(lines))
        for k, v in state_dict.items():
            if k not in own:
                continue
            t = own[k]
            arr = v.data if isinstance(v, Tensor) else np.asarray(v)
            arr = backend.to_device(arr, t.device) if backend.device_of(arr) != t.device else arr
            t.data = arr.astype(t.dtype, copy=True)     # keep our dtype, own the memory
        return missing, unexpected

    # ------------------------------------------------- device and dtype
    def _apply_to_tensors(self, fn):
        for m in self.modules():
            for store in (m._parameters, m._buffers):
                for k, t in store.items():
                    if t is not None:
                        t.data = fn(t.data)
                        if t.grad is not None:
                            t.grad.data = fn(t.grad.data)
        return self

    def to(self, device=None, dtype=None, non_blocking=False):
        """Move every parameter and buffer to ``device`` and/or cast floats to ``dtype``
        (in place, as ``torch.nn.Module.to``; ``model.to(device, dtype)`` too)."""
        if device is not None and not isinstance(device, str):
            device, dtype = None, device
        dt = None if dtype is None else np.dtype(dtype)
        if dt is not None and dt not in (np.float32, np.float64):      # check before moving
            raise TypeError(f"{type(self).__name__}.to: expected dtype float32 or float64 "
                            f"(minitorch_cnn computes in those two), got {dt}")
        if device is not None:
            dev = backend.normalize_device(device)
            self._apply_to_tensors(lambda a: backend.to_device(a, dev))
        if dt is not None:
            self._apply_to_tensors(lambda a: a.astype(dt) if a.dtype.kind == "f" else a)
        return self

    def cuda(self):
        return self.to("cuda")

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self.to(dtype=np.float64)

    def float(self):
        return self.to(dtype=np.float32)

    def half(self):
        return self.to(dtype=np.float16)            # refused, saying why

    # ------------------------------------------------------------ print
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        for k, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({k}): {sub}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


class _HookHandle:
    def __init__(self, hooks, key):
        self.hooks, self.key = hooks, key

    def remove(self):
        self.hooks.pop(self.key, None)


class Sequential(Module):
    """Modules applied one after the other; ``Sequential(a, b)`` or from an OrderedDict.
    (Fusing a BatchNorm with the ReLU after it is a step of its own: nn.utils.fusion.)"""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for k, m in modules[0].items():
                self.add_module(k, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, m):
        self.add_module(str(len(self._modules)), m)
        return self


class ModuleList(Module):
    """A list of modules, registered as ``0``, ``1``, ... (no forward of its own)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m):
        self.add_module(str(len(self._modules)), m)
        return self

    def extend(self, ms):
        for m in ms:
            self.append(m)
        return self

    def __getitem__(self, i):
        mods = list(self._modules.values())
        return ModuleList(mods[i]) if isinstance(i, slice) else mods[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of named modules."""

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            self.add_module(k, m)

    def __getitem__(self, k):
        return self._modules[k]

    def __setitem__(self, k, m):
        self.add_module(k, m)

    def __iter__(self):
        return iter(self._modules)

    def __len__(self):
        return len(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
