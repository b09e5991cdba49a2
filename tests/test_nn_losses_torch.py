"PyTorch oracle for backprop.nn.losses: every loss and option agrees with torch in value and gradients."
import itertools
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F
from backprop.core import tensor, ShapeError
from backprop.autograd import grad as bp_grad
from backprop.nn import losses as L

pytestmark = pytest.mark.torch
TOL = {np.float64: dict(rtol=1e-8, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-6)}
REDUCTIONS = ['none', 'mean', 'sum']


def compare(ours, theirs, arrays, grad_of, consts=(), dtype=np.float64):
    """Call ours(*tensors, *consts) and theirs(*torch_tensors, *torch_consts); compare the value and the gradients
    of the arrays whose positions are in `grad_of` (with a random cotangent)."""
    bt = [tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    tt = [torch.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    bc = [None if c is None else tensor(c) for c in consts]
    tc = [None if c is None else torch.tensor(c) for c in consts]
    y, yt = ours(*bt, *bc), theirs(*tt, *tc)
    np.testing.assert_allclose(y.array, yt.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(0).standard_normal(y.shape).astype(y.dtype)
    y.backward(tensor(g)); yt.backward(torch.tensor(g))
    for i in grad_of: np.testing.assert_allclose(bt[i].grad.array, tt[i].grad.numpy(), **TOL[dtype])


def cases(n, seed=0):
    rng = np.random.default_rng(seed)
    for k in range(n):
        shape = tuple(int(s) for s in rng.integers(1, 5, rng.integers(1, 4)))
        yield k, rng, shape, [np.float64, np.float32][k % 2]


# ---------------------------------------------------------------- regression
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_l1_huber_match_torch(reduction):
    for k, rng, shape, dt in cases(6):
        x, y = rng.standard_normal(shape).astype(dt) * 2, rng.standard_normal(shape).astype(dt)
        y.flat[0] = x.flat[0]                                     # a zero difference: L1's kink
        compare(lambda a, b: L.mse_loss(a, b, reduction), lambda a, b: F.mse_loss(a, b, reduction=reduction), [x, y], {0, 1}, dtype=dt)
        compare(lambda a, b: L.l1_loss(a, b, reduction), lambda a, b: F.l1_loss(a, b, reduction=reduction), [x, y], {0, 1}, dtype=dt)
        delta = float(rng.uniform(0.2, 2))
        compare(lambda a, b: L.huber_loss(a, b, reduction, delta), lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta),
                [x, y], {0, 1}, dtype=dt)
        for ours, theirs in [(L.MSELoss(reduction), torch.nn.MSELoss(reduction=reduction)), (L.L1Loss(reduction), torch.nn.L1Loss(reduction=reduction)),
                             (L.HuberLoss(reduction, delta), torch.nn.HuberLoss(reduction=reduction, delta=delta))]:
            compare(ours, theirs, [x, y], {0}, dtype=dt)


# ---------------------------------------------------------------- binary
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_torch(reduction):
    for k, rng, shape, dt in cases(6, 1):
        p = rng.uniform(0.01, 0.99, shape).astype(dt)
        t = rng.uniform(0, 1, shape).astype(dt)
        p.flat[0], t.flat[0] = 1., 0.                             # clamped log: loss 100
        if p.size > 1: p.flat[1], t.flat[1] = 0., 0.
        w = rng.uniform(0.1, 2, shape[-1:]).astype(dt) if k % 3 else None
        compare(lambda a, b, w: L.binary_cross_entropy(a, b, w, reduction), lambda a, b, w: F.binary_cross_entropy(a, b, w, reduction=reduction),
                [p, t], {0}, consts=[w], dtype=dt)
        compare(L.BCELoss(None if w is None else tensor(w), reduction),
                torch.nn.BCELoss(None if w is None else torch.tensor(w), reduction=reduction), [p, t], {0}, dtype=dt)
        p2 = rng.uniform(0.01, 0.99, shape).astype(dt)            # target gradient away from the clamps
        compare(lambda a, b: L.binary_cross_entropy(a, b, reduction=reduction), lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
                [p2, t], {0, 1}, dtype=dt)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_torch(reduction):
    for k, rng, shape, dt in cases(8, 2):
        x = (rng.standard_normal(shape) * 5).astype(dt)
        x.flat[0] = [1e4, -1e4][k % 2]                            # huge logits stay finite
        t = rng.uniform(0, 1, shape).astype(dt)
        w = rng.uniform(0.1, 2, shape).astype(dt) if k % 2 else None
        pw = rng.uniform(0.2, 4, shape[-1:]).astype(dt) if k % 4 < 2 else None
        compare(lambda a, b, w, pw: L.binary_cross_entropy_with_logits(a, b, w, reduction, pw),
                lambda a, b, w, pw: F.binary_cross_entropy_with_logits(a, b, w, reduction=reduction, pos_weight=pw),
                [x, t], {0, 1}, consts=[w, pw], dtype=dt)
        compare(L.BCEWithLogitsLoss(None if w is None else tensor(w), reduction, None if pw is None else tensor(pw)),
                torch.nn.BCEWithLogitsLoss(None if w is None else torch.tensor(w), reduction=reduction, pos_weight=None if pw is None else torch.tensor(pw)),
                [x, t], {0, 1}, dtype=dt)


# ---------------------------------------------------------------- classification
def ce_configs():
    "(input shape, class dim) pairs: (N, C), unbatched (C,), and (N, C, d1[, d2])."
    return [((7, 5), 1), ((4,), 0), ((3, 4, 6), 1), ((2, 3, 2, 4), 1), ((1, 1), 1)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,smoothing,ignore", list(itertools.product([False, True], [0.0, 0.25], [False, True])))
def test_cross_entropy_and_nll_index_targets_match_torch(reduction, weighted, smoothing, ignore):
    rng = np.random.default_rng(3)
    for k, (shape, dim) in enumerate(ce_configs()):
        dt = [np.float64, np.float32][k % 2]
        C = shape[dim]
        z = (rng.standard_normal(shape) * 3).astype(dt)
        tshape = shape[:dim] + shape[dim + 1:]
        y = rng.integers(0, C, tshape)
        ignore_index = -100
        if ignore and y.size > 1:
            ignore_index = [-100, int(y.flat[0])][k % 2]          # the default, or a real class
            y.flat[-1] = ignore_index
        w = rng.uniform(0.2, 2, C).astype(dt) if weighted else None
        compare(lambda z, w: L.cross_entropy(z, tensor(y), w, ignore_index, reduction, smoothing),
                lambda z, w: F.cross_entropy(z, torch.tensor(y), w, ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing),
                [z], {0}, consts=[w], dtype=dt)
        compare(L.CrossEntropyLoss(None if w is None else tensor(w), ignore_index, reduction, smoothing),
                torch.nn.CrossEntropyLoss(None if w is None else torch.tensor(w), ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing),
                [z], {0}, consts=[y], dtype=dt)
        if smoothing == 0:
            lp = (z - np.log(np.exp(z).sum(dim, keepdims=True))).astype(dt)
            compare(lambda x, w: L.nll_loss(x, tensor(y), w, ignore_index, reduction),
                    lambda x, w: F.nll_loss(x, torch.tensor(y), w, ignore_index=ignore_index, reduction=reduction),
                    [lp], {0}, consts=[w], dtype=dt)
            compare(L.NLLLoss(None if w is None else tensor(w), ignore_index, reduction),
                    torch.nn.NLLLoss(None if w is None else torch.tensor(w), ignore_index=ignore_index, reduction=reduction),
                    [lp], {0}, consts=[y], dtype=dt)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,smoothing", list(itertools.product([False, True], [0.0, 0.3])))
def test_cross_entropy_probability_targets_match_torch(reduction, weighted, smoothing):
    rng = np.random.default_rng(4)
    for k, (shape, dim) in enumerate(ce_configs()):
        dt = [np.float64, np.float32][k % 2]
        z = (rng.standard_normal(shape) * 3).astype(dt)
        p = rng.uniform(0, 1, shape); p = (p / p.sum(dim, keepdims=True)).astype(dt)
        w = rng.uniform(0.2, 2, shape[dim]).astype(dt) if weighted else None
        compare(lambda z, p, w: L.cross_entropy(z, p, w, reduction=reduction, label_smoothing=smoothing),
                lambda z, p, w: F.cross_entropy(z, p, w, reduction=reduction, label_smoothing=smoothing),
                [z, p], {0, 1}, consts=[w], dtype=dt)


def test_cross_entropy_second_order_matches_torch():
    rng = np.random.default_rng(5)
    z, y, w, v = rng.standard_normal((4, 3)), rng.integers(0, 3, 4), rng.uniform(0.5, 2, 3), rng.standard_normal((4, 3))
    zt = tensor(z, requires_grad=True)
    (g,) = bp_grad(L.cross_entropy(zt, tensor(y), tensor(w), label_smoothing=0.1), zt, create_graph=True)
    (h,) = bp_grad((g * tensor(v)).sum(), zt)
    tz = torch.tensor(z, requires_grad=True)
    (tg,) = torch.autograd.grad(F.cross_entropy(tz, torch.tensor(y), torch.tensor(w), label_smoothing=0.1), tz, create_graph=True)
    (th,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), tz)
    np.testing.assert_allclose(g.array, tg.detach().numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(h.array, th.numpy(), rtol=1e-10, atol=1e-13)


def test_cross_entropy_large_logits_and_all_ignored():
    z = np.array([[1000., 0., -1000.], [-1e4, 1e4, 0.]])
    compare(lambda z: L.cross_entropy(z, tensor([2, 0])), lambda z: F.cross_entropy(z, torch.tensor([2, 0])), [z], {0})
    a = L.cross_entropy(tensor(z), tensor([-100, -100])).item()
    b = F.cross_entropy(torch.tensor(z), torch.tensor([-100, -100])).item()
    assert np.isnan(a) and np.isnan(b)


# ---------------------------------------------------------------- bad input
def test_bad_input_errors():
    z = tensor(np.zeros((4, 3)))
    with pytest.raises(TypeError, match=r"cross_entropy: .*float32 target"): L.cross_entropy(z, tensor([0., 1., 2., 0.]))
    with pytest.raises(TypeError, match=r"nll_loss: .*float64"): L.nll_loss(z, tensor(np.zeros(4)))
    with pytest.raises(IndexError, match=r"target 3 is out of bounds for 3 classes"): L.cross_entropy(z, tensor([0, 1, 2, 3]))
    with pytest.raises(IndexError, match=r"target -1 is out of bounds for 3 classes"): L.CrossEntropyLoss()(z, tensor([0, 1, 2, -1]))
    with pytest.raises(ShapeError, match=r"\(4, 3\).*\(4,\).*\(5,\)"): L.nll_loss(z, tensor([0, 1, 2, 0, 1]))
    with pytest.raises(ShapeError, match=r"target shape \(4,\) does not broadcast against input shape \(4, 3\)"): L.mse_loss(z, tensor(np.zeros(4)))
    with pytest.raises(ShapeError, match=r"weight must have shape \(3,\)"): L.cross_entropy(z, tensor([0, 1, 2, 0]), tensor([1., 2.]))
    for f in (L.MSELoss, L.L1Loss, L.HuberLoss, L.BCELoss, L.BCEWithLogitsLoss, L.CrossEntropyLoss, L.NLLLoss):
        with pytest.raises(ValueError, match="reduction must be"): f(reduction='avg')
    with pytest.raises(RuntimeError, match="between 0 and 1"): L.binary_cross_entropy(tensor([1.5]), tensor([1.]))   # as PyTorch
