"""Reverse-mode automatic differentiation.

A ``Function`` is one op: ``forward`` maps raw arrays to a raw array and may save
what its ``backward`` will need; ``backward`` maps dL/d(output) to dL/d(input) for
each positional input. ``Function.apply`` wraps both ends in Tensors and, when a
gradient is needed, records the op in the graph: ``out.grad_fn = fn``, and in
``fn._inputs`` the inputs, each non-leaf one as a ``GraphEdge`` that holds no data.

``backward(root)`` walks that graph without recursion: an iterative depth-first
search orders the ops topologically, then gradients flow from the root back to
the leaves, summed where a tensor feeds several ops and summed over broadcast
axes where an input was broadcast. Afterwards the graph is freed (saved arrays
dropped) unless ``retain_graph=True``.

The graph can be looked at from outside, with PyTorch's names: ``fn.next_functions``
(the ops that made fn's inputs), ``topological_order(fn)`` (the order backward
uses), and backward hooks on one op (``fn.register_prehook``, ``fn.register_hook``).

Rule for every backward: never modify ``grad`` in place (it may be shared).

In-place writes (``t[i] = v``, ``t += 1`` outside the graph, ``t.zero_()``) are
checked as PyTorch checks them: each write stamps the memory it changed with a
counter (``mark_written``), each op records the counter when it runs, and backward
refuses an op whose saved arrays were written after it ran, since its gradient would be
computed from numbers it never saw. The cost outside in-place writes: one integer per op.
"""
import threading
import weakref


_mode = threading.local()


def is_grad_enabled():
    return getattr(_mode, "enabled", True)


def set_grad_enabled(flag):
    _mode.enabled = bool(flag)


class no_grad:
    """Context manager (and decorator): ops inside record no graph."""

    def __enter__(self):
        self.prev = is_grad_enabled()
        set_grad_enabled(False)

    def __exit__(self, *exc):
        set_grad_enabled(self.prev)

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with no_grad():
                return func(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
        return wrapper


class enable_grad(no_grad):
    def __enter__(self):
        self.prev = is_grad_enabled()
        set_grad_enabled(True)


# ------------------------------------------------------------ in-place writes
# _writes counts the in-place writes so far; _written maps id(memory owner) to the count at
# its last write (NumPy arrays are not hashable, so they cannot be keys themselves). An id
# is enough: an op's saved array keeps its owner alive, so a later write to an owner with
# the same id is a write to that very memory. A weak reference drops the entry when the
# owner dies.
_writes = 0
_written = {}


def _owner(a):
    """The array that owns ``a``'s memory: ``a`` itself, or the array it is a view of."""
    while getattr(a, "base", None) is not None and hasattr(a.base, "dtype"):
        a = a.base
    return a


def mark_written(a):
    """Record that raw array ``a`` (or the memory it views) was just changed in place."""
    global _writes
    _writes += 1
    owner = _owner(a)
    key = id(owner)
    if key not in _written:
        try:
            weakref.finalize(owner, _written.pop, key, None)
        except TypeError:          # an array type without weak references: the entry stays
            pass
    _written[key] = _writes


def _check_saved_unchanged(fn):
    """Raise if an array ``fn`` saved for backward was written in place after ``fn`` ran."""
    for a in fn.saved:
        if not hasattr(a, "base"):                # None, a Python number, a shape
            continue
        if _written.get(id(_owner(a)), 0) > fn.version:
            raise RuntimeError(
                f"one of the arrays needed for gradient computation has been modified by an "
                f"in-place operation: {type(fn).__name__} saved an array of shape "
                f"{tuple(a.shape)} ({a.dtype}) that was written after it ran (t[i] = v, "
                f"t += v or t.zero_() on that tensor or on a view of it). Change a copy "
                f"instead (t = t.clone()), or make the change after backward().")


class Function:
    """Base class of every differentiable op.

    Subclasses define ``forward(self, *arrays, **params) -> array`` and
    ``backward(self, grad) -> grad or tuple of grads`` (one per positional input,
    ``None`` where no gradient is needed). ``self.needs_input_grad[i]`` tells
    forward which inputs want a gradient, so it can skip saving what is not needed.
    """

    _inputs = ()       # the positional inputs, as the walk needs them (see ``inputs``)
    saved = ()         # arrays kept for backward, dropped when the graph is freed
    freed = False
    output_hooks = ()  # callables given dL/d(output) (see Tensor.register_hook)
    prehooks = ()      # see register_prehook
    hooks = ()         # see register_hook
    version = 0        # the count of in-place writes when the op ran (see mark_written)

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @property
    def inputs(self):
        """The positional inputs: constants, leaf Tensors, and the non-leaf Tensors while
        anything outside the graph still holds them. A non-leaf input that nobody holds
        any more comes back as its ``GraphEdge`` (shape, dtype, device and grad_fn, no
        data): see ``GraphEdge`` for why."""
        return tuple(e.resolve() if isinstance(e, GraphEdge) else e for e in self._inputs)

    @property
    def next_functions(self):
        """As PyTorch's: one ``(op, 0)`` per positional input, the op that made that input
        (0: its only output), or ``(None, 0)`` for a leaf or a constant. (PyTorch gives a
        leaf that requires grad an ``AccumulateGrad`` node; here leaves are not ops.)"""
        return tuple((e.grad_fn if isinstance(e, GraphEdge) else None, 0) for e in self._inputs)

    def register_prehook(self, hook):
        """Call ``hook(grad_outputs)`` just before this op's backward, with the tuple
        ``(dL/d(output),)`` as Tensors; it may return a tuple to use instead. Returns a
        handle whose ``remove()`` takes the hook out."""
        return RemovableHandle(self, "prehooks", hook)

    def register_hook(self, hook):
        """Call ``hook(grad_inputs, grad_outputs)`` just after this op's backward (Tensors,
        None where an input gets no gradient); it may return new grad_inputs. Returns a
        handle whose ``remove()`` takes the hook out."""
        return RemovableHandle(self, "hooks", hook)

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **params):
        Tensor = _tensor.Tensor
        device = None
        for a in args:
            if isinstance(a, Tensor):
                if device is None:
                    device = a.device
                elif a.device != device:
                    shapes = ", ".join(f"{type(t).__name__}{getattr(t, 'shape', '')} on "
                                       f"{getattr(t, 'device', 'cpu')}" for t in args
                                       if isinstance(t, Tensor))
                    raise RuntimeError(f"{cls.__name__}: expected all tensors on one device, "
                                       f"got {shapes}")
        fn = cls()
        fn.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        requires_grad = is_grad_enabled() and any(fn.needs_input_grad)
        if not requires_grad:
            fn.needs_input_grad = (False,) * len(args)
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        out = Tensor(fn.forward(*raw, **params), requires_grad=requires_grad)
        if requires_grad:
            fn.version = _writes
            fn._inputs = tuple(GraphEdge(a) if isinstance(a, Tensor) and a.grad_fn is not None
                               else a for a in args)
            out.grad_fn = fn
        return out

    def __repr__(self):
        return f"<{type(self).__name__}>"


