"""PyTorch oracle for the ops added to chapter 3 for PyTorch programs (inverse trig, atan2, nan_to_num, lerp,
logaddexp, addmm, diagonal, trace, movedim, repeat_interleave, tile, masked_select, diff, unique, meshgrid)
and for the vectorised erf: values and gradients over hypothesis-chosen shapes."""
import math
import numpy as np
import pytest
torch = pytest.importorskip('torch')
from hypothesis import given, settings, strategies as st
import backprop as bp
from backprop.ops import erf_np

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
S = settings(max_examples=25, deadline=None)

def both(a, grad=True):
    return bp.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)

def check(fb, ft, *arrays, atol=1e-10):
    "Same value and same gradient (of a fixed random projection) on backprop and PyTorch, in float64."
    xs = [both(a) for a in arrays]
    yb, yt = fb(*[b for b, _ in xs]), ft(*[t for _, t in xs])
    np.testing.assert_allclose(yb.array, yt.detach().numpy(), atol=atol, rtol=1e-9)
    w = np.random.default_rng(0).normal(size=yt.shape)
    (yb * bp.tensor(w)).sum().backward(); (yt * torch.tensor(w)).sum().backward()
    for b, t in xs: np.testing.assert_allclose(b.grad.array, t.grad.numpy(), atol=atol, rtol=1e-8)

@S
@given(shapes, st.integers(0, 2**31))
def test_elementwise(shape, seed):
    rng = np.random.default_rng(seed)
    x, u = rng.normal(size=shape), rng.uniform(-0.95, 0.95, shape)
    for name in ['tan', 'atan', 'sinh', 'cosh', 'reciprocal', 'erf']: check(getattr(bp, name), getattr(torch, name), x)
    for name in ['asin', 'acos', 'arcsin', 'arccos']: check(getattr(bp, name), getattr(torch, name), u)
    check(bp.atan2, torch.atan2, x, rng.normal(size=shape[-1:]))
    check(bp.logaddexp, torch.logaddexp, x * 30, rng.normal(size=shape) * 30)
    check(lambda a, b, c: bp.lerp(a, b, c), lambda a, b, c: torch.lerp(a, b, c), x, rng.normal(size=shape), rng.uniform(size=shape))
    check(lambda a: a.clamp_min(0.1), lambda a: a.clamp_min(0.1), x)
    check(lambda a, b, c: bp.addcdiv(a, b, c, value=0.5), lambda a, b, c: torch.addcdiv(a, b, c, value=0.5), x, x + 1, x * x + 1)

def test_atan2_quadrants_and_nan_to_num():
    y, x = np.array([1., -1., 0., 0., -0., 2.]), np.array([0., 0., -1., 1., -1., -2.])
    np.testing.assert_allclose(bp.atan2(bp.tensor(y), bp.tensor(x)).array, torch.atan2(torch.tensor(y), torch.tensor(x)).numpy())
    a = np.array([1., np.nan, np.inf, -np.inf], np.float32)
    for kw in [{}, dict(nan=2.0, posinf=5.0), dict(neginf=-1.0)]:
        np.testing.assert_array_equal(bp.nan_to_num(bp.tensor(a), **kw).array, torch.nan_to_num(torch.tensor(a), **kw).numpy())
    check(bp.nan_to_num, torch.nan_to_num, np.array([1., np.nan, np.inf, 3.]))
    for f in ['isnan', 'isinf', 'isfinite']:
        np.testing.assert_array_equal(getattr(bp, f)(bp.tensor(a)).array, getattr(torch, f)(torch.tensor(a)).numpy())

@S
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(-3, 3), st.integers(0, 2**31))
def test_shape_ops(n, m, b, k, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, n, m))
    check(lambda t: bp.diagonal(t, k, 1, 2), lambda t: torch.diagonal(t, k, 1, 2), x)
    check(lambda t: t.diagonal(k, -1, 0), lambda t: t.diagonal(k, -1, 0), x)
    check(bp.trace, torch.trace, x[0])
    check(lambda t: bp.movedim(t, (0, 2), (1, 0)), lambda t: torch.movedim(t, (0, 2), (1, 0)), x)
    check(lambda t: t.swapaxes(0, 2), lambda t: t.swapaxes(0, 2), x)
    reps = rng.integers(0, 3, size=n)
    check(lambda t: bp.repeat_interleave(t, bp.tensor(reps), dim=1), lambda t: torch.repeat_interleave(t, torch.tensor(reps), dim=1), x)
    check(lambda t: t.repeat_interleave(2), lambda t: t.repeat_interleave(2), x)
    check(lambda t: bp.tile(t, (2, 1)), lambda t: torch.tile(t, (2, 1)), x)
    mask = rng.uniform(size=(n, m)) > 0.5
    check(lambda t: bp.masked_select(t, bp.tensor(mask)), lambda t: torch.masked_select(t, torch.tensor(mask)), x)
    check(lambda t: bp.diff(t, dim=1), lambda t: torch.diff(t, dim=1), x)
    check(lambda t: bp.diff(t, n=2), lambda t: torch.diff(t, n=2), x)
    check(lambda a, c, d: bp.addmm(a, c, d, beta=0.5, alpha=2.), lambda a, c, d: torch.addmm(a, c, d, beta=0.5, alpha=2.),
          rng.normal(size=m), rng.normal(size=(n, 3)), rng.normal(size=(3, m)))
    i = rng.integers(-2, 3, size=(n, m))
    np.testing.assert_array_equal(bp.count_nonzero(bp.tensor(i), dim=1).array, torch.count_nonzero(torch.tensor(i), dim=1).numpy())
    np.testing.assert_array_equal(bp.argwhere(bp.tensor(i)).array, torch.argwhere(torch.tensor(i)).numpy())

