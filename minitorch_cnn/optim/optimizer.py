"""Optimizer: the base class that SGD, Adam, AdamW and RMSprop fill in.

An optimizer holds ``param_groups``, a list of dicts as in PyTorch: each has
``"params"`` (a list of Parameters) and its own hyper-parameters (``lr``,
``momentum``, ...), so that, say, biases can go without weight decay. ``state``
maps each Parameter to its per-parameter dict (momentum buffer, Adam moments,
step count), created on the first ``step()`` that sees a gradient.

``step()`` walks every parameter that has a gradient and calls the subclass's
``update(p, g, state, group)`` on the raw arrays (NumPy or CuPy, one code path).
Two rules every ``update`` keeps:

* ``g`` (the gradient array) may be shared with other tensors, so it is only
  read, never written; the parameter ``p`` and the state buffers are updated in
  place.
* hyper-parameters enter as Python floats, so a float32 parameter stays float32
  (under NumPy 2 a ``np.float64`` scalar would promote the arithmetic to float64).
"""
import numpy as np

from .. import backend
from ..autograd import enable_grad
from ..tensor import Tensor


class Optimizer:
    """Base class: ``Optimizer(params, defaults)``; subclasses define ``update``.

    ``params`` is an iterable of Tensors, or of dicts ``{"params": [...], "lr": ...}``
    (parameter groups) whose missing hyper-parameters are taken from ``defaults``.
    """

    def __init__(self, params, defaults):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params should be an iterable of Tensors or dicts, "
                            f"got a single Tensor (wrap it in a list)")
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}            # Parameter -> dict of per-parameter state
        groups = list(params)
        if not groups:
            raise ValueError(f"{name} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add ``{"params": [...], **hyper}``; unset hyper-parameters take the defaults."""
        name = type(self).__name__
        if not isinstance(group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got "
                            f"{type(group).__name__}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(f"{name} can only optimize floating-point Tensors, got "
                                f"dtype {p.dtype}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears twice in one parameter group")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one "
                             f"parameter group")
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"{name}: unknown hyper-parameter(s) {sorted(unknown)} in a "
                             f"parameter group; expected some of {sorted(self.defaults)}")
        self.param_groups.append({**self.defaults, **group, "params": params})

    # ------------------------------------------------------------ updating
    def zero_grad(self, set_to_none=True):
        """Forget the gradients. ``set_to_none=False`` gives fresh zero arrays instead
        (never zeroing in place: a gradient array may be shared)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = Tensor(p.xp.zeros_like(p.grad.data))

    def step(self, closure=None):
        """One update of every parameter that has a gradient.

        ``closure``, if given, re-evaluates the model and returns the loss (which
        ``step`` returns), as in PyTorch.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {})
                self.update(p.data, p.grad.data, state, group)
        return loss

    def update(self, p, g, state, group):
        """Update one parameter in place: ``p`` its array, ``g`` its gradient array
        (read only), ``state`` its dict, ``group`` its hyper-parameters."""
        raise NotImplementedError(f"{type(self).__name__} does not define update()")

    # --------------------------------------------------------------- state
    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``.

        Parameters are numbered in the order they appear across the groups, as
        PyTorch numbers them, so the dict carries no reference to the model. The
        state arrays are the live ones (not copies), as in PyTorch.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and per-parameter state saved by ``state_dict``.

        The groups must hold the same numbers of parameters as when saved, and each
        saved buffer the shape of its parameter. Everything is checked before anything
        is changed, so a state dict that does not fit leaves the optimizer as it was.
        State arrays are copied onto each parameter's device and dtype (the step count
        stays a number), so a checkpoint saved on the GPU loads on the CPU.
        """
        name = type(self).__name__
        if not (isinstance(state_dict, dict) and "param_groups" in state_dict
                and "state" in state_dict):
            got = list(state_dict)[:6] if isinstance(state_dict, dict) else \
                type(state_dict).__name__
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             f"'param_groups' (from optimizer.state_dict()), got {got}")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved)} "
                             f"parameter groups, this optimizer has {len(self.param_groups)}")
        ours = [len(g["params"]) for g in self.param_groups]
        theirs = [len(g["params"]) for g in saved]
        if ours != theirs:
            raise ValueError(f"{name}.load_state_dict: parameter group sizes differ: "
                             f"state dict has {theirs}, this optimizer has {ours}")
        by_index = {}
        for group, saved_group in zip(self.param_groups, saved):
            for i, p in zip(saved_group["params"], group["params"]):
                by_index[int(i)] = p
        new_state = {}
        for i, s in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, but the "
                                 f"groups number only {len(by_index)} parameters")
            for k, v in s.items():
                shape = getattr(v.data if isinstance(v, Tensor) else v, "shape", None)
                if shape is not None and shape != () and tuple(shape) != tuple(p.shape):
                    raise ValueError(f"{name}.load_state_dict: state '{k}' of parameter {i} "
                                     f"has shape {tuple(shape)}, the parameter has "
                                     f"{tuple(p.shape)}; was it saved for another model?")
            new_state[p] = {k: _to_param(v, p) for k, v in s.items()}
        # all checked: now change the optimizer
        for group, saved_group in zip(self.param_groups, saved):
            group.update({k: v for k, v in saved_group.items() if k != "params"})
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _to_param(value, p):
    """A saved state entry made ready for parameter ``p``: arrays are copied to its
    device and dtype; numbers (the step count) pass through."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) or backend.is_cupy_array(value):
        return backend.to_device(value, p.device).astype(p.dtype, copy=True)
    return value