class RemovableHandle:
    """Adds ``hook`` to the tuple ``owner.<attr>``; ``remove()`` takes it out again."""

    def __init__(self, owner, attr, hook):
        self.owner, self.attr, self.hook = owner, attr, hook
        setattr(owner, attr, tuple(getattr(owner, attr)) + (hook,))

    def remove(self):
        hooks = getattr(self.owner, self.attr)
        if self.hook in hooks:
            i = hooks.index(self.hook)
            setattr(self.owner, self.attr, hooks[:i] + hooks[i + 1:])
        self.hook = None                 # a second remove() does nothing


def _call_hooks(hooks, grads, *args):
    """Run backward hooks on ``grads`` (arrays or None): each sees them as Tensors and may
    return replacements; gives back arrays."""
    Tensor = _tensor.Tensor
    for hook in hooks:
        new = hook(tuple(None if g is None else Tensor(g) for g in grads), *args)
        if new is not None:
            if len(new) != len(grads) or not all(g is None or isinstance(g, Tensor)
                                                 for g in new):
                raise RuntimeError(f"backward hook {hook!r} returned ("
                                   f"{', '.join(type(g).__name__ for g in new)}); expected "
                                   f"None, or {len(grads)} gradients as Tensors or None")
            grads = tuple(None if g is None else g.data for g in new)
    return grads


