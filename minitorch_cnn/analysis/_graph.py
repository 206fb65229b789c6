"""How the analysis tools see a network: each call of a leaf layer, and the ops it made.

A forward hook on every leaf module (one without sub-modules: ``Conv2d``, ``ReLU``,
``Linear``...) records each call: the layer's dotted name, its input tensors and its
output. When the forward pass records an autograd graph, the ops (``Function``
instances) that one call created are found by walking the graph backwards
(``grad_fn.next_functions``) from the call's output until the walk reaches the op that
made one of the call's inputs, a leaf (a weight) or an op that an earlier call already
owns. Ops that no call owns were made by code in a non-leaf ``forward`` -- ``out +
identity`` in a residual block, ``cat`` in an Inception module, ``flatten`` before the
classifier -- and the tools report them as such.

Only the engine's public interface is used: ``Module.register_forward_hook``,
``Function.next_functions`` and ``autograd.topological_order``.
"""
import numpy as np

from .. import backend
from ..autograd import topological_order
from ..tensor import Tensor


class LayerCall:
    """One call of a leaf layer during a forward pass."""

    __slots__ = ("index", "name", "module", "inputs", "output")

    def __init__(self, index, name, module, inputs, output):
        self.index, self.name, self.module = index, name, module
        self.inputs, self.output = inputs, output

    @property
    def type(self):
        return type(self.module).__name__

    def output_tensors(self):
        return tensors_in(self.output)

    def __repr__(self):
        return f"<LayerCall {self.index} {self.name} ({self.type})>"


def tensors_in(obj):
    """The Tensors inside ``obj`` (a Tensor, or tuples/lists/dicts of them), in order."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in tensors_in(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in tensors_in(o)]
    return []


def leaf_modules(model):
    """(dotted name, module) of every module without children, in registration order.
    A model that is itself a single layer is its own leaf, named by its type."""
    out = []
    for name, m in model.named_modules():
        if next(m.children(), None) is None:
            out.append((name or type(m).__name__, m))
    return out


class record_layer_calls:
    """``with record_layer_calls(model) as calls: model(x)`` fills ``calls`` with one
    ``LayerCall`` per leaf-layer call, in the order the calls happened."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.calls = []
        self.handles = [m.register_forward_hook(self._hook(name))
                        for name, m in leaf_modules(self.model)]
        return self.calls

    def _hook(self, name):
        def hook(module, inputs, output):
            self.calls.append(LayerCall(len(self.calls), name, module,
                                        tuple(tensors_in(inputs)), output))
        return hook

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


class eval_mode:
    """Run a block with every sub-module in eval mode, then give each module back the
    mode it had (a model may mix them, e.g. frozen BatchNorm layers)."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        for m, flag in self.modes:
            object.__setattr__(m, "training", flag)


def assign_ops(calls):
    """Map each op to the call that created it: ``{id(fn): call}``.

    Calls are taken in forward order; the walk from a call's output stops at the ops
    that made the call's inputs (each op makes one tensor), at leaves and at ops an
    earlier call owns, so an op is never given to two calls and the walk never wanders
    into earlier layers.
    """
    owner = {}
    for call in calls:
        stop = {id(t.grad_fn) for t in call.inputs if t.grad_fn is not None}
        stack = [t.grad_fn for t in call.output_tensors()
                 if t.grad_fn is not None and id(t.grad_fn) not in stop]
        while stack:
            fn = stack.pop()
            if id(fn) in owner:
                continue
            owner[id(fn)] = call
            for parent, _ in fn.next_functions:
                if parent is not None and id(parent) not in stop and id(parent) not in owner:
                    stack.append(parent)
    return owner


def graph_ops(outputs):
    """Every op reachable from the output tensors, each after the ops that fed it."""
    order, seen = [], set()
    for t in tensors_in(outputs):
        if t.grad_fn is None:
            continue
        for fn in topological_order(t.grad_fn):
            if id(fn) not in seen:
                seen.add(id(fn))
                order.append(fn)
    return order


# ------------------------------------------------------------- memory held by a graph
def is_array(a):
    return isinstance(a, np.ndarray) or backend.is_cupy_array(a)


def arrays_held(fn):
    """Every array an op keeps alive until backward: what it saved
    (``save_for_backward`` or any other attribute) and the data of the leaf tensors among
    its inputs. Non-leaf inputs are held as ``autograd.GraphEdge``s, which keep no data."""
    out, stack = [], list(vars(fn).values())
    while stack:
        v = stack.pop()
        if isinstance(v, Tensor):
            out.append(v.data)
        elif is_array(v):
            out.append(v)
        elif isinstance(v, (tuple, list)):
            stack.extend(v)
    return out


def storage(a):
    """The array that owns ``a``'s memory (views share their base's memory)."""
    while is_array(getattr(a, "base", None)):
        a = a.base
    return a