@S
@given(shapes, st.integers(0, 2**31))
def test_unique(shape, seed):
    a = np.random.default_rng(seed).integers(0, 4, size=shape)
    for kw in [{}, dict(return_inverse=True), dict(return_counts=True), dict(return_inverse=True, return_counts=True)]:
        got, want = bp.unique(bp.tensor(a), **kw), torch.unique(torch.tensor(a), **kw)
        got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
        for g, w in zip(got, want):
            assert g.dtype == np.int64 and g.shape == tuple(w.shape)
            np.testing.assert_array_equal(g.array, w.numpy())
    g, w = bp.unique(bp.tensor(a), dim=0, return_inverse=True), torch.unique(torch.tensor(a), dim=0, return_inverse=True)
    for x, y in zip(g, w): np.testing.assert_array_equal(x.array, y.numpy())

@pytest.mark.parametrize('indexing', ['ij', 'xy'])
def test_meshgrid(indexing):
    a, b, c = np.arange(3.), np.arange(2.) + 5, np.arange(4.) - 1
    check(lambda x, y, z: sum(g * (i + 1) for i, g in enumerate(bp.meshgrid(x, y, z, indexing=indexing))),
          lambda x, y, z: sum(g * (i + 1) for i, g in enumerate(torch.meshgrid(x, y, z, indexing=indexing))), a, b, c)
    for g, w in zip(bp.meshgrid(bp.tensor(a), bp.tensor(b), indexing=indexing), torch.meshgrid(torch.tensor(a), torch.tensor(b), indexing=indexing)):
        np.testing.assert_array_equal(g.array, w.numpy())
    with pytest.warns(UserWarning, match='indexing'): bp.meshgrid(bp.tensor(a), bp.tensor(b))

def test_erf_against_math_and_torch():
    g = np.concatenate([np.linspace(-7, 7, 100_001), -np.geomspace(1e-200, 10, 3001), [np.inf, -np.inf, 0.0]])
    want = np.array([math.erf(v) for v in g])
    assert np.max(np.abs(erf_np(g) - want) / np.maximum(np.abs(want), 1e-300)) <= 1e-14
    np.testing.assert_allclose(erf_np(g), torch.erf(torch.tensor(g)).numpy(), rtol=1e-15, atol=0)                  # within a few ulps
    x32 = np.linspace(-4, 4, 1001, dtype=np.float32)
    assert bp.erf(bp.tensor(x32)).dtype == np.float32
    np.testing.assert_allclose(bp.erf(bp.tensor(x32)).array, torch.erf(torch.tensor(x32)).numpy(), rtol=2e-7, atol=1e-7)

@S
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31))
def test_index_add_copy_fill(n, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, m))
    idx = rng.permutation(m)[:rng.integers(1, m + 1)]
    src = rng.normal(size=(n, len(idx)))
    rep = rng.integers(0, m, size=5)
    check(lambda a, s: bp.index_add(a, 1, bp.tensor(rep), s, alpha=0.5), lambda a, s: torch.index_add(a, 1, torch.tensor(rep), s, alpha=0.5), x, rng.normal(size=(n, 5)))
    check(lambda a, s: bp.index_copy(a, 1, bp.tensor(idx), s), lambda a, s: torch.index_copy(a, 1, torch.tensor(idx), s), x, src)
    check(lambda a: bp.index_fill(a, 1, bp.tensor(idx), -2.), lambda a: torch.index_fill(a, 1, torch.tensor(idx), -2.), x)
    b, t = bp.tensor(x), torch.tensor(x)
    two = np.concatenate([x[:1], x[:1]])
    b.index_add_(0, bp.tensor([0, 0]), bp.tensor(two)); t.index_add_(0, torch.tensor([0, 0]), torch.tensor(two))
    np.testing.assert_allclose(b.array, t.numpy())

