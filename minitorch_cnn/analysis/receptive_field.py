"""Receptive fields: which input pixels can influence one unit of a feature map.

Theoretical receptive field (``receptive_field``)
    Along each spatial axis a feature map is described by three numbers (Araujo et al.,
    "Computing receptive fields of convolutional neural networks", Distill 2019):
        r      the receptive field size: how many input pixels one unit sees,
        j      the jump: the distance in input pixels between two neighbouring units
               (the product of the strides so far),
        start  the input coordinate of the centre of the first unit's field
               (0 = centre of the first pixel; padding can make it negative).
    A layer with kernel k, stride s, padding p and dilation d (effective kernel
    k_e = d (k - 1) + 1) maps them as
        r' = r + (k_e - 1) j        j' = j s        start' = start + ((k_e - 1)/2 - p) j
    so two stacked 3x3 convs see 5x5 pixels and three see 7x7: the fields grow by
    (k_e - 1) j per layer, and strides make every later layer grow faster.

    How branches are handled: the (r, j, start) of every tensor is propagated along the
    autograd graph itself. One forward pass records the graph, with hooks noting the
    kernel/stride/padding/dilation of every conv and pooling layer; the ops are then
    visited in forward order and each output tensor gets
      * the formula above, for the output of a conv or pooling layer;
      * the union of its inputs' fields, for every other op: an element-wise op, a
        residual addition or a channel concatenation sees everything any of its inputs
        saw (for centred paths this is the max of r over the paths);
      * the whole input map, for an op that turns a spatial map into a vector or a 1x1
        map (flatten, global pooling);
      * a global context, for an op that broadcasts such a map-wide value back over a
        map (the product with a squeeze-and-excitation gate): every unit then sees the
        whole image on top of its local field, and its r spans the input.
    Following the graph, rather than the module list, is what makes Inception branches,
    residual shortcuts and dense concatenations come out right without any knowledge
    of the architecture. A spatial change made outside a known layer is assumed to be
    pooling by the same integer factor (an upper bound), with a warning.

    Fields are not clipped to the image: VGG-16's last conv (conv5_3) has r = 196 and
    its last pool r = 212, and its first fc layer, which sees the whole 7x7 map, has a
    theoretical 404x404 window at 224x224 that reaches far into the zero padding.

Effective receptive field (``effective_receptive_field``)
    Luo et al. (NeurIPS 2016): the gradient of one central output unit with respect to
    the input, |d y_center / d x|, summed over channels and averaged over random inputs.
    It is non-zero only inside the theoretical field, and it is not uniform there: it
    looks Gaussian, concentrated in the middle, and occupies a fraction of the
    theoretical field that shrinks as depth grows.
"""
import math
import warnings

import numpy as np

from .. import backend, nn
from ..autograd import GraphEdge, enable_grad
from ..functional.geometry import pair
from ..tensor import Tensor
from ._graph import assign_ops, eval_mode, graph_ops, record_layer_calls, tensors_in
from .summary import build_for_counting, random_input

__all__ = ["receptive_field", "ReceptiveField", "RFRow", "effective_receptive_field",
           "EffectiveRF"]


def _pair(v):
    return pair(v, "size", "receptive_field")


class _Field:
    """What the units of one tensor see, along H and W.

    ``r``, ``j``, ``start``: the local, translation-invariant part (module docstring);
    ``size``: the spatial size (H, W), None for a tensor without spatial axes;
    ``context``: per axis an input interval (first, last) that every unit sees on top of
    its local field, or None. It is the global context that a map-wide statistic
    broadcast back over the map brings in -- a squeeze-and-excitation gate: after one,
    every unit depends on the whole image, whatever its local field.
    """

    __slots__ = ("r", "j", "start", "size", "context")

    def __init__(self, r, j, start, size, context=None):
        self.r, self.j, self.start = tuple(r), tuple(j), tuple(start)
        self.size, self.context = size, context

    def interval(self, axis, i):
        """Input coordinates (first, last) seen by unit ``i`` along ``axis``."""
        centre = self.start[axis] + i * self.j[axis]
        lo, hi = centre - (self.r[axis] - 1) / 2, centre + (self.r[axis] - 1) / 2
        if self.context is not None:
            lo, hi = min(lo, self.context[axis][0]), max(hi, self.context[axis][1])
        return lo, hi

    def whole(self, axis):
        """Input coordinates (first, last) seen by any unit of the map."""
        n = self.size[axis] if self.size is not None else 1
        return self.interval(axis, 0)[0], self.interval(axis, n - 1)[1]