class GraphEdge:
    """A non-leaf input as the graph keeps it: the op that made it (the way back), its
    shape, dtype and device (to shape its gradient), and a weak reference to the Tensor.

    Holding the Tensor itself would keep its data alive until backward, and most
    intermediate results are not needed by backward at all: a BatchNorm's output feeds
    a ReLU that saves only its own output, so the BatchNorm's output is freed as soon as
    the ReLU has run. Each op saves exactly what its backward reads
    (``save_for_backward``); the edges of the graph hold no data. (PyTorch's graph is
    built the same way.) Leaves, the parameters and the inputs, are held as they are.
    """
    __slots__ = ("ref", "grad_fn", "shape", "dtype", "device", "requires_grad")

    def __init__(self, t):
        self.ref = weakref.ref(t)
        self.grad_fn, self.shape, self.dtype = t.grad_fn, t.shape, t.dtype
        self.device, self.requires_grad = t.device, t.requires_grad

    data = None        # never the values: those are gone, or held by the Tensor

    def resolve(self):
        """The Tensor if something still holds it, else this edge."""
        t = self.ref()
        return self if t is None else t

    def __repr__(self):
        return f"GraphEdge(shape={self.shape}, grad_fn={self.grad_fn!r})"


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, so that
    it has ``shape`` again: (2, 3, 4) -> (3, 1) sums axis 0 and axis 2."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise RuntimeError(f"gradient of shape {grad.shape} cannot reduce to {tuple(shape)}")
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    grad = grad.sum(axis=axes, keepdims=True) if axes else grad
    return grad.reshape(shape)


def topological_order(root_fn):
    """Ops reachable from ``root_fn`` (a ``grad_fn``), each after every op that produced
    its inputs; ``backward`` walks this list from the end.

    Iterative post-order DFS: a 1,000-layer network cannot hit the recursion limit.
    """
    order, visited = [], set()
    stack = [(root_fn, False)]
    while stack:
        fn, done = stack.pop()
        if done:
            order.append(fn)
            continue
        if id(fn) in visited:
            continue
        visited.add(id(fn))
        stack.append((fn, True))
        for parent, _ in fn.next_functions:
            if parent is not None and id(parent) not in visited:
                stack.append((parent, False))
    return order


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires it."""
    Tensor = _tensor.Tensor
    if not root.requires_grad:
        raise RuntimeError("backward(): the tensor does not require grad and has no grad_fn "
                           "(was it computed under no_grad(), or from tensors without "
                           "requires_grad=True?)")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward(): grad can be implicitly created only for scalar "
                               f"outputs, but the tensor has shape {root.shape}; pass "
                               f"grad=<tensor of that shape>")
        grad = root.xp.ones_like(root.data)
    else:
        grad = grad.data if isinstance(grad, Tensor) else root.xp.asarray(grad)
        if grad.shape != root.shape:
            raise RuntimeError(f"backward(): grad has shape {grad.shape}, but the tensor has "
                               f"shape {root.shape}")
        grad = grad.astype(root.dtype, copy=False)
    if root.grad_fn is None:          # a leaf: d(root)/d(root) = grad
        root._accumulate(grad)
        return
    if root.grad_fn.freed:
        raise RuntimeError("Trying to backward through the graph a second time; "
                           "pass retain_graph=True to the first backward() call")

    order = topological_order(root.grad_fn)
    grads = {id(root.grad_fn): grad}          # dL/d(output of fn), keyed by fn
    given = set()                             # ids of arrays already stored in a leaf's .grad
    for fn in reversed(order):
        g_out = grads.pop(id(fn), None)
        if g_out is None:                     # no path from root reaches this op's output
            continue
        if fn.freed:
            raise RuntimeError("Trying to backward through the graph a second time; "
                               "pass retain_graph=True to the first backward() call")
        if _writes > fn.version:              # something was written in place since
            _check_saved_unchanged(fn)
        for hook in fn.output_hooks:          # Tensor.register_hook / retain_grad
            hook(g_out)
        if fn.prehooks:                       # fn.register_prehook
            g_out, = _call_hooks(fn.prehooks, (g_out,))
        g_in = fn.backward(g_out)
        if not isinstance(g_in, tuple):
            g_in = (g_in,)
        if fn.hooks:                          # fn.register_hook
            g_in = _call_hooks(fn.hooks, g_in, (_tensor.Tensor(g_out),))
        for t, g in zip(fn._inputs, g_in):       # t: a leaf Tensor or a GraphEdge
            if g is None or not isinstance(t, (Tensor, GraphEdge)) or not t.requires_grad:
                continue
            g = unbroadcast(g, t.shape)
            if t.grad_fn is None:
                if id(g) in given:            # z = a + b hands one array to both leaves
                    g = g.copy()
                given.add(id(g))
                t._accumulate(g)
            else:
                key = id(t.grad_fn)
                grads[key] = g if key not in grads else grads[key] + g
        if not retain_graph:
            fn.saved = ()
            fn.freed = True
    if not retain_graph:                      # drop the references that kept the graph alive
        for fn in order:
            fn._inputs = tuple(None if isinstance(e, GraphEdge) else e for e in fn._inputs)


# Tensor is defined in tensor.py, which imports this module: bind it last.
from . import tensor as _tensor  # noqa: E402
