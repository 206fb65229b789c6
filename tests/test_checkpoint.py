"""minitorch_cnn.utils.checkpoint: the same gradients as the plain graph (and as PyTorch),
BatchNorm statistics moved once, the same dropout masks, less memory kept, deep and
nested use, and clear errors for bad use."""
import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.nn as nn
import minitorch_cnn.nn.functional as F
from minitorch_cnn.autograd import topological_order
from minitorch_cnn.utils.checkpoint import checkpoint, checkpoint_sequential
from conftest import to_numpy


@pytest.fixture(autouse=True)
def _float64():
    mt.set_default_dtype(np.float64)
    yield
    mt.set_default_dtype(np.float32)


class Block(nn.Module):
    """conv-BN-ReLU-conv-BN, with an optional dropout: a segment worth checkpointing."""

    def __init__(self, c, p=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c)
        self.p = p

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.dropout(y, self.p, self.training)
        return self.bn2(self.conv2(y))


class Net(nn.Module):
    def __init__(self, c=4, blocks=3, p=0.0, use_checkpoint=False):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.ModuleList([Block(c, p) for _ in range(blocks)])
        self.use_checkpoint = use_checkpoint

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = x + (checkpoint(b, x) if self.use_checkpoint else b(x))
        return x


def twins(**kw):
    """The same network twice, plain and checkpointed, with the same weights."""
    mt.manual_seed(0)
    plain = Net(**kw)
    ckpt = Net(use_checkpoint=True, **kw)
    ckpt.load_state_dict(plain.state_dict())
    return plain, ckpt


def step(model, x, seed=7):
    """Forward and backward; the gradients of the input and of every parameter."""
    mt.manual_seed(seed)
    xi = mt.tensor(x, requires_grad=True)
    out = model(xi)
    (out * out).sum().backward()
    return [xi.grad.data] + [p.grad.data for p in model.parameters()]


def test_same_gradients_and_statistics_as_the_plain_graph():
    plain, ckpt = twins()
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    for a, b in zip(step(plain, x), step(ckpt, x), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # BatchNorm's running statistics moved once, not twice (the recomputation is put back)
    for (k, a), (_, b) in zip(plain.state_dict().items(), ckpt.state_dict().items()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=k)
    assert int(ckpt.blocks[0].bn1.num_batches_tracked.item()) == 1


def test_same_gradients_as_torch():
    torch = pytest.importorskip("torch")
    mt.manual_seed(0)
    model = Net(use_checkpoint=True)
    ref = torch.nn.ModuleDict({"stem": torch.nn.Conv2d(3, 4, 3, padding=1),
                               "blocks": torch.nn.ModuleList([torch.nn.ModuleDict({
                                   "conv1": torch.nn.Conv2d(4, 4, 3, padding=1, bias=False),
                                   "bn1": torch.nn.BatchNorm2d(4),
                                   "conv2": torch.nn.Conv2d(4, 4, 3, padding=1),
                                   "bn2": torch.nn.BatchNorm2d(4)}) for _ in range(3)])})
    ref = ref.double()
    ref.load_state_dict({k: torch.from_numpy(np.array(v.data))
                         for k, v in model.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8))
    ours = step(model, x)

    tx = torch.tensor(x, requires_grad=True)
    h = ref["stem"](tx)
    for b in ref["blocks"]:
        h = h + b["bn2"](b["conv2"](torch.relu(b["bn1"](b["conv1"](h)))))
    (h * h).sum().backward()
    theirs = [tx.grad] + [p.grad for p in ref.parameters()]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-8, atol=1e-10)
    for k, v in ref.state_dict().items():      # running statistics moved once, as torch's
        np.testing.assert_allclose(model.state_dict()[k].data, v.numpy(), rtol=1e-10,
                                   err_msg=k)


