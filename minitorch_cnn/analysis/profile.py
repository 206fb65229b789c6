"""``profile(model, x)``: where the time and the memory of a training step go, layer by layer.

What is measured, and how (through the engine's public hooks only)
    forward time    each leaf layer gets, for the duration of the profile, a forward
                    pre-hook that starts a timer and a forward hook that stops it
                    (``Module.register_forward_pre_hook`` / ``register_forward_hook``).
    backward time   the engine calls ``fn.backward(grad)`` once per op. After the
                    forward pass every op of the graph is mapped to the layer call that
                    created it (see ``_graph.assign_ops``) and gets a backward pre-hook
                    that starts a timer and a backward hook that stops it, adding to its
                    layer (``fn.register_prehook`` / ``fn.register_hook``; the graph
                    and its hooks are freed by the backward pass). A layer's backward
                    time is the sum over its ops.
    "(outside layers)"  what is left of the end-to-end time: ops written in a non-leaf
                    ``forward`` (residual additions, concatenations, flatten), the loss,
                    and the autograd engine's own work (ordering the graph, summing
                    gradients that meet).
    peak memory     the most memory in use at any moment inside the layer's forward
                    (or inside one of its ops' backward), above what was in use when it
                    began: outputs, saved arrays and scratch buffers. On the CPU it is
                    read with ``tracemalloc``, which sees every NumPy allocation (but not
                    memory that BLAS or Numba-compiled code allocate for themselves); on
                    the GPU with a CuPy memory hook that follows the memory pool.
                    Tracing slows Python down, so memory is measured in a separate pass
                    whose times are thrown away.

    Times are medians over ``repeat`` runs after ``warmup`` runs (the first run pays for
    JIT compilation and buffer allocation). On the GPU the timers synchronise the device
    before and after each layer and op, so that a layer is charged for its own kernels;
    this makes a profiled step slower than an unprofiled one.

The model runs in its current mode (``model.train()`` profiles a training step). The
profile leaves no trace: BatchNorm running statistics and parameter gradients are put
back as they were.
"""
import time
import tracemalloc
from collections import defaultdict

import numpy as np

from .. import backend
from ..tensor import Tensor
from ._graph import assign_ops, graph_ops, leaf_modules, record_layer_calls, tensors_in
from .summary import format_bytes

__all__ = ["profile", "Profile", "ProfileRow", "OUTSIDE", "device_memory_meter"]

OUTSIDE = "(outside layers)"


class _HostMemory:
    """Bytes of NumPy memory in use and the peak since ``reset_peak`` (tracemalloc)."""

    def __enter__(self):
        self.started = not tracemalloc.is_tracing()
        if self.started:
            tracemalloc.start()
        return self

    def __exit__(self, *exc):
        if self.started:
            tracemalloc.stop()

    def read(self):
        return tracemalloc.get_traced_memory()        # (current, peak)

    def reset_peak(self):
        tracemalloc.reset_peak()


def device_memory_meter():
    """The same for CuPy's memory pool, through a ``cupy.cuda.MemoryHook`` that adds up
    the sizes of the blocks handed out and given back while it is active (``with meter:``;
    ``meter.read()`` gives (bytes in use, peak bytes)). benchmarks/bench_models.py uses it
    too."""
    cp = backend.xp_for("cuda")

    class DeviceMemory(cp.cuda.MemoryHook):
        name = "minitorch_cnn.analysis.profile"

        def __init__(self):
            self.used = self.peak = 0

        def malloc_postprocess(self, **kw):
            self.used += kw["mem_size"]
            self.peak = max(self.peak, self.used)

        def free_postprocess(self, **kw):
            self.used -= kw["mem_size"]

        def read(self):
            return self.used, self.peak

        def reset_peak(self):
            self.peak = self.used

    return DeviceMemory()


