"""Plots that show what a network does: training curves, first-layer filters, feature
maps, gradient flow, effective receptive fields and the accuracy-vs-cost chart.

Every function builds a ``matplotlib.figure.Figure`` on the Agg canvas (no pyplot, no
global backend switch, no window), saves it as a PNG when given ``path`` and returns it.
"""
import csv
import json
import math
import os
import re

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .. import backend, nn
from ..autograd import no_grad
from ..tensor import Tensor
from ._graph import eval_mode, tensors_in

__all__ = ["training_curves", "first_layer_filters", "feature_maps", "gradient_norms",
           "gradient_flow", "effective_receptive_field_plot", "complexity_data",
           "complexity_chart", "place_labels"]


# tick labels as plain numbers on log axes: 0.5, 2, 10 (not 5 x 10^-1, 2 x 10^0, 10^1)
_PLAIN = FuncFormatter(lambda v, _: f"{v:g}")
# ... and between the decades only 2 and 5 x 10^k, so that the labels do not crowd
_PLAIN_MINOR = FuncFormatter(
    lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 5)
    else "")


def _figure(width, height):
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path):
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def _numpy(a):
    if isinstance(a, Tensor):
        a = a.data
    return np.asarray(backend.to_device(a, "cpu"))


def _mosaic(tiles, pad=1, fill=1.0):
    """Tiles (n, h, w) or (n, h, w, 3) laid out in a near-square grid with ``pad``-pixel
    borders of value ``fill``: one image, drawn with a single imshow."""
    n, h, w = tiles.shape[:3]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad) + tiles.shape[3:], fill,
                  dtype=np.float64)
    for i in range(n):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h,
            pad + c * (w + pad): pad + c * (w + pad) + w] = tiles[i]
    return out


def _normalise(a, axes):
    """Stretch each slice to [0, 1] (over ``axes``); a constant slice becomes 0.5."""
    lo = a.min(axis=axes, keepdims=True)
    span = a.max(axis=axes, keepdims=True) - lo
    return np.where(span > 0, (a - lo) / np.where(span > 0, span, 1), 0.5)


# ------------------------------------------------------------------ training curves
def _read_metrics(source):
    """A list of dicts from a list of dicts, a CSV file, a JSON list or JSON lines."""
    if not isinstance(source, (str, os.PathLike)):
        return [dict(r) for r in source]
    path = os.fspath(source)
    with open(path) as f:
        if path.endswith(".csv"):
            records = list(csv.DictReader(f))
        else:
            text = f.read().strip()
            records = json.loads(text) if text.startswith("[") else \
                [json.loads(line) for line in text.splitlines() if line.strip()]
    return records


def _as_float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _axis_label(label, keys, records):
    """The y label of a panel, with its unit: losses as they are, accuracies and errors
    in % if the values are, else as fractions (1 = every image)."""
    if label == "loss":
        return "loss (mean per image)"
    values = [_as_float(r.get(k)) for r in records for k in keys]
    top = max((v for v in values if not math.isnan(v)), default=0)
    return f"{label} ({'%' if top > 1.5 else 'fraction of images, 1 = all'})"