def test_dropout_masks_are_replayed():
    plain, ckpt = twins(p=0.5)
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8))
    grads = step(plain, x)
    after_plain = mt.rand(3).data               # where the generator stands after the step
    for a, b in zip(grads, step(ckpt, x), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # the recomputation gave the generator back: later draws are those of the plain run
    np.testing.assert_array_equal(mt.rand(3).data, after_plain)


def test_without_preserved_rng_the_recomputation_draws_new_masks():
    """Why preserve_rng_state exists: a recomputation with new dropout masks differentiates
    another function than the one that ran forward."""
    mt.manual_seed(0)
    block = Block(4, p=0.5)
    x = np.random.default_rng(3).standard_normal((2, 4, 6, 6))
    grads = {}
    for keep in (True, False):
        for p in block.parameters():
            p.grad = None
        mt.manual_seed(11)
        xi = mt.tensor(x, requires_grad=True)
        checkpoint(block, xi, preserve_rng_state=keep).pow(2).sum().backward()
        grads[keep] = xi.grad.data
    mt.manual_seed(11)
    xi = mt.tensor(x, requires_grad=True)
    block(xi).pow(2).sum().backward()
    np.testing.assert_allclose(grads[True], xi.grad.data, rtol=1e-10, atol=1e-12)
    assert not np.allclose(grads[False], xi.grad.data)


def saved_bytes(out):
    """Bytes of the distinct arrays that the ops of out's graph keep for backward."""
    seen, total = set(), 0
    for fn in topological_order(out.grad_fn):
        for a in fn.saved:
            if hasattr(a, "nbytes") and id(a) not in seen:
                seen.add(id(a))
                total += a.nbytes
    return total


def test_memory_is_saved():
    plain, ckpt = twins(c=8, blocks=4)
    x = mt.randn(4, 3, 16, 16)
    outs = [m(x) for m in (plain, ckpt)]
    ops = [len(topological_order(o.grad_fn)) for o in outs]
    kept = [saved_bytes(o) for o in outs]
    # each block's ~8 ops become one Checkpoint op that keeps only its input
    assert ops[1] < ops[0] / 2
    one_map = 4 * 8 * 16 * 16 * 8               # bytes of one (4, 8, 16, 16) float64 map
    assert kept[1] <= 4 * one_map + 3 * 16 * 16 * 4 * 8 < kept[0] / 3


def test_kept_memory_measured_with_tracemalloc():
    """The arrays alive after the forward pass, counted by Python's allocator: the plain
    graph holds every block's intermediate maps, the checkpointed one does not."""
    import gc
    import tracemalloc
    plain, ckpt = twins(c=8, blocks=4)
    x = mt.randn(4, 3, 16, 16)
    alive = []
    for m in (plain, ckpt):
        gc.collect()
        tracemalloc.start()
        out = m(x)
        alive.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        out.sum().backward()
    assert alive[1] < alive[0] / 2


def test_deep_chain_of_checkpoints():
    """400 checkpointed segments: no recursion limit, the same gradients."""
    mt.manual_seed(0)
    w = mt.tensor(np.linspace(0.5, 1.5, 5), requires_grad=True)

    def segment(h):
        return (h * w).tanh() + h

    grads = []
    for use in (False, True):
        w.grad = None
        x = mt.tensor(np.linspace(-1, 1, 5) * 0.01, requires_grad=True)
        h = x
        for _ in range(400):
            h = checkpoint(segment, h) if use else segment(h)
        h.sum().backward()
        grads.append((x.grad.data, w.grad.data))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_nested_checkpoints_and_checkpoint_sequential():
    mt.manual_seed(0)
    seq = nn.Sequential(*[nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.Tanh())
                          for _ in range(6)])
    x = mt.randn(5, 6)

    def run(kind):
        for p in seq.parameters():
            p.grad = None
        state = {k: v.data.copy() for k, v in seq.state_dict().items()}
        xi = mt.tensor(x.data, requires_grad=True)
        if kind == "plain":
            out = seq(xi)
        elif kind == "sequential":
            out = checkpoint_sequential(seq, 3, xi)
        else:                                  # a checkpoint inside a checkpoint
            out = checkpoint(lambda h: checkpoint(seq[:3], h) * 1.0, xi)
            out = seq[3:](out)
        out.pow(2).sum().backward()
        result = [xi.grad.data] + [p.grad.data for p in seq.parameters()]
        moved = {k: v.data.copy() for k, v in seq.state_dict().items()}
        seq.load_state_dict({k: mt.tensor(v) for k, v in state.items()})
        return result, moved

    ref, ref_state = run("plain")
    for kind in ("sequential", "nested"):
        got, state = run(kind)
        for a, b in zip(ref, got, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=kind)
        for k in ref_state:
            np.testing.assert_array_equal(ref_state[k], state[k], err_msg=f"{kind} {k}")


