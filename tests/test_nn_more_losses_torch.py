"PyTorch oracle for smooth_l1_loss/SmoothL1Loss, kl_div/KLDivLoss, and the PyTorch behaviours of issues 9 and 10: int targets, broadcasting targets with PyTorch's warning, float16 means, BCE target range, all-ignored cross-entropy, zero-size Linear."
import warnings
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

torch = pytest.importorskip("torch")
import torch.nn.functional as TF
import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F
from backprop.core import tensor, manual_seed

pytestmark = pytest.mark.torch
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}
shapes = st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple)
dtypes = st.sampled_from([np.float64, np.float32])
reductions = st.sampled_from(['none', 'mean', 'sum'])


def both(f_bp, f_t, arrays, grads_of=None):
    "Forward + backward (ones cotangent of the right shape) through both; return outputs and the chosen inputs' gradients."
    grads_of = range(len(arrays)) if grads_of is None else grads_of
    xb = [tensor(a, requires_grad=i in grads_of and a.dtype.kind == 'f') for i, a in enumerate(arrays)]
    xt = [torch.tensor(a, requires_grad=i in grads_of and a.dtype.kind == 'f') for i, a in enumerate(arrays)]
    yb, yt = f_bp(*xb), f_t(*xt)
    g = np.random.default_rng(1).standard_normal(yt.shape).astype(yb.dtype)
    if yb.requires_grad: yb.backward(tensor(g)); yt.backward(torch.tensor(g))
    return (yb, yt), [(xb[i].grad.array, xt[i].grad.numpy()) for i in grads_of if arrays[i].dtype.kind == 'f']


def check(pair, grads, dtype):
    (yb, yt) = pair
    assert yb.dtype == yt.detach().numpy().dtype
    np.testing.assert_allclose(yb.array, yt.detach().numpy(), **TOL[dtype])
    for a, b in grads: np.testing.assert_allclose(a, b, **TOL[dtype])


@settings(max_examples=30, deadline=None)
@given(shape=shapes, dtype=dtypes, red=reductions, beta=st.sampled_from([0., 0.5, 1., 2.]), seed=st.integers(0, 99))
def test_smooth_l1_matches_torch(shape, dtype, red, beta, seed):
    rng = np.random.default_rng(seed)
    x, y = (rng.standard_normal(shape) * 2).astype(dtype), rng.standard_normal(shape).astype(dtype)
    check(*both(lambda a, b: F.smooth_l1_loss(a, b, reduction=red, beta=beta), lambda a, b: TF.smooth_l1_loss(a, b, reduction=red, beta=beta), [x, y]), dtype)
    check(*both(nn.SmoothL1Loss(red, beta), torch.nn.SmoothL1Loss(reduction=red, beta=beta), [x, y]), dtype)


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), dtype=dtypes,
       red=st.sampled_from(['none', 'batchmean', 'sum', 'mean']), log_target=st.booleans(), zeros=st.booleans(), seed=st.integers(0, 99))
def test_kl_div_matches_torch(shape, dtype, red, log_target, zeros, seed):
    rng = np.random.default_rng(seed)
    logq = (rng.standard_normal(shape) - 1).astype(dtype)
    p = rng.uniform(0.01, 1, shape).astype(dtype)
    if zeros and not log_target: p[..., 0] = 0                                  # 0·log 0 = 0
    t = np.log(p) if log_target else p
    grads_of = [0] if zeros and not log_target else [0, 1]                      # d/dp at p = 0 is a convention (log 0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        check(*both(lambda a, b: F.kl_div(a, b, reduction=red, log_target=log_target),
                    lambda a, b: TF.kl_div(a, b, reduction=red, log_target=log_target), [logq, t], grads_of), dtype)
        check(*both(nn.KLDivLoss(red, log_target), torch.nn.KLDivLoss(reduction=red, log_target=log_target), [logq, t], grads_of), dtype)


def test_kl_div_mean_warns_like_torch():
    for lib, f in ((bp, F.kl_div), (torch, TF.kl_div)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            f(lib.zeros(2, 3), lib.ones(2, 3) / 3)
        assert len(w) == 1 and "'batchmean' divides only by the batch size" in str(w[0].message)


@pytest.mark.parametrize("name", ['mse_loss', 'l1_loss', 'smooth_l1_loss', 'huber_loss'])
@pytest.mark.parametrize("tdtype", [np.int64, np.int32, np.float64])
def test_regression_loss_target_dtypes_match_torch(name, tdtype):
    "An int64 (or int32) target is promoted as PyTorch promotes it; float32 input with a float64 target computes in float64."
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = (rng.integers(-2, 3, (4, 3)) if tdtype != np.bool_ else rng.integers(0, 2, (4, 3))).astype(tdtype)
    grads_of = [0] if name != 'huber_loss' else []        # PyTorch's huber backward refuses a target of another dtype (ours works)
    (yb, yt), grads = both(getattr(F, name), getattr(TF, name), [x, y], grads_of)
    if name != 'huber_loss': assert yb.dtype == yt.detach().numpy().dtype   # PyTorch's huber keeps the input's dtype (then its backward fails)
    np.testing.assert_allclose(yb.array, yt.detach().numpy(), rtol=1e-6)
    for a, b in grads: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ['mse_loss', 'l1_loss', 'smooth_l1_loss', 'huber_loss'])
