"""The fast path: which algorithm, tier, layout and tile each op runs, and every knob.

The story (functional/conv.py: im2col, one GEMM, a reshape) is what runs under
``set_kernels("reference")``. Under "fast", ``choose_conv`` picks one of the named units
of this package for each conv, from its geometry and device:

    blocked_im2col  the story in blocks of samples whose columns fit the CPU's caches,
                    with reused buffers (conv_im2col.py)
    pointwise       1x1, stride 1, no padding: the input already is the column matrix
                    (conv_pointwise.py)
    depthwise       groups == C: the taps looped over directly, no GEMM (conv_depthwise.py)
    winograd        3x3, stride 1: Winograd F(2x2) or F(4x4), 2.25-4x fewer multiplies
                    (conv_winograd.py; CPU only)

Each unit has a forward and a backward, tested against the story (tests/test_conv.py).
``nn.Conv2d.plan(x)`` and ``analysis.summary`` say which one a layer runs. Pooling and
batch norm have one algorithm each: ``choose_kernels`` hands them kernels/reference.py
itself (their story) under "reference", and otherwise the Numba or CuPy kernels of the
same names (kernels/__init__.py, by device).

Every knob is a field of ``TUNING`` (one ``Tuning``); change them for a block with
``with fast.tuning(winograd_tile=2): ...``. Measurements behind the defaults are in
benchmarks/README.md.
"""
import contextlib
import dataclasses
from typing import NamedTuple, Optional

from .. import kernels

__all__ = ["Tuning", "TUNING", "tuning", "Plan", "ALGORITHMS", "choose_conv", "choose_kernels",
           "depthwise_layout", "winograd_tile", "blocks"]

ALGORITHMS = ("im2col", "blocked_im2col", "pointwise", "depthwise", "winograd")
_CHOICES = {"algorithm": ("auto",) + ALGORITHMS, "winograd_tile": ("auto", 2, 4),
            "depthwise_layout": ("auto", "planes", "channels_last")}


@dataclasses.dataclass
class Tuning:
    """The knobs of the fast path, all in one place."""
    # "auto" lets choose_conv pick; a name forces that algorithm wherever it applies
    # (tests and benchmarks run every unit this way)
    algorithm: str = "auto"
    # bytes of column matrix (or Winograd tiles) per block of samples: about what the
    # CPU's caches hold; on a GPU, blocks only bound the memory of a huge batch
    block_bytes_cpu: int = 8 << 20
    block_bytes_cuda: int = 1 << 30
    # Winograd's GEMMs have K = C: with very few input channels (an RGB stem) they are
    # too thin to beat im2col's single GEMM with K = 9*C
    winograd_min_channels: int = 16
    # a map of at most 2x2 outputs is one tile per sample: GEMMs only as wide as the
    # batch, and the filter transform costs as much as they do; im2col wins there
    winograd_min_outputs: int = 5
    # the output tile m of F(m x m, 3x3): "auto" (winograd_tile), or 2 / 4 to force one
    winograd_tile: object = "auto"
    # depthwise on the CPU: "auto" (depthwise_layout), or "planes" / "channels_last"
    depthwise_layout: str = "auto"
    # Numba kernels run serially below this many elements (kernels/cpu/_numba.py)
    serial_below: int = 1 << 22

    def __setattr__(self, name, value):
        if name not in {f.name for f in dataclasses.fields(self)}:
            raise AttributeError(f"Tuning has no knob {name!r}; the knobs are "
                                 f"{[f.name for f in dataclasses.fields(self)]}")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ValueError(f"Tuning.{name} must be one of {_CHOICES[name]}, got {value!r}")
        object.__setattr__(self, name, value)


TUNING = Tuning()


@contextlib.contextmanager
def tuning(**knobs):
    """``with tuning(algorithm="winograd", winograd_tile=2): ...`` sets knobs of TUNING for
    the block and puts the old values back after it."""
    old = {}
    try:
        for name, value in knobs.items():
            before = getattr(TUNING, name, None)
            setattr(TUNING, name, value)          # checks the name and the value
            old[name] = before
        yield TUNING
    finally:
        for name, value in old.items():
            setattr(TUNING, name, value)