def test_arguments_keyword_arguments_and_retain_graph():
    mt.manual_seed(0)
    lin = nn.Linear(4, 3)

    def f(x, scale, *, shift):
        return lin(x) * scale + shift

    x = mt.randn(2, 4, requires_grad=True)
    shift = mt.randn(3)                        # a Tensor that needs no gradient: fine
    out = checkpoint(f, x, 2.0, shift=shift)
    np.testing.assert_allclose(out.data, f(x, 2.0, shift=shift).data)
    out.sum().backward(retain_graph=True)
    first = x.grad.data.copy(), lin.weight.grad.data.copy()
    out.sum().backward()                       # recomputed again; gradients accumulate
    np.testing.assert_allclose(x.grad.data, 2 * first[0])
    np.testing.assert_allclose(lin.weight.grad.data, 2 * first[1])
    with pytest.raises(RuntimeError, match="second time"):
        out.sum().backward()


def test_without_inputs_that_need_grad_the_function_just_runs():
    mt.manual_seed(0)
    lin = nn.Linear(4, 3)
    x = mt.randn(2, 4)                         # the network's input: no gradient wanted
    out = checkpoint(lin, x)
    assert type(out.grad_fn).__name__ != "Checkpoint"
    out.sum().backward()
    assert lin.weight.grad is not None         # the parameters still learn
    with mt.no_grad():
        assert checkpoint(lin, mt.randn(2, 4, requires_grad=True)).grad_fn is None


def test_forward_hooks_run_again_in_the_recomputation():
    mt.manual_seed(0)
    block = Block(2)
    calls = []
    block.conv1.register_forward_hook(lambda m, args, out: calls.append(mt.is_grad_enabled()))
    checkpoint(block, mt.randn(1, 2, 4, 4, requires_grad=True)).sum().backward()
    assert calls == [False, True]              # the forward (no graph), the recomputation


def test_bad_use_gets_clear_errors():
    lin = nn.Linear(4, 3)
    x = mt.randn(2, 4, requires_grad=True)
    with pytest.raises(TypeError, match="expected a callable .* got Tensor"):
        checkpoint(x, lin)
    with pytest.raises(TypeError, match=r"must return one Tensor, got tuple"):
        checkpoint(lambda t: (lin(t), lin(t)), x)
    with pytest.raises(ValueError, match=r"keyword argument 'bias' is a Tensor that requires "
                                         r"grad.*pass it positionally"):
        checkpoint(lambda t, bias: lin(t) + bias, x, bias=mt.randn(3, requires_grad=True))
    with pytest.raises(ValueError, match=r"argument 0 is a list holding Tensors that require "
                                         r"grad.*checkpoint\(f, \*tensors\)"):
        checkpoint(lambda ts: F.cat(ts, 1), [x, x])
    with pytest.raises(ValueError, match="segments must be in 1..2"):
        checkpoint_sequential(nn.Sequential(lin, nn.ReLU()), 3, x)

    calls = []

    def changes_shape(t):                      # not the same function twice
        calls.append(1)
        return lin(t)[:len(calls)]
    out = checkpoint(changes_shape, x)
    with pytest.raises(RuntimeError, match=r"recomputing .*changes_shape gave torch\.float64 "
                                           r"\(2, 3\), but the forward pass gave torch\.float64 "
                                           r"\(1, 3\); the function must compute the same"):
        out.sum().backward()


def test_densenet_uses_the_engine_checkpoint():
    from minitorch_cnn.models import densenet
    mt.manual_seed(0)
    model = densenet.DenseNet(growth_rate=4, block_config=(2,), num_init_features=8,
                              bn_size=2, num_classes=3, cifar=True)
    out = model(mt.randn(2, 3, 8, 8))
    names = {type(fn).__name__ for fn in topological_order(out.grad_fn)}
    assert "Checkpoint" in names
    assert not hasattr(densenet, "Recompute")
    assert to_numpy(out).shape == (2, 3)
