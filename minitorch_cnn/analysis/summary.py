"""``summary(model)``: every layer's output shape, parameters, multiply-accumulates and
memory, and the totals that say how big, how slow and how hungry a network is.

How it is computed
    One real forward pass in eval mode with a random batch (``batch_size`` images of
    ``input_size``) and autograd recording, as in training. A forward hook on every leaf
    layer records its output; the MACs follow from the layer's hyper-parameters and its
    output shape; the memory the backward pass will need is read off the recorded graph,
    and so is each conv's algorithm (the fast-path unit that ran it, or "im2col", the
    story of functional/conv.py, under set_kernels("reference")).
    (VGG-16 at 224x224 is 15.5 GMACs: a few seconds on a CPU.)

Conventions
    MACs        one multiply-accumulate (``a*b + c``) counts as 1 MAC. Only convolutions
                and linear layers are counted -- the convention behind torchvision's
                published "GFLOPS" (which are really GMACs: vgg16 15.47, resnet50 4.09).
                BatchNorm, activations, pooling and additions cost a few operations per
                activation, small next to the convolutions, and are left out.
                    Conv2d:  N * C_out * OH * OW * (C_in / groups) * KH * KW
                    Linear:  (rows of the output) * in_features * out_features
                Biases are not counted (one add per output).
    activations the bytes of every leaf layer's output, summed: what a forward pass
                writes (each layer once; the input image is not included).
    training    an estimate of the memory one training step needs:
                    parameters + gradients (one per trainable parameter)
                  + optimizer state (0, 1 or 2 arrays per trainable parameter for SGD,
                    SGD with momentum / RMSprop, Adam)
                  + buffers (BatchNorm running statistics)
                  + the activations the graph keeps for backward.
                The last term is measured, not guessed: after the forward pass, every
                array the recorded graph holds -- what each op saved for its backward,
                and the input tensors each op keeps a reference to -- is counted once
                (views share their base's memory), parameters excluded. It is read on
                the eval-mode graph; in training, Dropout also keeps its mask. Not
                counted: the gradient arrays and scratch buffers that exist only while
                backward runs (``profile`` measures those peaks), so this is a floor,
                not a ceiling.
"""
import csv
import io

import numpy as np

from .. import backend, nn
from ..autograd import enable_grad
from ..tensor import Tensor
from ._graph import (arrays_held, assign_ops, eval_mode, graph_ops, record_layer_calls,
                     storage, tensors_in)

__all__ = ["summary", "Summary", "LayerRow", "OPTIMIZER_STATE", "count_macs", "compare",
           "Comparison", "build_for_counting", "format_count", "format_bytes"]

# arrays of state an optimizer keeps per trainable parameter
OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adam": 2, "adamw": 2}


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def count_macs(module, output):
    """Multiply-accumulates of one call of ``module`` that produced ``output``
    (conv and linear layers; 0 for every other layer)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = _pair(module.kernel_size)
        # every output value is a dot product of length (C_in / groups) * KH * KW
        return int(output.data.size) * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return int(output.data.size) * module.in_features
    return 0


class LayerRow:
    """One line of the table: a call of a leaf layer.

    ``kept_bytes`` is the memory this layer's ops keep alive for backward that no
    earlier layer already keeps (its saved arrays and referenced inputs).
    """

    __slots__ = ("name", "type", "output_shape", "params", "macs", "activation_bytes",
                 "kept_bytes", "algorithm")

    def __init__(self, name, type, output_shape, params, macs, activation_bytes, kept_bytes,
                 algorithm=""):
        self.name, self.type, self.output_shape = name, type, output_shape
        self.params, self.macs = params, macs
        self.activation_bytes, self.kept_bytes = activation_bytes, kept_bytes
        self.algorithm = algorithm     # how a conv ran: str(fast.Plan), "winograd F(4x4)"

    def __repr__(self):
        return (f"LayerRow({self.name!r}, {self.type}, out={self.output_shape}, "
                f"params={self.params}, macs={self.macs})")


def format_count(n):
    """1234 -> '1.23K', 15466189824 -> '15.47G'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def format_bytes(n):
    """Bytes in binary units: 1536 -> '1.50 KiB'."""
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def _shape_str(shape):
    if shape and isinstance(shape[0], tuple):            # a layer with several outputs
        return " ".join(_shape_str(s) for s in shape)
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _shape_csv(shape):
    if shape and isinstance(shape[0], tuple):
        return " ".join(_shape_csv(s) for s in shape)
    return "x".join(str(d) for d in shape)