def _spatial(t):
    return tuple(t.shape[2:]) if t.ndim == 4 else None


def _through_layer(f, geometry, size):
    """The formula of the module docstring, axis by axis: geometry is (k, s, p, d) per
    axis. A context is kept: each output unit sees input units that all see it."""
    r, j, start = [], [], []
    for axis, (k, s, p, d) in enumerate(geometry):
        ke = d * (k - 1) + 1
        r.append(f.r[axis] + (ke - 1) * f.j[axis])
        start.append(f.start[axis] + ((ke - 1) / 2 - p) * f.j[axis])
        j.append(f.j[axis] * s)
    return _Field(r, j, start, size, f.context)


def _global(f, size):
    """Every unit of the output sees every unit of the input (flatten, global pooling):
    a pool with k = s = the map's size."""
    if f.size is None:
        return _Field(f.r, f.j, f.start, size, f.context)
    return _through_layer(f, [(n, n, 0, 1) for n in f.size], size)


def _union(fields, size):
    """An op that combines its inputs unit by unit (addition, product, concatenation).

    Inputs with the output's map size: an output unit sees what the matching input
    units see, so the local fields unite (for paths centred alike: the max of r), and
    the jump and alignment are theirs. Inputs spread over the whole map by broadcasting
    (a 1x1 gate, a vector) are seen in full by every unit: they join the context.
    """
    same = [f for f in fields if f.size == size] or fields
    spread = [f for f in fields if f not in same]
    r, start = [], []
    for axis in range(2):
        lo = min(f.start[axis] - (f.r[axis] - 1) / 2 for f in same)
        hi = max(f.start[axis] + (f.r[axis] - 1) / 2 for f in same)
        r.append(hi - lo + 1)
        start.append((lo + hi) / 2)
    seen = [f.context for f in same if f.context is not None]
    seen += [tuple(f.whole(axis) for axis in range(2)) for f in spread]
    context = None
    if seen:
        context = tuple((min(c[axis][0] for c in seen), max(c[axis][1] for c in seen))
                        for axis in range(2))
    return _Field(r, same[0].j, start, size, context)


def _module_geometry(module, in_size, out_size):
    """(k, s, p, d) per axis for conv and pooling layers, None for other layers."""
    if isinstance(module, nn.Conv2d):
        k, s, d = _pair(module.kernel_size), _pair(module.stride), _pair(module.dilation)
        if module.padding == "same":          # total padding d (k - 1), the smaller half first
            p = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
        elif module.padding == "valid":
            p = (0, 0)
        else:
            p = _pair(module.padding)
        return list(zip(k, s, p, d))
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k = _pair(module.kernel_size)
        s = _pair(module.stride if module.stride is not None else module.kernel_size)
        d = _pair(getattr(module, "dilation", 1))   # AvgPool2d has no dilation
        return list(zip(k, s, _pair(module.padding), d))
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return [_adaptive_window(n_in, n_out) for n_in, n_out in zip(in_size, out_size)]
    return None


