"PyTorch oracle for the activations, Dropout2d and Unflatten added for issue 9: outputs and input gradients over hypothesis-chosen shapes."
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
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=1e-5)}
shapes = st.lists(st.integers(1, 5), min_size=0, max_size=4).map(tuple)
dtypes = st.sampled_from([np.float64, np.float32])


def both(f_bp, f_t, x, g):
    "Forward + backward on both libraries; return (y, dx) pairs."
    xb = tensor(x, requires_grad=True); yb = f_bp(xb); yb.backward(tensor(g.astype(yb.dtype)))
    xt = torch.tensor(x, requires_grad=True); yt = f_t(xt); yt.backward(torch.tensor(g.astype(x.dtype)))
    return (yb.array, yt.detach().numpy()), (xb.grad.array, xt.grad.numpy())


# alphas/betas exactly representable in float32: PyTorch's CPU backward kernels round the scalar to float32
PAIRS = {
    'silu': (lambda: (nn.SiLU(), torch.nn.SiLU()), F.silu, TF.silu, ()),
    'elu': (lambda: (nn.ELU(0.75), torch.nn.ELU(0.75)), F.elu, TF.elu, (0.75,)),
    'softplus': (lambda: (nn.Softplus(), torch.nn.Softplus()), F.softplus, TF.softplus, ()),
    'softplus_beta': (lambda: (nn.Softplus(2., 3.), torch.nn.Softplus(2., 3.)), F.softplus, TF.softplus, (2., 3.)),
    'hardtanh': (lambda: (nn.Hardtanh(-0.5, 1.5), torch.nn.Hardtanh(-0.5, 1.5)), F.hardtanh, TF.hardtanh, (-0.5, 1.5)),
    'relu6': (lambda: (nn.ReLU6(), torch.nn.ReLU6()), F.relu6, TF.relu6, ()),
    'logsigmoid': (lambda: (nn.LogSigmoid(), torch.nn.LogSigmoid()), F.logsigmoid, TF.logsigmoid, ()),
    'gelu_tanh': (lambda: (nn.GELU('tanh'), torch.nn.GELU('tanh')), lambda t, a: F.gelu(t, approximate=a), lambda t, a: TF.gelu(t, approximate=a), ('tanh',)),
}


@pytest.mark.parametrize("name", list(PAIRS))
@settings(max_examples=20, deadline=None)
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.5, 3., 30.]))
def test_activation_matches_torch(name, shape, dtype, seed, scale):
    mods, f_bp, f_t, args = PAIRS[name]
    rng = np.random.default_rng(seed)
    x, g = (rng.standard_normal(shape) * scale).astype(dtype), rng.standard_normal(shape).astype(dtype)
    ours, theirs = mods()
    assert repr(ours) == repr(theirs)
    for fb, ft in [(ours, theirs), (lambda t: f_bp(t, *args), lambda t: f_t(t, *args))]:
        (y1, y2), (g1, g2) = both(fb, ft, x, g)
        assert y1.dtype == y2.dtype
        np.testing.assert_allclose(y1, y2, **TOL[dtype])
        np.testing.assert_allclose(g1, g2, **TOL[dtype])


@pytest.mark.parametrize("name", list(PAIRS))
def test_activation_extremes_match_torch(name):
    _, f_bp, f_t, args = PAIRS[name]
    for dtype in (np.float32, np.float64):
        x = np.array([-1e4, -100., -20., -1e-3, 0., 1e-3, 20., 100., 1e4], dtype)
        g = np.ones_like(x)
        with np.errstate(over='raise', invalid='raise', divide='raise'):
            (y1, y2), (g1, g2) = both(lambda t: f_bp(t, *args), lambda t: f_t(t, *args), x, g)
        np.testing.assert_allclose(y1, y2, rtol=1e-6, atol=1e-30)
        np.testing.assert_allclose(g1, g2, rtol=1e-6, atol=1e-30)