class _Meter:
    """Times (and, with a memory tracker, measures) what runs between ``start()`` and
    ``stop(phase, key)``, adding it under the key."""

    def __init__(self, device, memory=None):
        self.memory = memory
        self.sync = (backend.xp_for("cuda").cuda.Device().synchronize if device == "cuda"
                     else (lambda: None))
        self.times = {"forward": defaultdict(float), "backward": defaultdict(float)}
        self.peaks = {"forward": {}, "backward": {}}
        self.top = 0                                   # highest memory seen in the pass
        self.open = []                                 # (start time, memory at start)

    def start(self):
        before = None
        if self.memory is not None:
            _, peak = self.memory.read()
            self.top = max(self.top, peak)
            self.memory.reset_peak()
            before, _ = self.memory.read()
        self.sync()
        self.open.append((time.perf_counter(), before))

    def stop(self, phase, key):
        self.sync()
        t0, before = self.open.pop()
        self.times[phase][key] += time.perf_counter() - t0
        if self.memory is not None:
            _, peak = self.memory.read()
            self.top = max(self.top, peak)
            self.peaks[phase][key] = max(self.peaks[phase].get(key, 0), peak - before)

    def whole(self, fn):
        """Time (and the memory peak above the start of) a whole phase."""
        if self.memory is not None:
            self.memory.reset_peak()
            start, _ = self.memory.read()
            self.top = 0
        self.sync()
        t0 = time.perf_counter()
        result = fn()
        self.sync()
        elapsed = time.perf_counter() - t0
        peak = None
        if self.memory is not None:
            self.top = max(self.top, self.memory.read()[1])
            peak = self.top - start
        return result, elapsed, peak


class _timed_layers:
    """Forward hooks on every leaf layer (removed on exit) so that the current meter, when
    there is one, times each call under the layer's name."""

    def __init__(self, model):
        self.leaves = leaf_modules(model)
        self.meter = None

    def __enter__(self):
        self.handles = []
        for name, m in self.leaves:
            self.handles += [m.register_forward_pre_hook(self._start),
                             m.register_forward_hook(self._stop(name))]
        return self

    def _start(self, module, inputs):
        if self.meter is not None:
            self.meter.start()

    def _stop(self, name):
        def hook(module, inputs, output):
            if self.meter is not None:
                self.meter.stop("forward", name)
        return hook

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