def training_curves(metrics, path=None, title=None):
    """Loss (left) and accuracy or error (right), train and validation, per epoch.

    ``metrics``: a list of dicts (one per epoch or step) or the path of a CSV/JSON file
    of them. Every column whose name contains "loss" goes to the left panel, every one
    containing "acc" or "err" to the right; the x axis is "epoch" (or "step") if present.
    ``title`` (say the model, the data and the learning rate) heads the figure. With a
    single record each curve is one labelled point and the x axis shows that one epoch,
    not a stretch of fractional ticks around it.
    """
    records = _read_metrics(metrics)
    if not records:
        raise ValueError("training_curves: no metrics to plot")
    keys = list(dict.fromkeys(k for r in records for k in r))
    xkey = next((k for k in ("epoch", "step", "iteration") if k in keys), None)
    x = [_as_float(r.get(xkey)) for r in records] if xkey else list(range(1, len(records) + 1))
    acc = [k for k in keys if "acc" in k.lower()]
    err = [k for k in keys if "err" in k.lower()]
    panels = [("loss", [k for k in keys if "loss" in k.lower()]),
              ("accuracy / error" if acc and err else "accuracy" if acc else "error",
               acc + err)]
    panels = [(label, ks) for label, ks in panels if ks]
    if not panels:
        raise ValueError(f"training_curves: no column with 'loss', 'acc' or 'err' in its name "
                         f"(columns: {keys})")
    single = len(set(x)) == 1
    fig = _figure(5.5 * len(panels), 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, ks) in zip(axes, panels):
        for k in ks:
            y = [_as_float(r.get(k)) for r in records]
            style = "--" if k.lower().startswith(("val", "test")) else "-"
            line, = ax.plot(x, y, style, marker="o" if len(x) <= 30 else None,
                            ms=6 if single else 3, label=k)
            if single and not math.isnan(y[0]):          # one point: say its value
                ax.annotate(f"{y[0]:.3g}", (x[0], y[0]), xytext=(8, 0),
                            textcoords="offset points", va="center", fontsize=8,
                            color=line.get_color())
        ax.set_xlabel(xkey or "record")
        if single:                  # one epoch: one tick, and the values against zero
            ax.set_xticks([x[0]])
            ax.set_xlim(x[0] - 1, x[0] + 1)
            ax.set_ylim(bottom=0)
            if label != "loss" and "%" not in _axis_label(label, ks, records):
                ax.set_ylim(0, 1.05)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))   # not 1.5
        ax.set_ylabel(_axis_label(label, ks, records))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title or f"training curves ({len(records)} "
                 f"{(xkey or 'record') + ('s' if len(records) != 1 else '')})")
    return _finish(fig, path)


# -------------------------------------------------------------------- filters, maps
def _first_conv_weight(model):
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return name, m.weight
    raise ValueError(f"first_layer_filters: {type(model).__name__} has no Conv2d layer")


def first_layer_filters(model, path=None, title=None):
    """The first convolution's filters as image tiles (the first Conv2d in registration
    order, or a weight array (C_out, C_in, KH, KW) given directly).

    RGB filters (C_in = 3) are shown in colour, each stretched to [0, 1] on its own --
    the edge, colour-blob and frequency detectors of AlexNet's Fig. 3 after training;
    noise before. Other channel counts are shown as the mean over input channels in grey.
    """
    if isinstance(model, nn.Module):
        name, w = _first_conv_weight(model)
    else:
        name, w = "weight", model
    w = _numpy(w).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"first_layer_filters: expected a conv weight (C_out, C_in, KH, KW), "
                         f"got shape {w.shape}")
    if w.shape[1] == 3:
        tiles = _normalise(w.transpose(0, 2, 3, 1), axes=(1, 2, 3))   # (C_out, KH, KW, 3)
        cmap, what = None, "RGB"
    else:
        tiles = _normalise(w.mean(axis=1), axes=(1, 2))              # (C_out, KH, KW)
        cmap, what = "gray", f"mean over {w.shape[1]} input channels"
    fig = _figure(6.6 if cmap else 6, 6)
    ax = fig.add_subplot()
    im = ax.imshow(_mosaic(tiles), cmap=cmap, interpolation="nearest", vmin=0, vmax=1)
    ax.set_axis_off()
    if cmap:                                        # grey: the scale each filter is drawn on
        fig.colorbar(im, ax=ax, shrink=0.6, ticks=[0, 1],
                     label="weight (each filter: min = 0, max = 1)")
    ax.set_title(title or f"{name}: {w.shape[0]} filters {w.shape[2]}x{w.shape[3]} ({what})")
    return _finish(fig, path)