def test_activation_second_order_matches_torch():
    rng = np.random.default_rng(0)
    x0, v = rng.standard_normal((3, 4)) * 2, rng.standard_normal((3, 4))
    for name, (_, f_bp, f_t, args) in PAIRS.items():
        if name in ('hardtanh', 'relu6'): continue          # piecewise linear: second derivative 0 (torch: no graph)
        x = tensor(x0, requires_grad=True)
        (gx,) = bp.autograd.grad((f_bp(x, *args) * tensor(v)).sum(), [x], create_graph=True)
        (h,) = bp.autograd.grad((gx * gx).sum(), [x])
        xt = torch.tensor(x0, requires_grad=True)
        (gxt,) = torch.autograd.grad((f_t(xt, *args) * torch.tensor(v)).sum(), [xt], create_graph=True)
        (ht,) = torch.autograd.grad((gxt * gxt).sum(), [xt])
        np.testing.assert_allclose(h.array, ht.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 6), hw=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       p=st.sampled_from([0., 0.2, 0.5, 1.]), seed=st.integers(0, 1000))
def test_dropout2d_is_a_channel_mask(n, c, hw, p, seed):
    "Same law as PyTorch's: each (sample, channel) map is kept (scaled by 1/(1-p)) or zeroed as a whole."
    manual_seed(seed)
    x = tensor(np.random.default_rng(seed).uniform(1, 2, (n, c) + hw), requires_grad=True)
    y = F.dropout2d(x, p)
    ratio = y.array / x.array
    per_map = ratio.reshape(n, c, -1)
    np.testing.assert_allclose(per_map, np.broadcast_to(per_map[..., :1], per_map.shape), rtol=1e-14)
    kept = per_map[..., 0] != 0
    if p == 1: assert not kept.any()
    else: np.testing.assert_allclose(per_map[..., 0][kept], 1 / (1 - p))
    y.backward(tensor(np.ones(y.shape)))
    np.testing.assert_allclose(x.grad.array, ratio)
    assert F.dropout2d(x, p, training=False) is x


def test_dropout2d_rate_and_warning_match_torch():
    manual_seed(0)
    y = F.dropout2d(bp.ones(64, 50, 2, 2), 0.3)
    assert abs((y.array[:, :, 0, 0] == 0).mean() - 0.3) < 0.03
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); F.dropout2d(bp.ones(2, 3, 4))
    with warnings.catch_warnings(record=True) as wt:
        warnings.simplefilter('always'); TF.dropout2d(torch.ones(2, 3, 4))
    assert len(w) == len(wt) == 1 and 'Received a 3D input to dropout2d' in str(w[0].message) and 'Received a 3D input to dropout2d' in str(wt[0].message)
    assert repr(nn.Dropout2d(0.3)) == repr(torch.nn.Dropout2d(0.3))


@settings(max_examples=20, deadline=None)
@given(lead=st.integers(1, 3), a=st.integers(1, 4), b=st.integers(1, 4), tail=st.integers(1, 3), neg=st.booleans(), seed=st.integers(0, 100))
def test_unflatten_matches_torch(lead, a, b, tail, neg, seed):
    rng = np.random.default_rng(seed)
    x, g = rng.standard_normal((lead, a * b, tail)), rng.standard_normal((lead, a, b, tail))
    sizes = (a, -1) if neg else (a, b)
    ours, theirs = nn.Unflatten(1, sizes), torch.nn.Unflatten(1, sizes)
    assert repr(ours) == repr(theirs)
    (y1, y2), (g1, g2) = both(ours, theirs, x, g)
    np.testing.assert_array_equal(y1, y2); np.testing.assert_array_equal(g1, g2)


@settings(max_examples=30, deadline=None)
@given(a=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), drop=st.integers(0, 3), dim=st.integers(-3, 2),
       p=st.sampled_from([1., 2., 3.]), zero=st.booleans(), seed=st.integers(0, 99))
def test_normalize_and_cosine_similarity_match_torch(a, drop, dim, p, zero, seed):
    rng = np.random.default_rng(seed)
    b = tuple(1 if i < drop else s for i, s in enumerate(a))                   # x2 broadcasts against x1
    if not -len(a) <= dim < len(a): dim = dim % len(a)
    x, y = rng.standard_normal(a), rng.standard_normal(b)
    if zero: x[..., 0] = 0
    (y1, y2), (g1, g2) = both(lambda t: F.normalize(t, p, dim), lambda t: TF.normalize(t, p, dim), x, rng.standard_normal(a))
    np.testing.assert_allclose(y1, y2, **TOL[np.float64]); np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9)
    xb, yb = tensor(x, requires_grad=True), tensor(y, requires_grad=True)
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    ob, ot = F.cosine_similarity(xb, yb, dim), TF.cosine_similarity(xt, yt, dim)
    np.testing.assert_allclose(ob.array, ot.detach().numpy(), **TOL[np.float64])
    ob.sum().backward(); ot.sum().backward()
    np.testing.assert_allclose(xb.grad.array, xt.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(yb.grad.array, yt.grad.numpy(), rtol=1e-9, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(0, 4), max_size=3).map(tuple), extra=st.integers(0, 2), seed=st.integers(0, 99))