class _kept_state:
    """Put BatchNorm running statistics and parameter gradients back after the profile."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.buffers = [(b, b.data.copy()) for b in self.model.buffers()]
        self.grads = [(p, p.grad) for p in self.model.parameters()]

    def __exit__(self, *exc):
        for b, data in self.buffers:
            b.data = data
        for p, g in self.grads:
            p.grad = g


def _one_step(model, x, loss_fn, meter, layers):
    """Forward, map ops to layers, put timing hooks on their backward, then backward;
    returns the end-to-end (forward, backward) times and peaks."""
    layers.meter = meter
    with record_layer_calls(model) as calls:
        out, t_fwd, p_fwd = meter.whole(lambda: model(x))
    layers.meter = None
    outs = tensors_in(out)
    if loss_fn is not None:
        root = loss_fn(out)
    elif len(outs) == 1:
        root = outs[0]
    else:                                   # several outputs (auxiliary heads): add them up
        root = sum(t.sum() for t in outs)
    if not root.requires_grad:
        raise ValueError(f"profile: the output of {type(model).__name__} does not require "
                         f"grad (no parameters require grad, or it ran under no_grad)")

    owner = assign_ops(calls)
    for fn in graph_ops(root):
        call = owner.get(id(fn))
        key = call.name if call is not None else OUTSIDE
        fn.register_prehook(lambda grad_outputs: meter.start())
        fn.register_hook(lambda grad_inputs, grad_outputs, key=key:
                         meter.stop("backward", key))

    grad = root.xp.ones(root.shape, root.dtype) if root.data.size != 1 else None
    _, t_bwd, p_bwd = meter.whole(lambda: root.backward(grad))
    return t_fwd, t_bwd, p_fwd, p_bwd, calls


class ProfileRow:
    """Times in milliseconds (medians), peaks in bytes (None when memory was not measured)."""

    __slots__ = ("name", "type", "calls", "forward_ms", "backward_ms", "forward_peak",
                 "backward_peak")

    def __init__(self, name, type, calls, forward_ms, backward_ms, forward_peak,
                 backward_peak):
        self.name, self.type, self.calls = name, type, calls
        self.forward_ms, self.backward_ms = forward_ms, backward_ms
        self.forward_peak, self.backward_peak = forward_peak, backward_peak

    def __repr__(self):
        return (f"ProfileRow({self.name!r}, fwd={self.forward_ms:.3f} ms, "
                f"bwd={self.backward_ms:.3f} ms)")


class Profile:
    """The result of ``profile``: ``rows`` per layer (plus an ``(outside layers)`` row)
    and end-to-end ``forward_ms``/``backward_ms`` and peaks."""

    HEADER = ("Layer", "Type", "Calls", "Forward ms", "Backward ms", "Fwd peak", "Bwd peak")

    def __init__(self, model_name, input_shape, device, kernels, repeat, rows, forward_ms,
                 backward_ms, forward_peak, backward_peak):
        self.model_name, self.input_shape, self.device = model_name, input_shape, device
        self.kernels, self.repeat, self.rows = kernels, repeat, rows
        self.forward_ms, self.backward_ms = forward_ms, backward_ms
        self.forward_peak, self.backward_peak = forward_peak, backward_peak

    def row(self, name):
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"profile of {self.model_name} has no layer named {name!r}")

    def _cells(self):
        mem = lambda b: "-" if b is None else format_bytes(b)  # noqa: E731
        cells = [(r.name, r.type, str(r.calls), f"{r.forward_ms:.3f}", f"{r.backward_ms:.3f}",
                  mem(r.forward_peak), mem(r.backward_peak)) for r in self.rows]
        cells.append(("total", "", "", f"{self.forward_ms:.3f}", f"{self.backward_ms:.3f}",
                      mem(self.forward_peak), mem(self.backward_peak)))
        return cells

    def __str__(self):
        cells = self._cells()
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(self.HEADER)]
        fmt = lambda row: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                    for i, (c, w) in enumerate(zip(row, widths))).rstrip()
        rule = "-" * len(fmt(self.HEADER))
        return "\n".join(
            [f"{self.model_name} profile, input {self.input_shape} on {self.device} "
             f"({self.kernels} kernels), median of {self.repeat}", rule, fmt(self.HEADER), rule]
            + [fmt(c) for c in cells[:-1]] + [rule, fmt(cells[-1])])

    def to_markdown(self):
        lines = ["| " + " | ".join(self.HEADER) + " |", "|---|---|" + "---:|" * 5]
        lines += ["| " + " | ".join(c) + " |" for c in self._cells()]
        return "\n".join(lines) + "\n"


def profile(model, x, repeat=3, warmup=1, memory=True, loss_fn=None):
    """Forward and backward time and peak memory of every leaf layer of ``model`` on the
    batch ``x`` (a Tensor on the model's device: NumPy arrays on the CPU, CuPy on the GPU).

    ``loss_fn(output) -> scalar Tensor`` is differentiated if given; otherwise the
    gradient of the sum of the outputs. See the module docstring for the method.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"profile: expected the input batch as a Tensor, got "
                        f"{type(x).__name__}")
    if repeat < 1 or warmup < 0:
        raise ValueError(f"profile: expected repeat >= 1 and warmup >= 0, got repeat={repeat}, "
                         f"warmup={warmup}")
    device = x.device
    for name, p in model.named_parameters():
        if p.device != device:
            raise ValueError(f"profile: the input is on {device} but parameter {name} is on "
                             f"{p.device}")

    runs = []
    types, counts = {}, {}
    with _kept_state(model), _timed_layers(model) as layers:
        for i in range(warmup + repeat):
            meter = _Meter(device)
            t_fwd, t_bwd, _, _, calls = _one_step(model, x, loss_fn, meter, layers)
            if i == warmup:                 # the first timed run names the rows
                for c in calls:
                    types.setdefault(c.name, c.type)
                    counts[c.name] = counts.get(c.name, 0) + 1
            if i >= warmup:
                runs.append((meter, t_fwd, t_bwd))
        peaks = None
        if memory:
            tracker = _HostMemory() if device == "cpu" else device_memory_meter()
            with tracker:
                meter = _Meter(device, tracker)
                _, _, p_fwd, p_bwd, _ = _one_step(model, x, loss_fn, meter, layers)
            peaks = (meter.peaks, p_fwd, p_bwd)

    def median_ms(values):
        return float(np.median(values)) * 1e3

    rows = []
    fwd_total = median_ms([t for _, t, _ in runs])
    bwd_total = median_ms([t for _, _, t in runs])
    for name, type_ in types.items():
        f = median_ms([m.times["forward"].get(name, 0.0) for m, _, _ in runs])
        b = median_ms([m.times["backward"].get(name, 0.0) for m, _, _ in runs])
        fp = peaks[0]["forward"].get(name, 0) if peaks else None
        bp = peaks[0]["backward"].get(name, 0) if peaks else None
        rows.append(ProfileRow(name, type_, counts[name], f, b, fp, bp))
    in_layers_f = sum(r.forward_ms for r in rows)
    in_layers_b = sum(r.backward_ms for r in rows)
    rows.append(ProfileRow(OUTSIDE, "", 0, max(fwd_total - in_layers_f, 0.0),
                           max(bwd_total - in_layers_b, 0.0),
                           None, peaks[0]["backward"].get(OUTSIDE, 0) if peaks else None))
    return Profile(type(model).__name__, tuple(x.shape), device, backend.get_kernels(),
                   repeat, rows, fwd_total, bwd_total,
                   peaks[1] if peaks else None, peaks[2] if peaks else None)