def test_inplace_relu_and_index_add_on_saved_tensor():
    for lib in (bp, torch):
        x = lib.tensor([-1., 2.], requires_grad=True)
        y = lib.sigmoid(x)
        lib.nn.functional.relu(y, inplace=True)                 # sigmoid saved its output: the backward must refuse
        with pytest.raises(RuntimeError, match='modified by an inplace operation'): y.sum().backward()
        w, v = lib.tensor([1., 2.], requires_grad=True), lib.tensor([3., 4.])
        y = (w * v).sum(); v.index_add_(0, lib.tensor([0]), lib.tensor([1.]))
        with pytest.raises(RuntimeError, match='modified by an inplace operation'): y.backward()

def test_float16_cumsum_accumulates_in_float32():
    h = np.ones(70000, np.float16)
    got, want = bp.tensor(h).cumsum(0), torch.tensor(h).cumsum(0)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.array, want.numpy())      # exact up to 2048, rounded beyond, inf past 65504

def test_logit_var_mean_searchsorted_and_inplace_forms():
    p = np.random.default_rng(1).uniform(0.02, 0.98, size=(3, 4))
    check(bp.logit, torch.logit, p)
    check(lambda t: bp.logit(t, eps=0.1), lambda t: torch.logit(t, eps=0.1), p)
    for f in ('var_mean', 'std_mean'):
        for kw in [dict(), dict(dim=1), dict(dim=0, correction=0, keepdim=True)]:
            for g, w in zip(getattr(bp, f)(bp.tensor(p), **kw), getattr(torch, f)(torch.tensor(p), **kw)):
                np.testing.assert_allclose(g.array, w.numpy(), rtol=1e-12)
    s, v = np.array([1, 3, 3, 5]), np.array([[0, 3, 6], [3, 4, 5]])
    for right in (False, True):
        np.testing.assert_array_equal(bp.searchsorted(bp.tensor(s), bp.tensor(v), right=right).array,
                                      torch.searchsorted(torch.tensor(s), torch.tensor(v), right=right).numpy())
        np.testing.assert_array_equal(bp.bucketize(bp.tensor(v), bp.tensor(s), right=right).array,
                                      torch.bucketize(torch.tensor(v), torch.tensor(s), right=right).numpy())
    s2 = np.sort(np.random.default_rng(2).normal(size=(2, 5)), axis=1)
    v2 = np.random.default_rng(3).normal(size=(2, 3))
    np.testing.assert_array_equal(bp.searchsorted(bp.tensor(s2), bp.tensor(v2)).array, torch.searchsorted(torch.tensor(s2), torch.tensor(v2)).numpy())
    for name, args in [('lerp_', (np.ones((3, 4)), 0.3)), ('clamp_min_', (0.5,)), ('clamp_max_', (0.5,)), ('logit_', ()),
                       ('addcmul_', (p, p)), ('atan_', ()), ('reciprocal_', ())]:
        a, b = bp.tensor(p.copy()), torch.tensor(p.copy())
        getattr(a, name)(*[bp.tensor(x) if isinstance(x, np.ndarray) else x for x in args])
        getattr(b, name)(*[torch.tensor(x) if isinstance(x, np.ndarray) else x for x in args])
        np.testing.assert_allclose(a.array, b.numpy(), rtol=1e-12, err_msg=name)

def test_softmax_without_dim_is_the_legacy_choice():
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        x = np.random.default_rng(0).normal(size=shape)
        with pytest.warns(UserWarning, match='Implicit dimension'): got = bp.nn.functional.softmax(bp.tensor(x))
        with pytest.warns(UserWarning): want = torch.nn.functional.softmax(torch.tensor(x))
        np.testing.assert_allclose(got.array, want.numpy(), rtol=1e-12)
        with pytest.warns(UserWarning): got = bp.nn.functional.log_softmax(bp.tensor(x))
        with pytest.warns(UserWarning): want = torch.nn.functional.log_softmax(torch.tensor(x))
        np.testing.assert_allclose(got.array, want.numpy(), rtol=1e-12)

@S
@given(shapes, st.integers(0, 2**31), st.floats(0, 0.6))
def test_cumprod_with_zeros(shape, seed, pzero):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * (rng.uniform(size=shape) > pzero)             # some exact zeros
    for d in range(len(shape)):
        check(lambda t: bp.cumprod(t, d), lambda t: torch.cumprod(t, d), x)
    if shape[-1] == 1: return                                                  # the gradient is constant: no double backward
    xb = bp.tensor(x, requires_grad=True); xt = torch.tensor(x, requires_grad=True)
    gb, = bp.autograd.grad(bp.cumprod(xb, -1).sum(), [xb], create_graph=True)
    gt, = torch.autograd.grad(torch.cumprod(xt, -1).sum(), [xt], create_graph=True)
    w = rng.normal(size=shape)
    (gb * bp.tensor(w)).sum().backward(); (gt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xb.grad.array, xt.grad.numpy(), atol=1e-10)     # double backward, zeros included