@pytest.mark.parametrize("shapes", [((4, 3), (3,)), ((4, 1), (4,)), ((4, 3), (4, 1)), ((3,), (2, 3))])
@pytest.mark.parametrize("red", ['none', 'mean', 'sum'])
def test_broadcast_target_matches_torch_with_its_warning(name, shapes, red):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    with warnings.catch_warnings(record=True) as wb:
        warnings.simplefilter('always')
        pair, grads = both(lambda a, b: getattr(F, name)(a, b, reduction=red), lambda a, b: getattr(TF, name)(a, b, reduction=red), [x, y])
    check(pair, grads, np.float64)
    ours = [str(w.message) for w in wb if 'target size' in str(w.message)]
    theirs = [str(w.message) for w in wb if 'torch.Size' in str(w.message)]
    assert len(ours) - len(theirs) == 1 and len(theirs) == 1, [str(w.message) for w in wb]
    for m in ours + theirs: assert m.startswith('Using a target size') and 'Please ensure they have the same size' in m


def test_non_broadcastable_target_and_bce_shapes_refused_like_torch():
    with pytest.raises(ValueError): F.mse_loss(bp.zeros(4, 3), bp.zeros(4))
    with pytest.raises(RuntimeError): TF.mse_loss(torch.zeros(4, 3), torch.zeros(4))
    for f, tf in ((F.binary_cross_entropy, TF.binary_cross_entropy), (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits)):
        with pytest.raises(ValueError): f(bp.full((4, 3), 0.5), bp.ones(3))
        with pytest.raises(ValueError): tf(torch.full((4, 3), 0.5), torch.ones(3))


def test_bce_target_outside_unit_interval_raises_like_torch():
    for bad in ([0.5, 2.], [-0.1, 1.]):
        with pytest.raises(RuntimeError, match='all elements of target should be between 0 and 1'):
            F.binary_cross_entropy(bp.tensor([0.3, 0.6]), bp.tensor(bad))
        with pytest.raises(RuntimeError, match='all elements of target should be between 0 and 1'):
            TF.binary_cross_entropy(torch.tensor([0.3, 0.6]), torch.tensor(bad))


def test_float16_mean_losses_match_torch():
    "float16 'mean' over 98304 elements: PyTorch accumulates in float32 and gets ~1.0; so must we (not inf/NaN), gradients finite."
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3, 32, 32)).astype(np.float16)
    y = np.zeros_like(x)
    for f, tf in ((F.mse_loss, TF.mse_loss), (F.l1_loss, TF.l1_loss), (F.smooth_l1_loss, TF.smooth_l1_loss), (F.huber_loss, TF.huber_loss),
                  (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits)):
        xb, xt = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        lb, lt = f(xb, tensor(y)), tf(xt, torch.tensor(y))
        assert lb.dtype == np.float16 and np.isfinite(lb.item())
        np.testing.assert_allclose(float(lb.item()), float(lt.item()), rtol=2e-3)
        lb.backward(); lt.backward()
        assert np.isfinite(xb.grad.array).all() and np.abs(xb.grad.array).max() > 0
        np.testing.assert_allclose(xb.grad.array.astype(np.float32), xt.grad.numpy().astype(np.float32), rtol=2e-2, atol=1e-7)
    z = rng.standard_normal((40000, 10)).astype(np.float16)
    c = rng.integers(0, 10, 40000)
    zb, zt = tensor(z, requires_grad=True), torch.tensor(z.astype(np.float32), requires_grad=True)
    lb, lt = F.cross_entropy(zb, tensor(c)), TF.cross_entropy(zt, torch.tensor(c))     # PyTorch's CPU float16 cross_entropy is inf here
    np.testing.assert_allclose(float(lb.item()), float(lt.item()), rtol=2e-3)
    lb.backward(); lt.backward()
    np.testing.assert_allclose(zb.grad.array.astype(np.float32), zt.grad.numpy().astype(np.float32), rtol=2e-2, atol=1e-7)


@pytest.mark.parametrize("red", ['mean', 'sum', 'none'])
def test_all_targets_ignored_matches_torch(red):
    z = np.random.default_rng(0).standard_normal((3, 4))
    y = np.full(3, -100)
    for f, tf in ((F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)):
        zb, zt = tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
        lb, lt = f(zb, tensor(y), reduction=red), tf(zt, torch.tensor(y), reduction=red)
        np.testing.assert_array_equal(lb.array, lt.detach().numpy())            # nan for 'mean', 0 for 'sum'
        lb.sum().backward(); lt.sum().backward()
        np.testing.assert_array_equal(zb.grad.array, zt.grad.numpy())


@pytest.mark.parametrize("n_in,n_out", [(0, 3), (3, 0), (0, 0)])
def test_zero_size_linear_matches_torch(n_in, n_out):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        ours = nn.Linear(n_in, n_out)
        theirs = torch.nn.Linear(n_in, n_out)
    msgs = [str(m.message) for m in w]
    assert msgs.count('Initializing zero-element tensors is a no-op') == 2
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, n_in)).astype(np.float32)
    xb, xt = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yb, yt = ours(xb), theirs(xt)
    assert yb.shape == tuple(yt.shape)
    np.testing.assert_array_equal(yb.array, yt.detach().numpy())
    yb.sum().backward(); yt.sum().backward()
    np.testing.assert_array_equal(xb.grad.array, xt.grad.numpy())
    for p, q in zip(ours.parameters(), theirs.parameters()): np.testing.assert_array_equal(p.grad.array, q.grad.numpy())
