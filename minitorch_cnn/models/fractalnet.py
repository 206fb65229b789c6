"""FractalNet (Larsson, Maire & Shakhnarovich 2017): depth without residuals.

A fractal block with C columns grows by one expansion rule,

    f_1(z) = conv(z)
    f_{C+1}(z) = join( f_C(f_C(z)), conv(z) )

where conv is conv3x3-BN-ReLU and join is the elementwise mean of its inputs. Unrolled,
column c (c = 1..C) is a chain of 2^(c-1) convs, and the joins merge the columns wherever
they meet: a 4-column block is 8 convs deep along its deepest column, 1 along its
shallowest, and holds 1 + 2 + 4 + 8 = 15 convs. Consecutive joins are merged into one, so
``FractalBlock.forward`` returns the columns' outputs unjoined and the caller joins them.

The network: B blocks (64, 128, 256, 512, 512 channels on CIFAR), each followed by a 2x2
max pool, then a linear classifier: 5 blocks of 4 columns are 40 convs deep.

Drop-path regularises co-adaptation of the columns. Each mini-batch in training uses one of:
- local: every join drops each of its inputs with probability 0.15, keeping at least one;
- global: one column is chosen for the whole network and only it is computed.
Half the mini-batches are global (the paper's 50/50 mix). At test time every column runs
and the joins average them all; ``model(x, column=c)`` runs column c alone.
"""
from collections import OrderedDict

from .. import backend
from .. import nn


def local_drop_mask(n, p):
    """Which of a join's ``n`` inputs survive local drop-path: each is dropped with
    probability ``p``, and if all were dropped one chosen at random survives."""
    rng = backend.get_rng()
    keep = rng.random(n) >= p
    if not keep.any():
        keep[rng.integers(n)] = True
    return keep


def join(paths, p_local=0.0):
    """Elementwise mean of the paths that survive local drop-path (all when p_local = 0)."""
    if p_local > 0 and len(paths) > 1:
        paths = [t for t, k in zip(paths, local_drop_mask(len(paths), p_local)) if k]
    out = paths[0]
    for t in paths[1:]:
        out = out + t
    return out if len(paths) == 1 else out * (1.0 / len(paths))


class ConvUnit(nn.Sequential):
    """conv3x3 - dropout - BN - ReLU (the authors' order); the conv has no bias, BN shifts."""

    def __init__(self, in_channels, out_channels, dropout=0.0):
        layers = [("conv", nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False))]
        if dropout > 0:
            layers.append(("dropout", nn.Dropout(dropout)))
        layers += [("bn", nn.BatchNorm2d(out_channels)), ("relu", nn.ReLU())]
        super().__init__(OrderedDict(layers))


class FractalBlock(nn.Module):
    """f_C by the expansion rule: ``conv`` is the shallowest column, ``deep_first`` and
    ``deep_second`` are the two copies of f_{C-1} that make up columns 2..C."""

    def __init__(self, columns, in_channels, out_channels, dropout=0.0):
        super().__init__()
        if columns < 1:
            raise ValueError(f"FractalBlock: needs at least 1 column, got {columns}")
        self.columns = columns
        self.conv = ConvUnit(in_channels, out_channels, dropout)
        if columns > 1:
            self.deep_first = FractalBlock(columns - 1, in_channels, out_channels, dropout)
            self.deep_second = FractalBlock(columns - 1, out_channels, out_channels, dropout)

    def forward(self, z, column=None, p_local=0.0):
        """The columns' outputs, shallowest first, not yet joined: C tensors, or one when
        ``column`` (0 = shallowest) selects a single column (global drop-path)."""
        if column is not None:
            if column == 0:
                return [self.conv(z)]
            (y,) = self.deep_first(z, column - 1)
            return self.deep_second(y, column - 1)
        outs = [self.conv(z)]
        if self.columns > 1:
            y = join(self.deep_first(z, None, p_local), p_local)   # f_C(f_C(z)): inner join
            outs += self.deep_second(y, None, p_local)
        return outs


class FractalNet(nn.Module):
    """``blocks`` fractal blocks of ``columns`` columns, each followed by a 2x2 max pool,
    then global average pooling (1x1 already for 32x32 inputs after 5 pools) and a linear
    classifier.

    channels: each block's width (64, 128, 256, 512, 512 by default); dropout: one rate for
    all blocks or one per block (the paper uses 0, 0.1, 0.2, 0.3, 0.4 where it uses
    dropout); local_drop: the local drop-path rate (0.15); global_ratio: the fraction of
    mini-batches that use global drop-path (0.5). ``local_drop=0, global_ratio=0`` trains
    with no drop-path. With the defaults (4 columns) it holds 76.1M parameters.
    """

    def __init__(self, num_classes=10, columns=4, blocks=5, channels=None, dropout=0.0,
                 local_drop=0.15, global_ratio=0.5, in_channels=3, fuse=True):
        super().__init__()
        if channels is None:     # the paper's CIFAR widths, 512 from the fourth block on
            channels = ((64, 128, 256) + (512,) * max(blocks - 3, 0))[:blocks]
        if len(channels) != blocks:
            raise ValueError(f"FractalNet: {blocks} blocks need {blocks} channel widths, got "
                             f"channels={list(channels)}")
        dropouts = tuple(dropout) if isinstance(dropout, (tuple, list)) else (dropout,) * blocks
        if len(dropouts) != blocks:
            raise ValueError(f"FractalNet: {blocks} blocks need {blocks} dropout rates, got "
                             f"{list(dropouts)}")
        if not (0 <= local_drop < 1 and 0 <= global_ratio <= 1):
            raise ValueError(f"FractalNet: local_drop must be in [0, 1) and global_ratio in "
                             f"[0, 1], got {local_drop} and {global_ratio}")
        self.columns, self.local_drop, self.global_ratio = columns, local_drop, global_ratio
        widths = (in_channels,) + tuple(channels)
        self.blocks = nn.ModuleList(FractalBlock(columns, widths[i], widths[i + 1], dropouts[i])
                                    for i in range(blocks))
        self.pool = nn.MaxPool2d(2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if fuse:                       # each ConvUnit's BN -> ReLU as one op (fuse=False: not)
            nn.utils.fuse_batchnorm_relu(self)

    def drop_path_plan(self):
        """(column, p_local) for one training mini-batch: a global column, or local rate."""
        rng = backend.get_rng()
        if rng.random() < self.global_ratio:
            return int(rng.integers(self.columns)), 0.0
        return None, self.local_drop

    def forward(self, x, column=None):
        if column is not None and not 0 <= column < self.columns:
            raise ValueError(f"FractalNet: column must be in 0..{self.columns - 1}, got {column}")
        p_local = 0.0
        if self.training and column is None:
            column, p_local = self.drop_path_plan()
        for block in self.blocks:
            x = join(block(x, column, p_local), p_local)
            x = self.pool(x)                    # (N, C, H, W) -> (N, C, H/2, W/2)
        x = self.avgpool(x).flatten(1)          # (N, C, h, w) -> (N, C)
        return self.fc(x)


def fractalnet(num_classes=10, columns=4, blocks=5, **kw):
    """FractalNet for CIFAR: 4 columns, 5 blocks (40 convs deep)."""
    return FractalNet(num_classes=num_classes, columns=columns, blocks=blocks, **kw)


BUILDERS = OrderedDict([("fractalnet", fractalnet)])