@S
@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**31))
def test_linalg_inv_solve_det(n, b, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(b, n, n)) + 2 * n * np.eye(n)                        # well conditioned
    check(bp.linalg.inv, torch.linalg.inv, A, atol=1e-9)
    check(bp.linalg.det, torch.linalg.det, A, atol=1e-8)
    check(bp.inverse, torch.inverse, A[0], atol=1e-9)
    check(bp.linalg.solve, torch.linalg.solve, A, rng.normal(size=(b, n, 2)), atol=1e-9)
    check(bp.linalg.solve, torch.linalg.solve, A[0], rng.normal(size=n), atol=1e-9)
    check(bp.linalg.norm, torch.linalg.norm, A)
    check(bp.linalg.matrix_norm, torch.linalg.matrix_norm, A)
    check(lambda t: bp.linalg.norm(t, 1, dim=-1), lambda t: torch.linalg.norm(t, 1, dim=-1), A + 0.1)

def test_diagonal_and_select_are_views_as_in_torch():
    for make in (lambda L: L.zeros(2, 3), lambda L: L.zeros(3, 3)):
        got, want = make(bp), make(torch)
        got.diagonal().add_(1.); want.diagonal().add_(1.)
        got.diagonal(1).fill_(5.); want.diagonal(1).fill_(5.)
        got.select(1, 0).mul_(3.); want.select(1, 0).mul_(3.)
        np.testing.assert_array_equal(got.array, want.numpy())
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    check(lambda t: t.select(2, -1), lambda t: t.select(2, -1), x)
    for lib in (bp, torch):                        # a write through a view of a tensor the graph saved: refused
        w = lib.ones(2, 2, requires_grad=True); h = w * 1; z = (h * h).sum()
        with pytest.raises(RuntimeError): h.diagonal().mul_(3.); z.backward()

@S
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31))
def test_stack_rotate_contract_median(n, m, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, m)), rng.normal(size=(m, 2))
    check(lambda a: bp.hstack([a, a]), lambda a: torch.hstack([a, a]), x)
    check(lambda a: bp.vstack([a, a[0]]), lambda a: torch.vstack([a, a[0]]), x)
    for k in (-1, 1, 2, 3): check(lambda a: bp.rot90(a, k), lambda a: torch.rot90(a, k), x)
    idx = rng.integers(0, m, size=(n, 3))
    check(lambda a: bp.take_along_dim(a, bp.tensor(idx), 1), lambda a: torch.take_along_dim(a, torch.tensor(idx), 1), x)
    i0 = rng.integers(0, n, size=(2, 1))                                        # broadcast along dim 1
    check(lambda a: bp.take_along_dim(a, bp.tensor(i0), 0), lambda a: torch.take_along_dim(a, torch.tensor(i0), 0), x)
    check(lambda a: bp.take_along_dim(a, bp.tensor(idx)), lambda a: torch.take_along_dim(a, torch.tensor(idx)), x)
    check(bp.kron, torch.kron, x, y)
    a3, b3 = rng.normal(size=(2, n, m)), rng.normal(size=(n, m, 3))
    check(lambda a, b: bp.tensordot(a, b, 2), lambda a, b: torch.tensordot(a, b, 2), a3, b3)
    check(lambda a, b: bp.tensordot(a, b, ([1], [0])), lambda a, b: torch.tensordot(a, b, ([1], [0])), a3, b3)
    u, v = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    check(bp.linalg.cross, torch.linalg.cross, u, v)
    check(bp.median, torch.median, x)
    check(lambda a: bp.median(a, 1).values, lambda a: torch.median(a, 1).values, x)
    np.testing.assert_array_equal(bp.median(bp.tensor(x), 0, keepdim=True).indices.array, torch.median(torch.tensor(x), 0, keepdim=True).indices.numpy())
    for f in ('tril_indices', 'triu_indices'):
        for off in (-1, 0, 2):
            np.testing.assert_array_equal(getattr(bp, f)(n, m, off).array, getattr(torch, f)(n, m, off).numpy())

def test_erfinv_against_torch():
    z = np.concatenate([np.linspace(-0.999999, 0.999999, 20001), [1, -1, 0, 1.5, np.nextafter(1., 0), 1e-300],
                        1 - np.geomspace(1e-16, 0.5, 1000), -np.geomspace(1e-300, 0.5, 300)])
    got, want = bp.erfinv(bp.tensor(z)).array, torch.erfinv(torch.tensor(z)).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-15, atol=0)                    # nan and ±inf in the same places
    check(bp.erfinv, torch.erfinv, np.random.default_rng(0).uniform(-0.95, 0.95, 20))
    assert bp.erfinv(bp.tensor(np.float32([0.3]))).dtype == np.float32