class Summary:
    """The result of ``summary``: ``rows`` (one ``LayerRow`` per leaf-layer call) and
    totals. ``print(s)`` shows the table; ``to_markdown()`` and ``to_csv()`` export it."""

    def __init__(self, model_name, input_shape, dtype, rows, outside_kept_bytes,
                 total_params, trainable_params, param_bytes, trainable_bytes, buffer_bytes,
                 kept_bytes, optimizer):
        self.model_name, self.input_shape, self.dtype = model_name, input_shape, dtype
        self.rows = rows
        self.outside_kept_bytes = outside_kept_bytes
        self.total_params, self.trainable_params = total_params, trainable_params
        self.param_bytes, self.trainable_bytes = param_bytes, trainable_bytes
        self.buffer_bytes, self.kept_bytes = buffer_bytes, kept_bytes
        self.optimizer = optimizer

    # ------------------------------------------------------------------ totals
    @property
    def total_macs(self):
        return sum(r.macs for r in self.rows)

    @property
    def activation_bytes(self):
        """Forward activation memory: the outputs of all leaf layers, summed."""
        return sum(r.activation_bytes for r in self.rows)

    @property
    def optimizer_bytes(self):
        return OPTIMIZER_STATE[self.optimizer] * self.trainable_bytes

    @property
    def training_bytes(self):
        """parameters + gradients + optimizer state + buffers + activations kept for
        backward (see the module docstring for what is and is not counted)."""
        return (self.param_bytes + self.trainable_bytes + self.optimizer_bytes
                + self.buffer_bytes + self.kept_bytes)

    def row(self, name):
        """The first row of the layer called ``name``."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"summary of {self.model_name} has no layer named {name!r}")

    # ---------------------------------------------------------------- printing
    HEADER = ("Layer", "Type", "Algorithm", "Output shape", "Params", "MACs", "Activations",
              "Kept for bwd")

    def _cells(self):
        body = [(r.name, r.type, r.algorithm or "-", _shape_str(r.output_shape),
                 f"{r.params:,}", format_count(r.macs) if r.macs else "-",
                 format_bytes(r.activation_bytes), format_bytes(r.kept_bytes))
                for r in self.rows]
        if self.outside_kept_bytes:
            body.append(("(ops outside layers)", "", "", "", "", "", "",
                         format_bytes(self.outside_kept_bytes)))
        return body

    def totals_lines(self):
        opt = {"sgd": "SGD", "momentum": "SGD with momentum", "rmsprop": "RMSprop",
               "adam": "Adam", "adamw": "AdamW"}[self.optimizer]
        return [
            f"Input: {_shape_str(self.input_shape)} {self.dtype}",
            f"Parameters: {self.total_params:,} ({self.trainable_params:,} trainable), "
            f"{format_bytes(self.param_bytes)}",
            f"MACs: {format_count(self.total_macs)} (conv + linear; 1 multiply-add = 1 MAC)",
            f"Forward activations: {format_bytes(self.activation_bytes)} "
            f"(outputs of all layers)",
            f"Kept for backward: {format_bytes(self.kept_bytes)} (measured on the graph)",
            f"Training memory estimate ({opt}): {format_bytes(self.training_bytes)} = "
            f"params {format_bytes(self.param_bytes)} + grads "
            f"{format_bytes(self.trainable_bytes)} + optimizer "
            f"{format_bytes(self.optimizer_bytes)} + buffers "
            f"{format_bytes(self.buffer_bytes)} + kept activations "
            f"{format_bytes(self.kept_bytes)}",
        ]

    def __str__(self):
        cells = self._cells()
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
                  for i, h in enumerate(self.HEADER)]
        left = (True, True, True, True, False, False, False, False)

        def fmt(row):
            return "  ".join(c.ljust(w) if l else c.rjust(w)
                             for c, w, l in zip(row, widths, left)).rstrip()

        rule = "-" * len(fmt(self.HEADER))
        lines = [f"{self.model_name} summary", rule, fmt(self.HEADER), rule]
        lines += [fmt(c) for c in cells]
        lines += [rule] + self.totals_lines()
        return "\n".join(lines)

    def __repr__(self):
        return (f"<Summary {self.model_name}: {self.total_params:,} params, "
                f"{format_count(self.total_macs)} MACs>")

    def to_markdown(self):
        """The table as GitHub markdown, followed by the totals as a list."""
        lines = ["| " + " | ".join(self.HEADER) + " |",
                 "|" + "|".join(["---"] * 4 + ["---:"] * 4) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                  for row in self._cells()]
        lines.append("")
        lines += [f"- {t}" for t in self.totals_lines()]
        return "\n".join(lines) + "\n"

    def to_csv(self, path=None):
        """Rows with raw numbers (bytes, MACs) and a final ``total`` row. Returns the
        CSV text; also writes it to ``path`` when one is given."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["name", "type", "algorithm", "output_shape", "params", "macs",
                    "activation_bytes", "kept_bytes"])
        for r in self.rows:
            w.writerow([r.name, r.type, r.algorithm, _shape_csv(r.output_shape), r.params,
                        r.macs, r.activation_bytes, r.kept_bytes])
        if self.outside_kept_bytes:
            w.writerow(["(ops outside layers)", "", "", "", 0, 0, 0, self.outside_kept_bytes])
        w.writerow(["total", "", "", "", self.total_params, self.total_macs,
                    self.activation_bytes, self.kept_bytes])
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", newline="") as f:
                f.write(text)
        return text


