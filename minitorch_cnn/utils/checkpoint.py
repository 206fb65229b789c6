"""Gradient checkpointing: trade compute for memory (Chen et al. 2016, "Training deep nets
with sublinear memory cost"), in the spirit of ``torch.utils.checkpoint``.

    y = checkpoint(function, *args, **kwargs)

gives the same ``y`` and, after ``backward``, the same gradients as
``y = function(*args, **kwargs)``, but the graph keeps only ``args``. In the forward pass
``function`` runs under ``no_grad``, so none of its intermediate arrays is saved; the
graph gets one op, ``Checkpoint``, that holds references to the input arrays. Its backward
runs ``function`` again, with grad, on those inputs and backpropagates through that fresh
graph: the gradients of the inputs go on down the outer graph, and the parameters used
inside ``function`` get theirs in their ``.grad`` as usual. A segment's memory falls from
all its intermediate results to its inputs; the price is a second forward of the segment.

The recomputation must not count as a second step, so two things are put back:

- randomness: with ``preserve_rng_state=True`` (the default, as in PyTorch) the state of
  minitorch_cnn's generator (``backend.get_rng_state``) at the forward is restored for the
  recomputation, so dropout draws the same masks, and set back afterwards;
- buffers: before each module that the recomputation calls runs (seen through a global
  forward pre-hook, ``nn.module.register_module_forward_pre_hook``), its buffers
  (BatchNorm's running statistics and ``num_batches_tracked``) are copied, and they are put
  back when the recomputation ends. So they move once per step, as without checkpointing.
  (PyTorch's checkpoint leaves them moved twice.)

Rules for ``function``
- It must compute the same thing twice: the same ops on the same shapes. Randomness drawn
  from minitorch_cnn's generator is covered (above); other state is not (a counter, Python's
  ``random``, buffers changed outside a module's forward, a module switched between
  train() and eval() before backward). A recomputation that gives a different shape or
  dtype raises.
- Tensors that need gradients are passed positionally; keyword arguments are passed to
  ``function`` but not differentiated (a Tensor that requires grad there is an error, as is
  one inside a list: pass them as separate positional arguments).
- It returns one Tensor.
- Forward hooks on its modules run again during the recomputation.
- When grad is disabled, or no positional Tensor requires grad, there is no graph into the
  segment to cut: ``function`` just runs (its parameters still get their gradients, but no
  memory is saved).
"""
import threading

from .. import backend
from ..autograd import Function, enable_grad, is_grad_enabled, no_grad
from ..nn.module import register_module_forward_pre_hook
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "Checkpoint"]