class Plan(NamedTuple):
    """How one conv runs: ``algorithm`` (one of ALGORITHMS), the kernel ``tier``
    ("reference", "numba" or "cuda"), the depthwise ``layout`` and the Winograd ``tile``
    where they apply."""
    algorithm: str
    tier: str
    layout: Optional[str] = None
    tile: Optional[int] = None

    def __str__(self):
        if self.algorithm == "winograd":
            return f"winograd F({self.tile}x{self.tile})"
        if self.layout is not None:
            return f"depthwise ({self.layout})"
        return self.algorithm


def _applies(algorithm, g):
    """Whether ``algorithm`` computes the conv of geometry ``g`` (im2col computes any)."""
    if algorithm == "depthwise":
        return g.groups == g.C
    if algorithm == "pointwise":
        return (g.KH, g.KW, g.SH, g.SW, g.PH, g.PW) == (1, 1, 1, 1, 0, 0)
    if algorithm == "winograd":
        return (g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.groups) == (3, 3, 1, 1, 1, 1, 1)
    return True


def _fastest(g, tier):
    """The algorithm that wins for geometry ``g`` on ``tier`` (benchmarks/bench_ops.py)."""
    if tier == "reference":
        return "im2col"                           # the story, exactly as written
    if _applies("depthwise", g):
        return "depthwise"
    if _applies("pointwise", g):
        return "pointwise"
    if (tier == "numba" and _applies("winograd", g) and g.C >= TUNING.winograd_min_channels
            and g.OH * g.OW >= TUNING.winograd_min_outputs):
        return "winograd"
    return "blocked_im2col"


def choose_conv(g, device="cpu"):
    """The Plan for a conv of geometry ``g`` (functional/geometry.py) on ``device``."""
    tier = kernels.tier(device)
    algorithm = TUNING.algorithm
    if algorithm == "auto" or not _applies(algorithm, g):
        algorithm = _fastest(g, tier)
    layout = depthwise_layout(g) if algorithm == "depthwise" and tier == "numba" else None
    tile = winograd_tile(g.OH, g.OW) if algorithm == "winograd" else None
    return Plan(algorithm, tier, layout, tile)


def choose_kernels(device="cpu"):
    """The kernels of an op with one algorithm (pooling, batch norm) on ``device``: the
    module kernels/reference.py, the story, under set_kernels("reference"); otherwise
    the fast tier's functions of the same names (kernels/__init__.py: Numba or CuPy)."""
    return kernels.reference if kernels.tier(device) == "reference" else kernels


def depthwise_layout(g):
    """The Numba depthwise kernels' layout: "planes" (each padded plane flattened, its taps
    long shifted multiply-adds), or "channels_last" (one sample turned around, each tap
    a multiply-add along the channels). The per-plane overhead of "planes" dominates on
    planes of 8x8 and less, and a stride throws most of its work away; channels-last
    needs one filter per channel."""
    if g.OC != g.C or TUNING.depthwise_layout == "planes":
        return "planes"
    if TUNING.depthwise_layout == "channels_last" or g.SH > 1 or g.SW > 1 or g.H * g.W <= 64:
        return "channels_last"
    return "planes"


def winograd_tile(OH, OW):
    """The output tile m: 4 where the map holds at least 2 x 2 of F(4x4)'s tiles and they
    move fewer values than F(2x2)'s, (m+2)^2 per tile; otherwise 2 (also the more
    accurate). With one F(4x4) tile per sample (a 4x4 map) its GEMMs are too thin."""
    if TUNING.winograd_tile != "auto":
        return TUNING.winograd_tile
    cost = {m: (m + 2) ** 2 * -(-OH // m) * -(-OW // m) for m in (2, 4)}
    return 4 if min(OH, OW) > 4 and cost[4] < cost[2] else 2


def blocks(N, bytes_per_sample, device):
    """Split range(N) into [n0, n1) blocks whose buffers fit the block budget, all of about
    the same size (64 as 32 + 32, not 56 + 8: a thin last block makes thin GEMMs)."""
    if N == 0:
        return [(0, 0)]                          # an empty batch: one empty block
    budget = TUNING.block_bytes_cuda if device == "cuda" else TUNING.block_bytes_cpu
    B = max(1, min(N, budget // max(1, bytes_per_sample)))
    B = -(-N // -(-N // B))                      # ceil(N / number of blocks)
    return [(n0, min(n0 + B, N)) for n0 in range(0, N, B)]