def _check_device(model, device):
    for name, p in model.named_parameters():
        if p.device != device:
            raise ValueError(f"summary: parameter {name} of {type(model).__name__} is on "
                             f"{p.device}, but device={device!r} was asked for; move the "
                             f"model with model.to({device!r}) or pass device={p.device!r}")


def random_input(model, input_size, batch_size, device, dtype=None):
    """A fixed random batch (its own generator: the global seed is left alone) with the
    dtype of the model's parameters."""
    input_size = tuple(int(d) for d in input_size)
    if batch_size < 1 or not input_size or min(input_size) < 1:
        raise ValueError(f"expected a positive batch_size and input_size such as "
                         f"(3, 224, 224), got batch_size={batch_size}, input_size={input_size}")
    if dtype is None:
        p = next(iter(model.parameters()), None)
        dtype = p.dtype if p is not None else backend.get_default_dtype()
    a = np.random.default_rng(0).standard_normal((batch_size,) + input_size).astype(dtype)
    return Tensor(backend.to_device(a, device))


def build_for_counting(name, **kwargs):
    """Zoo model ``name`` with every weight set to a constant: shapes, parameter counts,
    MACs, memory and receptive fields do not depend on the values, and skipping the
    random initialisation saves seconds (VGG-16 would draw 138M random numbers)."""
    from ..models import create
    from ..nn.init import skip_init
    model = skip_init(create, name, **kwargs)
    for t in list(model.parameters()) + list(model.buffers()):
        t.data[...] = 0.01 if t.dtype.kind == "f" else 1     # running_var > 0: no NaNs
    return model