def _adaptive_window(n_in, n_out):
    """Adaptive pooling averages input cells [floor(i n_in / n_out), ceil((i+1) n_in / n_out)).
    When n_out divides n_in that is a pool with k = s = n_in / n_out (exact). Otherwise
    the windows vary: k is the largest window (an upper bound for r), the stride is the
    mean distance between the first and last window centres (0 when a 1x1 map is copied
    to 7x7, as VGG's pool does on small inputs) and the padding only moves the first
    centre to where the first window really is."""
    if n_in % n_out == 0:
        k = n_in // n_out
        return (k, k, 0, 1)
    lo = [(i * n_in) // n_out for i in range(n_out)]
    hi = [-(-(i + 1) * n_in // n_out) for i in range(n_out)]        # ceil division
    k = max(h - l for l, h in zip(lo, hi))
    first, last = (lo[0] + hi[0] - 1) / 2, (lo[-1] + hi[-1] - 1) / 2
    return (k, (last - first) / (n_out - 1), (k - 1) / 2 - first, 1)


def _propagate(model, x):
    """Forward ``x`` once (eval mode, graph recorded) and give every tensor of the graph
    its field. Returns (output, leaf-layer calls, field_of(tensor))."""
    with eval_mode(model), enable_grad(), record_layer_calls(model) as calls:
        out = model(x)
    owner = assign_ops(calls)
    # the output op of each conv/pool call, and the ops inside those calls (skipped)
    geometry_of, inside = {}, set()
    for c in calls:
        outs = c.output_tensors()
        if len(outs) != 1 or not c.inputs or outs[0].grad_fn is None:
            continue
        geo = _module_geometry(c.module, _spatial(c.inputs[0]), _spatial(outs[0]))
        if geo is not None:
            geometry_of[id(outs[0].grad_fn)] = (c, geo)
    spatial_calls = {c.index for c, _ in geometry_of.values()}
    for fn_id, c in owner.items():
        if c.index in spatial_calls and fn_id not in geometry_of:
            inside.add(fn_id)

    # the shape of each op's output, read from the tensors that carry it
    shape_of = {}
    for fn in graph_ops(out):
        for t in fn.inputs or ():                 # Tensors, or GraphEdges of freed ones
            if isinstance(t, (Tensor, GraphEdge)) and t.grad_fn is not None:
                shape_of[id(t.grad_fn)] = tuple(t.shape)
    for t in tensors_in(out) + [t for c in calls for t in c.output_tensors()]:
        if t.grad_fn is not None:
            shape_of[id(t.grad_fn)] = tuple(t.shape)

    start_field = _Field((1, 1), (1, 1), (0.0, 0.0), _spatial(x))
    fields = {}

    def field_of(t):
        if t is x:
            return start_field
        if t.grad_fn is not None and id(t.grad_fn) in fields:
            return fields[id(t.grad_fn)]
        return None                               # a weight or a constant: no field

    for fn in graph_ops(out):
        if id(fn) in inside:
            continue
        shape = shape_of[id(fn)]
        size = shape[2:] if len(shape) == 4 else None
        if id(fn) in geometry_of:
            call, geo = geometry_of[id(fn)]
            fields[id(fn)] = _through_layer(field_of(call.inputs[0]), geo, size)
            continue
        ins = [f for f in (field_of(t) for t in fn.inputs or ()
                           if isinstance(t, (Tensor, GraphEdge)))
               if f is not None]
        if not ins:
            continue
        if size is None or size == (1, 1):
            # a map becomes a vector or a 1x1 map: every unit sees every input unit
            fields[id(fn)] = _union([_global(f, size) for f in ins], size)
        elif all(f.size in (size, (1, 1), None) for f in ins):
            fields[id(fn)] = _union(ins, size)
        else:
            fields[id(fn)] = _unknown_resize(fn, [f for f in ins if f.size is not None], size)
    return out, calls, field_of


def _unknown_resize(fn, ins, size):
    """A spatial size changed by an op that is not a known layer (functional pooling,
    slicing, padding): assume pooling by the integer factor, or symmetric padding."""
    f = max(ins, key=lambda f: f.size)
    geo = []
    for n_in, n_out in zip(f.size, size):
        if n_out > n_in:                              # padding: same field, shifted start
            geo.append((1, 1, (n_out - n_in) // 2, 1))
        elif n_in % n_out == 0:
            geo.append((n_in // n_out, n_in // n_out, 0, 1))
        else:
            raise ValueError(f"receptive_field: op {type(fn).__name__} maps a {f.size} map "
                             f"to {size} outside any Conv2d/pooling layer; its kernel and "
                             f"stride cannot be inferred (wrap it in a layer)")
    warnings.warn(f"receptive_field: op {type(fn).__name__} changes the map from {f.size} "
                  f"to {size} outside a Conv2d/pooling layer; assuming geometry "
                  f"(kernel, stride, padding) = {[g[:3] for g in geo]}", stacklevel=3)
    return _through_layer(f, geo, size)


def _num(v):
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def _pair_str(p):
    return _num(p[0]) if p[0] == p[1] else f"{_num(p[0])}x{_num(p[1])}"


class RFRow:
    """The receptive field of one tensor (a leaf layer's output).

    ``r``: the field size (H, W) of the unit at the centre of the map, in input pixels;
    ``j``, ``start``: jump and start of the local field (module docstring);
    ``global_context``: True when every unit also sees a map-wide statistic (after a
    squeeze-and-excitation gate), which makes ``r`` span the whole input.
    """

    __slots__ = ("name", "type", "output_shape", "field", "r", "j", "start", "global_context")

    def __init__(self, name, type, output_shape, field):
        self.name, self.type, self.output_shape, self.field = name, type, output_shape, field
        centre = [n // 2 for n in field.size] if field.size is not None else [0, 0]
        self.r = tuple(int(round(hi - lo + 1)) for lo, hi in
                       (field.interval(axis, centre[axis]) for axis in range(2)))
        self.j = tuple(int(v) if float(v).is_integer() else v for v in field.j)
        self.start = field.start
        self.global_context = field.context is not None

    def region(self, i=0, k=0):
        """Input rows and columns (first, last), inclusive and unclipped, seen by the unit
        at row ``i``, column ``k`` of this layer's map."""
        return tuple((int(math.floor(lo)), int(math.ceil(hi)))
                     for lo, hi in (self.field.interval(axis, idx)
                                    for axis, idx in enumerate((i, k))))

    def __repr__(self):
        return (f"RFRow({self.name!r}, r={self.r}, j={self.j}, start={self.start}"
                f"{', global context' if self.global_context else ''})")


class ReceptiveField:
    """The result of ``receptive_field``: one ``RFRow`` per leaf-layer call, and
    ``output``, the field of the model's output (which may come from an op after the
    last layer, e.g. the concatenation closing an Inception module)."""

    HEADER = ("Layer", "Type", "Output shape", "r", "j", "start")

    def __init__(self, model_name, input_shape, rows, output):
        self.model_name, self.input_shape = model_name, input_shape
        self.rows, self.output = rows, output

    def row(self, name):
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"receptive field of {self.model_name} has no layer named {name!r}")

    @property
    def last(self):
        return self.rows[-1]

    def _cells(self):
        rows = self.rows + ([self.output] if self.output is not None else [])
        return [(r.name, r.type, "(" + ", ".join(map(str, r.output_shape)) + ")",
                 _pair_str(r.r) + ("*" if r.global_context else ""), _pair_str(r.j),
                 _pair_str(tuple(round(v, 1) for v in r.start))) for r in rows]

    def __str__(self):
        cells = self._cells()
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(self.HEADER)]
        fmt = lambda row: "  ".join(c.ljust(w) if i < 3 else c.rjust(w)  # noqa: E731
                                    for i, (c, w) in enumerate(zip(row, widths))).rstrip()
        rule = "-" * len(fmt(self.HEADER))
        body = [fmt(c) for c in cells]
        if self.output is not None:
            body.insert(len(self.rows), rule)
        return "\n".join([f"{self.model_name} receptive fields, input {self.input_shape}",
                          rule, fmt(self.HEADER), rule] + body +
                         [rule, "r: field of the centre unit in input pixels (*: includes "
                          "the global context of a squeeze-and-excitation gate); j: jump "
                          "(product of strides); start: centre of the first unit's local "
                          "field (pixel 0 = first pixel's centre)"])

    def to_markdown(self):
        lines = ["| " + " | ".join(self.HEADER) + " |", "|---|---|---|---:|---:|---:|"]
        lines += ["| " + " | ".join(c) + " |" for c in self._cells()]
        return "\n".join(lines) + "\n"


def receptive_field(model, input_size=(3, 224, 224), device="cpu"):
    """Receptive field size r, jump j and start of every leaf layer's output, through
    branches and residual additions (see the module docstring for the method).
    ``model``: a Module or the name of a zoo builder."""
    if isinstance(model, str):
        model = build_for_counting(model)
    device = backend.normalize_device(device)
    x = random_input(model, input_size, 1, device)
    x.requires_grad_(True)                  # so that every op after the input is recorded
    out, calls, field_of = _propagate(model, x)
    rows = []
    for c in calls:
        outs = c.output_tensors()
        if len(outs) == 1 and field_of(outs[0]) is not None:
            rows.append(RFRow(c.name, c.type, tuple(outs[0].shape), field_of(outs[0])))
    outs = [t for t in tensors_in(out) if field_of(t) is not None]
    output = RFRow("(model output)", "", tuple(outs[0].shape), field_of(outs[0])) \
        if outs else None
    return ReceptiveField(type(model).__name__, tuple(x.shape), rows, output)


class EffectiveRF:
    """The result of ``effective_receptive_field``.

    ``heatmap`` (H, W): mean over samples of |d y_center / d x| summed over input
    channels; ``center``: the (row, col) of the output unit; ``region``: the rows and
    columns (first, last) of its theoretical field, clipped to the image;
    ``theoretical``: the ``RFRow`` of the chosen layer.
    """

    def __init__(self, heatmap, center, layer, theoretical, region):
        self.heatmap, self.center, self.layer = heatmap, center, layer
        self.theoretical, self.region = theoretical, region

    def inside_mask(self):
        """Boolean (H, W) map of the pixels inside the theoretical field."""
        m = np.zeros(self.heatmap.shape, bool)
        (t, b), (l, r) = self.region
        m[t:b + 1, l:r + 1] = True
        return m

    @property
    def sigma(self):
        """Standard deviation (rows, cols) in pixels of the heatmap read as a
        distribution: the size of the effective field (Luo et al. find it grows like
        sqrt(depth) while the theoretical one grows like depth)."""
        w = self.heatmap / self.heatmap.sum()
        rows, cols = np.indices(w.shape)
        out = []
        for idx in (rows, cols):
            mean = (w * idx).sum()
            out.append(float(np.sqrt((w * (idx - mean) ** 2).sum())))
        return tuple(out)

    def plot(self, path=None):
        from .plots import effective_receptive_field_plot
        return effective_receptive_field_plot(self, path)

    def __repr__(self):
        return (f"<EffectiveRF of {self.layer}: heatmap {self.heatmap.shape}, centre "
                f"{self.center}, theoretical r={self.theoretical.r}>")


def effective_receptive_field(model, input_size=(3, 64, 64), layer=None, samples=8,
                              device="cpu"):
    """Luo et al.'s effective receptive field of the central unit of ``layer``.

    ``layer`` names any module (``model.named_modules()``); by default the last leaf
    layer with a spatial (N, C, H, W) output. ``samples`` random inputs are averaged.
    The model runs in eval mode so that BatchNorm does not mix the samples, and on the
    reference kernels: their im2col and col2im touch only the taps a window reads, so a
    pixel outside the field gets an exact 0 (the fast tier's Winograd F(4x4) would leave
    float rounding across its 6x6 tiles there).
    """
    device = backend.normalize_device(device)
    x = random_input(model, input_size, samples, device)
    x.requires_grad_(True)
    captured = []
    handle = None
    if layer is not None:
        modules = dict(model.named_modules())
        if layer not in modules:
            raise KeyError(f"effective_receptive_field: {type(model).__name__} has no module "
                           f"named {layer!r}")
        handle = modules[layer].register_forward_hook(
            lambda m, i, o: captured.append(o))
    with backend.use_kernels("reference"):
        try:
            _, calls, field_of = _propagate(model, x)
        finally:
            if handle is not None:
                handle.remove()
    if layer is None:
        spatial = [c for c in calls if len(c.output_tensors()) == 1
                   and c.output_tensors()[0].ndim == 4]
        if not spatial:
            raise ValueError(f"effective_receptive_field: {type(model).__name__} has no layer "
                             f"with a (N, C, H, W) output")
        target, layer = spatial[-1].output_tensors()[0], spatial[-1].name
    else:
        outs = tensors_in(captured[-1]) if captured else []
        if len(outs) != 1 or outs[0].ndim != 4:
            raise ValueError(f"effective_receptive_field: layer {layer!r} must output one "
                             f"(N, C, H, W) tensor, got "
                             f"{[tuple(t.shape) for t in outs] or type(captured[-1])}")
        target = outs[0]
    if target.grad_fn is None:
        raise ValueError(f"effective_receptive_field: the output of {layer!r} does not "
                         f"depend on the input")

    ci, ck = target.shape[2] // 2, target.shape[3] // 2
    g = target.xp.zeros(target.shape, target.dtype)
    g[:, :, ci, ck] = 1                      # d(sum over channels of y[:, :, ci, ck]) / dy
    with backend.use_kernels("reference"):
        target.backward(g)
    heat = backend.to_device(x.grad.data, "cpu")
    heatmap = np.abs(heat.astype(np.float64)).sum(axis=1).mean(axis=0)   # (H, W)

    theory = RFRow(layer, "", tuple(target.shape), field_of(target))
    (t, b), (l, r) = theory.region(ci, ck)
    h, w = heatmap.shape
    region = ((max(t, 0), min(b, h - 1)), (max(l, 0), min(r, w - 1)))
    return EffectiveRF(heatmap, (ci, ck), layer, theory, region)