def feature_maps(model, image, layer, path=None, max_maps=32):
    """The activations of ``layer`` (a name from ``model.named_modules()``) for one image
    (C, H, W) or (1, C, H, W): the image on the left, the first ``max_maps`` channels on
    the right, each channel stretched to its own range. The model runs in eval mode."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise KeyError(f"feature_maps: {type(model).__name__} has no module named {layer!r}; "
                       f"names look like {list(modules)[1:6]}")
    img = _numpy(image).astype(np.float64)
    if img.ndim == 3:
        img = img[None]
    if img.ndim != 4 or img.shape[0] != 1:
        raise ValueError(f"feature_maps: expected one image (C, H, W) or (1, C, H, W), got "
                         f"shape {img.shape}")
    p = next(iter(model.parameters()), None)
    x = Tensor(backend.to_device(img.astype(p.dtype if p is not None else np.float32),
                                 p.device if p is not None else "cpu"))
    captured = []
    handle = modules[layer].register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        with eval_mode(model), no_grad():
            model(x)
    finally:
        handle.remove()
    outs = tensors_in(captured[-1]) if captured else []
    if len(outs) != 1 or outs[0].ndim != 4:
        raise ValueError(f"feature_maps: layer {layer!r} must output one (N, C, H, W) map, got "
                         f"{[tuple(t.shape) for t in outs]}")
    maps = _numpy(outs[0])[0, :max_maps].astype(np.float64)          # (C, h, w)

    fig = _figure(11, 5)
    ax_img, ax_maps = fig.subplots(1, 2, width_ratios=[1, 2])
    shown = img[0].transpose(1, 2, 0)
    if shown.shape[2] == 3:
        ax_img.imshow(_normalise(shown, axes=(0, 1, 2)))
    else:
        ax_img.imshow(shown.mean(axis=2), cmap="gray")
    ax_img.set_title(f"input {img.shape[2]}x{img.shape[3]}")
    ax_img.set_axis_off()
    # NaN borders are drawn in the background colour, apart from every map's range
    im = ax_maps.imshow(_mosaic(_normalise(maps, axes=(1, 2)), fill=np.nan), cmap="viridis",
                        interpolation="nearest", vmin=0, vmax=1)
    ax_maps.set_title(f"{layer}: {len(maps)} of {outs[0].shape[1]} channels, "
                      f"{maps.shape[1]}x{maps.shape[2]}")
    ax_maps.set_axis_off()
    fig.colorbar(im, ax=ax_maps, shrink=0.7, ticks=[0, 1],
                 label="activation, each map scaled from its min (0) to its max (1)")
    return _finish(fig, path)


# ------------------------------------------------------------------- gradient flow
def gradient_norms(model, weights_only=True):
    """{parameter name: L2 norm of its gradient}, in depth order, for the parameters
    that have one. With ``weights_only`` only conv and linear weights (ndim > 1) are
    kept: one point per layer. Call it after ``loss.backward()``, once per recorded step."""
    out = {}
    for name, p in model.named_parameters():
        if p.grad is None or (weights_only and p.ndim < 2):
            continue
        g = p.grad.data
        out[name] = float(p.xp.sqrt((g.astype(np.float64) ** 2).sum()))
    return out


def gradient_flow(records, path=None, title=None):
    """Per-layer gradient norms (log scale) against depth: how well gradient reaches
    the early layers.

    ``records``: a list of ``gradient_norms`` dicts (one line per recorded step,
    coloured from dark to light), or a dict {label: list of such dicts} to compare
    models (one line per model: the mean over steps, with a band from min to max).
    """
    fig = _figure(9, 4.5)
    ax = fig.add_subplot()
    if isinstance(records, dict):
        for label, recs in records.items():
            names = list(recs[0])
            vals = np.array([[r[n] for n in names] for r in recs])        # (steps, layers)
            depth = np.arange(1, len(names) + 1)
            line, = ax.plot(depth, vals.mean(axis=0), marker="o", ms=3, label=label)
            ax.fill_between(depth, vals.min(axis=0), vals.max(axis=0),
                            color=line.get_color(), alpha=0.2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    else:
        recs = list(records)
        if not recs:
            raise ValueError("gradient_flow: no records")
        names = list(recs[0])
        colours = _viridis(len(recs))
        for i, r in enumerate(recs):
            ax.plot(range(1, len(names) + 1), [r[n] for n in names], color=colours[i],
                    marker="o", ms=2, label=f"record {i}" if i in (0, len(recs) - 1) else None)
        step = max(1, len(names) // 20)
        ax.set_xticks(range(1, len(names) + 1, step))
        ax.set_xticklabels(names[::step], rotation=60, ha="right", fontsize=7)
        ax.legend()
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_PLAIN)
    ax.yaxis.set_minor_formatter(_PLAIN_MINOR)
    ax.set_xlabel("layer (input side -> output side)")
    ax.set_ylabel("gradient L2 norm")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title or "gradient flow")
    return _finish(fig, path)


def _viridis(n):
    from matplotlib import colormaps
    cmap = colormaps["viridis"]
    return [cmap(0.9 * i / max(n - 1, 1)) for i in range(n)]


# ------------------------------------------------------- effective receptive field
def effective_receptive_field_plot(erf, path=None, title=None):
    """The effective receptive field heatmap with the theoretical field drawn as a box,
    and the profile through the central row against the theoretical extent."""
    fig = _figure(10, 4.5)
    ax_map, ax_row = fig.subplots(1, 2, width_ratios=[1, 1.2])
    heat = erf.heatmap / erf.heatmap.max()
    im = ax_map.imshow(heat, cmap="inferno", interpolation="nearest")
    (t, b), (l, r) = erf.region
    ax_map.add_patch(Rectangle((l - 0.5, t - 0.5), r - l + 1, b - t + 1, fill=False,
                               edgecolor="cyan", lw=1.5, label="theoretical field"))
    ax_map.legend(loc="lower right", fontsize=8)
    fig.colorbar(im, ax=ax_map, shrink=0.8)
    ax_map.set_title(f"|d y / d x| for the centre unit of {erf.layer}")
    row = int(round((erf.region[0][0] + erf.region[0][1]) / 2))
    ax_row.plot(heat[row], label=f"row {row} of the heatmap")
    ax_row.axvspan(l - 0.5, r + 0.5, color="cyan", alpha=0.2,
                   label=f"theoretical field (r = {erf.theoretical.r[1]})")
    sigma = erf.sigma
    ax_row.set_title(f"effective field: sigma = {sigma[0]:.1f} x {sigma[1]:.1f} px")
    ax_row.set_xlabel("input column")
    ax_row.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


# ------------------------------------------------------------- complexity chart
def _family(name):
    """'vgg16_bn' -> 'vgg', 'efficientnet_b3' -> 'efficientnet', 'mobilenet_v2' -> 'mobilenet'."""
    return re.sub(r"(_[a-z])?\d.*$", "", name)


def complexity_data(names=None, measure_missing=True, input_size=(3, 224, 224)):
    """Rows (name, top1, gmacs, params, source, measured) for the complexity chart.

    ``names`` default: every builder of the model zoo that has a published ImageNet
    accuracy in ``published.IMAGENET``. MACs and parameters the source does not give
    are measured with ``summary`` at ``input_size`` when ``measure_missing`` (a real
    forward pass per model); otherwise such models are left out.
    """
    from ..models import create, list_models
    from .published import IMAGENET
    from .summary import summary

    zoo = list_models()
    if names is None:
        names = [n for n in zoo if n in IMAGENET]
    rows = []
    for n in names:
        if n not in IMAGENET:
            raise KeyError(f"complexity_data: no published ImageNet figures for {n!r}; "
                           f"known: {', '.join(IMAGENET)}")
        pub = IMAGENET[n]
        gmacs, params, measured = pub.gmacs, pub.params, False
        if gmacs is None or params is None:
            if not measure_missing or n not in zoo:
                continue
            s = summary(create(n), input_size)
            gmacs, params, measured = s.total_macs / 1e9, s.total_params, True
        rows.append({"name": n, "top1": pub.top1, "gmacs": gmacs, "params": params,
                     "source": pub.source, "measured": measured})
    return rows


def complexity_chart(path=None, names=None, measure_missing=True, rows=None, title=None):
    """Top-1 accuracy against GMACs (log scale), bubble area proportional to the
    parameter count, after Canziani, Paszke & Culurciello 2017 ("An Analysis of Deep
    Neural Network Models for Practical Applications", Fig. 2). Data from
    ``complexity_data`` (or ``rows`` of the same form); the sources are in
    ``published.py``. Hollow bubbles: MACs and parameters measured here, not published."""
    if rows is None:
        rows = complexity_data(names, measure_missing)
    if not rows:
        raise ValueError("complexity_chart: no models to plot")
    fig = _figure(11, 7)
    ax = fig.add_subplot()
    families = list(dict.fromkeys(_family(r["name"]) for r in rows))
    from matplotlib import colormaps
    cmap = colormaps["tab10" if len(families) <= 10 else "tab20"]
    colour = {f: cmap(i % cmap.N) for i, f in enumerate(families)}
    area = lambda p: max(4.0 * p / 1e6, 12.0)      # noqa: E731  points^2 per million params
    for f in families:
        labelled = False
        for hollow in (False, True):
            sel = [r for r in rows if _family(r["name"]) == f and r["measured"] == hollow]
            if not sel:
                continue
            ax.scatter([r["gmacs"] for r in sel], [r["top1"] for r in sel],
                       s=[area(r["params"]) for r in sel], alpha=0.6,
                       facecolors="none" if hollow else colour[f], edgecolors=colour[f],
                       linewidths=1.5, label=None if labelled else f)
            labelled = True
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_PLAIN)
    ax.set_xlabel("GMACs per 224x224 image (1 multiply-add = 1 MAC)")
    ax.set_ylabel("ImageNet top-1 accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    family_legend = ax.legend(loc="lower right", fontsize=8, title="family")
    for handle in family_legend.legend_handles:        # one marker size in the legend
        handle.set_sizes([40])
    ax.add_artist(family_legend)
    keys = [ax.scatter([], [], s=area(p), facecolors="none", edgecolors="gray")
            for p in (5e6, 25e6, 100e6)]
    ax.legend(keys, ["5M params", "25M", "100M"], loc="upper left", fontsize=8,
              labelspacing=1.5, borderpad=1.0)
    default = "Accuracy vs. cost (bubble area = parameters"
    default += "; hollow: MACs measured here)" if any(r["measured"] for r in rows) else ")"
    ax.set_title(title or default)
    x_lo, x_hi = min(r["gmacs"] for r in rows), max(r["gmacs"] for r in rows)
    ax.set_xlim(x_lo / 1.35, x_hi * 1.6)          # room for the labels of the outermost bubbles
    place_labels(ax, [r["gmacs"] for r in rows], [r["top1"] for r in rows],
                 [r["name"] for r in rows], [math.sqrt(area(r["params"])) / 2 for r in rows])
    return _finish(fig, path)


def _overlap(a, b):
    """Area shared by two display-space boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(ax, xs, ys, texts, radii=None, fontsize=7):
    """Label each point (x, y) with its text where it overlaps nothing: greedily, largest
    bubbles first, each label tries twelve spots around its point (right, left, above,
    below, the diagonals, then the same farther out) and keeps the first that overlaps
    no label, no bubble and stays inside the axes (else the one that overlaps least, with
    a thin leader line when it sits farther out). ``radii``: each marker's radius in
    points. The layout is fixed first, so the axes do not move once labels are placed."""
    fig = ax.figure
    radii = list(radii) if radii is not None else [3.0] * len(xs)
    ax.set_xlim(ax.get_xlim())                         # no autoscaling from here on
    ax.set_ylim(ax.get_ylim())
    fig.canvas.draw()                                  # run the layout: final positions
    if fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0                                # pixels per point
    centres = ax.transData.transform(np.column_stack([xs, ys]))
    bubbles = [(cx - r * px, cy - r * px, cx + r * px, cy + r * px)
               for (cx, cy), r in zip(centres, radii)]
    frame = ax.get_window_extent(renderer).extents
    placed = []
    for i in sorted(range(len(xs)), key=lambda i: -radii[i]):
        r = radii[i] + 1.5
        d = 0.72 * r
        spots = [((r, -2), "left", "center"), ((-r, -2), "right", "center"),
                 ((0, r), "center", "bottom"), ((0, -r), "center", "top"),
                 ((d, d), "left", "bottom"), ((d, -d), "left", "top"),
                 ((-d, d), "right", "bottom"), ((-d, -d), "right", "top")]
        spots += [((dx * 1.0 + (8 if dx > 0 else -8 if dx < 0 else 0),
                    dy * 1.0 + (8 if dy > 0 else -8 if dy < 0 else 0)), ha, va)
                  for (dx, dy), ha, va in spots[4:]]
        best = None
        for k, ((dx, dy), ha, va) in enumerate(spots):
            t = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx, dy),
                            textcoords="offset points", ha=ha, va=va, fontsize=fontsize)
            box = t.get_window_extent(renderer).extents
            cost = sum(_overlap(box, b) for b in placed)
            cost += sum(_overlap(box, b) for j, b in enumerate(bubbles) if j != i)
            outside = (max(0, frame[0] - box[0]) + max(0, box[2] - frame[2]) +
                       max(0, frame[1] - box[1]) + max(0, box[3] - frame[3]))
            cost += 1e4 * outside
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, t, box, k)
            else:
                t.remove()
            if cost == 0:
                break
        cost, t, box, k = best
        if k >= 8:                                      # farther out: a line to its point
            cx, cy = centres[i]
            ex = min(max(cx, box[0]), box[2])           # the label's nearest edge point
            ey = min(max(cy, box[1]), box[3])
            (x0, y0), (x1, y1) = ax.transData.inverted().transform([(cx, cy), (ex, ey)])
            ax.plot([x0, x1], [y0, y1], color="0.4", lw=0.5, zorder=1)
        t.set_in_layout(False)
        placed.append(box)
    return ax