def test_one_hot_matches_torch(shape, extra, seed):
    idx = np.random.default_rng(seed).integers(0, 5, shape)
    if idx.size: np.testing.assert_array_equal(F.one_hot(tensor(idx)).array, TF.one_hot(torch.tensor(idx)).numpy())
    C = (int(idx.max()) + 1 if idx.size else 1) + extra
    out = F.one_hot(tensor(idx), C)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.array, TF.one_hot(torch.tensor(idx), C).numpy())
    for bad in ([-1], [5]):
        with pytest.raises(RuntimeError): F.one_hot(tensor(bad), 5)
        with pytest.raises(RuntimeError): TF.one_hot(torch.tensor(bad), 5)


MORE = {
    'mish': (lambda: (nn.Mish(), torch.nn.Mish()), F.mish, TF.mish),
    'hardswish': (lambda: (nn.Hardswish(), torch.nn.Hardswish()), F.hardswish, TF.hardswish),
    'softmin': (lambda: (nn.Softmin(-1), torch.nn.Softmin(-1)), lambda t: F.softmin(t, -1), lambda t: TF.softmin(t, -1)),
}


@pytest.mark.parametrize("name", list(MORE))
@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), dtype=dtypes, seed=st.integers(0, 99))
def test_more_activations_match_torch(name, shape, dtype, seed):
    mods, f_bp, f_t = MORE[name]
    rng = np.random.default_rng(seed)
    x, g = (rng.standard_normal(shape) * 3).astype(dtype), rng.standard_normal(shape).astype(dtype)
    ours, theirs = mods()
    assert repr(ours) == repr(theirs)
    for fb, ft in [(ours, theirs), (f_bp, f_t)]:
        (y1, y2), (g1, g2) = both(fb, ft, x, g)
        np.testing.assert_allclose(y1, y2, **TOL[dtype]); np.testing.assert_allclose(g1, g2, **TOL[dtype])


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), per_channel=st.booleans(), seed=st.integers(0, 99))
def test_prelu_matches_torch(shape, per_channel, seed):
    C = (shape[1] if len(shape) >= 2 else 1) if per_channel else 1          # a 1-d input has no channel dim
    ours, theirs = nn.PReLU(C, init=0.1), torch.nn.PReLU(C, init=0.1)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(seed)
    with torch.no_grad(): theirs.weight.copy_(torch.tensor(rng.uniform(-1, 1, C).astype(np.float32)))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.double(); theirs.double()
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    (y1, y2), (g1, g2) = both(ours, theirs, x, g)
    np.testing.assert_allclose(y1, y2, **TOL[np.float64]); np.testing.assert_allclose(g1, g2, **TOL[np.float64])
    np.testing.assert_allclose(ours.weight.grad.array, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_distance_modules_match_torch():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    for ours, theirs in [(nn.PairwiseDistance(), torch.nn.PairwiseDistance()), (nn.PairwiseDistance(1., keepdim=True), torch.nn.PairwiseDistance(1., keepdim=True)),
                         (nn.CosineSimilarity(), torch.nn.CosineSimilarity()), (nn.CosineSimilarity(0), torch.nn.CosineSimilarity(0))]:
        assert repr(ours) == repr(theirs)
        xb, yb, xt, yt = tensor(a, requires_grad=True), tensor(b, requires_grad=True), torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        o, t = ours(xb, yb), theirs(xt, yt)
        np.testing.assert_allclose(o.array, t.detach().numpy(), rtol=1e-10)
        o.sum().backward(); t.sum().backward()
        np.testing.assert_allclose(xb.grad.array, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(yb.grad.array, yt.grad.numpy(), rtol=1e-9, atol=1e-12)