def summary(model, input_size=(3, 224, 224), batch_size=1, device="cpu", optimizer="momentum"):
    """Layer-by-layer table of a model: output shapes, parameters, MACs and memory.

    ``model`` is a Module, or the name of a zoo builder (built with constant weights by
    ``build_for_counting``). ``input_size`` is one sample's shape (C, H, W);
    ``batch_size`` images go through the model once (eval mode, graph recorded as in
    training; the model's modes are restored afterwards). ``optimizer`` ('sgd',
    'momentum', 'rmsprop', 'adam', 'adamw') sets the optimizer state in the
    training-memory estimate. See the module docstring for the conventions
    (1 multiply-add = 1 MAC, conv and linear layers only).
    """
    if isinstance(model, str):
        model = build_for_counting(model)
    if optimizer not in OPTIMIZER_STATE:
        raise ValueError(f"summary: optimizer must be one of {', '.join(OPTIMIZER_STATE)}, "
                         f"got {optimizer!r}")
    device = backend.normalize_device(device)
    _check_device(model, device)
    x = random_input(model, input_size, batch_size, device)

    with eval_mode(model), enable_grad(), record_layer_calls(model) as calls:
        out = model(x)
    if not tensors_in(out):
        raise TypeError(f"summary: {type(model).__name__} returned {type(out).__name__}, "
                        f"expected a Tensor (or tuple of Tensors)")

    params = list(model.parameters())
    buffers = list(model.buffers())
    own = {id(storage(t.data)) for t in params + buffers}   # counted as params/buffers

    # activations kept for backward: every array the graph holds, each storage once,
    # first claimed by the layer whose op holds it (in forward order)
    owner = assign_ops(calls)
    kept = {c.index: 0 for c in calls}
    algorithm = {}                 # a conv op records the plan it ran (fast.choose_conv)
    outside, seen = 0, set(own)
    for fn in graph_ops(out):
        call = owner.get(id(fn))
        if call is not None and getattr(fn, "plan", None) is not None:
            algorithm[call.index] = str(fn.plan)
        for a in arrays_held(fn):
            base = storage(a)
            if id(base) in seen:
                continue
            seen.add(id(base))
            if call is None:
                outside += base.nbytes
            else:
                kept[call.index] += base.nbytes

    rows = []
    for c in calls:
        outs = c.output_tensors()
        shape = tuple(outs[0].shape) if len(outs) == 1 else tuple(tuple(t.shape) for t in outs)
        n_params = sum(int(p.data.size) for p in c.module.parameters(recurse=False))
        macs = count_macs(c.module, outs[0]) if len(outs) == 1 else 0
        rows.append(LayerRow(c.name, c.type, shape, n_params, macs,
                             sum(int(t.data.nbytes) for t in outs), kept[c.index],
                             algorithm.get(c.index, "")))

    trainable = [p for p in params if p.requires_grad]
    return Summary(
        model_name=type(model).__name__, input_shape=tuple(x.shape), dtype=str(x.dtype),
        rows=rows, outside_kept_bytes=outside,
        total_params=sum(int(p.data.size) for p in params),
        trainable_params=sum(int(p.data.size) for p in trainable),
        param_bytes=sum(int(p.data.nbytes) for p in params),
        trainable_bytes=sum(int(p.data.nbytes) for p in trainable),
        buffer_bytes=sum(int(b.data.nbytes) for b in buffers),
        kept_bytes=sum(kept.values()) + outside, optimizer=optimizer)


# ---------------------------------------------------------------------- comparison
class Comparison:
    """Several models side by side: one ``Summary`` per model (``summaries``), printed
    as one table of parameters, MACs, memory and, where one is published (see
    ``published.py``), the ImageNet top-1 accuracy."""

    HEADER = ("Model", "Params", "MACs", "Activations", "Training memory", "Top-1")

    def __init__(self, names, summaries):
        self.names, self.summaries = list(names), list(summaries)

    def _cells(self):
        from .published import IMAGENET
        return [(n, f"{s.total_params:,}", format_count(s.total_macs),
                 format_bytes(s.activation_bytes), format_bytes(s.training_bytes),
                 f"{IMAGENET[n].top1:.1f}%" if n in IMAGENET else "-")
                for n, s in zip(self.names, self.summaries)]

    def __str__(self):
        cells = self._cells()
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(self.HEADER)]
        fmt = lambda row: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                    for i, (c, w) in enumerate(zip(row, widths)))
        s = self.summaries[0]
        return "\n".join([fmt(self.HEADER), "-" * len(fmt(self.HEADER))]
                         + [fmt(c) for c in cells]
                         + [f"input {_shape_str(s.input_shape)} {s.dtype}; MACs count conv "
                            f"+ linear layers, 1 multiply-add = 1 MAC; training memory "
                            f"with {s.optimizer}"])

    def to_markdown(self):
        lines = ["| " + " | ".join(self.HEADER) + " |", "|---|" + "---:|" * 5]
        lines += ["| " + " | ".join(c) + " |" for c in self._cells()]
        return "\n".join(lines) + "\n"


def compare(models, input_size=(3, 224, 224), batch_size=1, device="cpu",
            optimizer="momentum"):
    """``compare({"vgg16": m1, "resnet50": m2})``, or a list of zoo builder names (built
    by ``build_for_counting``): a ``Comparison`` of their summaries at one input size."""
    if isinstance(models, dict):
        items = list(models.items())
    else:
        items = [(name, build_for_counting(name)) for name in models]
    if not items:
        raise ValueError("compare: expected at least one model")
    return Comparison([n for n, _ in items],
                      [summary(m, input_size, batch_size, device, optimizer)
                       for _, m in items])