def checkpoint(function, *args, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)`` without keeping its intermediate arrays for backward;
    backward runs it again (see the module docstring for what is kept and the rules)."""
    if not callable(function):
        raise TypeError(f"checkpoint: expected a callable (a module or a function) as the "
                        f"first argument, got {type(function).__name__}")
    for k, v in kwargs.items():
        if isinstance(v, Tensor) and v.requires_grad:
            raise ValueError(f"checkpoint: keyword argument {k!r} is a Tensor that requires "
                             f"grad; keyword arguments are not differentiated, pass it "
                             f"positionally")
    for i, a in enumerate(args):
        if isinstance(a, (list, tuple, dict)) and _holds_grad_tensor(a):
            raise ValueError(f"checkpoint: argument {i} is a {type(a).__name__} holding "
                             f"Tensors that require grad; pass them as separate positional "
                             f"arguments (checkpoint(f, *tensors))")
    if not (is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad
                                      for a in args)):
        return _one_tensor(function(*args, **kwargs), function)
    is_tensor = tuple(isinstance(a, Tensor) for a in args)
    return Checkpoint.apply(*args, run=lambda *a: function(*a, **kwargs), function=function,
                            is_tensor=is_tensor, preserve_rng_state=preserve_rng_state)


def checkpoint_sequential(functions, segments, input, preserve_rng_state=True):
    """Run the modules of ``functions`` (a Sequential or a list) one after another in
    ``segments`` checkpointed pieces: only the input of each piece is kept for backward.
    As in PyTorch, the last piece runs plainly (its result is needed at once by backward)."""
    functions = list(functions.children()) if hasattr(functions, "children") else \
        list(functions)
    if not functions:
        raise ValueError("checkpoint_sequential: expected at least one module, got none")
    if not 1 <= segments <= len(functions):
        raise ValueError(f"checkpoint_sequential: segments must be in 1..{len(functions)} "
                         f"(the number of modules), got {segments}")
    size = -(-len(functions) // segments)                  # ceil: modules per segment

    def run_piece(piece):
        def run(x):
            for f in piece:
                x = f(x)
            return x
        return run

    pieces = [functions[i:i + size] for i in range(0, len(functions), size)]
    for piece in pieces[:-1]:
        input = checkpoint(run_piece(piece), input, preserve_rng_state=preserve_rng_state)
    return run_piece(pieces[-1])(input)


class Checkpoint(Function):
    """y = function(*inputs), with nothing of function's own graph kept: backward runs it
    again, with grad, and backpropagates through that graph.
    Saves: the inputs (references to the arrays, no copies) and the generator's state."""

    def forward(self, *inputs, run, function, is_tensor, preserve_rng_state):
        self.run, self.function, self.is_tensor = run, function, is_tensor
        self.rng_state = backend.get_rng_state() if preserve_rng_state else None
        self.save_for_backward(*inputs)
        with no_grad():
            out = _one_tensor(run(*[Tensor(a) if t else a
                                    for a, t in zip(inputs, is_tensor)]), function)
        self.out_shape, self.out_dtype = out.shape, out.dtype
        return out.data

    def backward(self, g):
        inputs = [Tensor(a, requires_grad=need) if t else a
                  for a, t, need in zip(self.saved, self.is_tensor, self.needs_input_grad)]
        with _rng_as_at_forward(self.rng_state), _buffers_put_back(), enable_grad():
            out = _one_tensor(self.run(*inputs), self.function)
        if (out.shape, out.dtype) != (self.out_shape, self.out_dtype):
            raise RuntimeError(
                f"checkpoint: recomputing {_name(self.function)} gave {out.dtype} "
                f"{tuple(out.shape)}, but the forward pass gave {self.out_dtype} "
                f"{tuple(self.out_shape)}; the function must compute the same thing twice "
                f"(see minitorch_cnn.utils.checkpoint)")
        if out.requires_grad:
            out.backward(g)         # the parameters inside get their .grad here
        return tuple(x.grad.data if isinstance(x, Tensor) and x.grad is not None else None
                     for x in inputs)


class _rng_as_at_forward:
    """Run a block with the generator in its state at the forward pass (if it was kept),
    then give the generator back the state it had before the block."""

    def __init__(self, state):
        self.state = state

    def __enter__(self):
        if self.state is not None:
            self.now = backend.get_rng_state()
            backend.set_rng_state(self.state)

    def __exit__(self, *exc):
        if self.state is not None:
            backend.set_rng_state(self.now)


class _buffers_put_back:
    """Copy the buffers of every module called in this thread inside the block, before it
    runs; put them back at the end of the block."""

    def __enter__(self):
        self.kept, self.thread = {}, threading.get_ident()
        self.handle = register_module_forward_pre_hook(self.keep)

    def keep(self, module, inputs):
        if threading.get_ident() != self.thread:
            return
        for b in module.buffers():
            if id(b) not in self.kept:
                self.kept[id(b)] = (b, b.data.copy())

    def __exit__(self, *exc):
        self.handle.remove()
        for b, data in self.kept.values():
            b.data = data


def _one_tensor(out, function):
    if not isinstance(out, Tensor):
        raise TypeError(f"checkpoint: {_name(function)} must return one Tensor, got "
                        f"{type(out).__name__}")
    return out


def _holds_grad_tensor(obj):
    items = obj.values() if isinstance(obj, dict) else obj
    return any((isinstance(a, Tensor) and a.requires_grad) or
               (isinstance(a, (list, tuple, dict)) and _holds_grad_tensor(a)) for a in items)


def _name(function):
    return getattr(function, "__qualname__", type(function).__name__)
