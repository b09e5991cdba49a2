"""Forward mode against PyTorch: `bp.func.jvp` / `linearize` / `jacfwd` / `jacrev` / `hessian` vs `torch.func`, and
`bp.autograd.functional` (jacobian, hessian, vjp, jvp, hvp, vhp) vs `torch.autograd.functional`, over
hypothesis-chosen shapes. Each function is written once as `f(L, *xs)`, `L` being `backprop` or `torch`."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings, strategies as st, HealthCheck  # noqa: E402

import backprop as bp  # noqa: E402
import backprop.func as BF  # noqa: E402
import backprop.autograd.functional as BAF  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::RuntimeWarning"), pytest.mark.filterwarnings("ignore::UserWarning")]
SET = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TF = torch.autograd.functional

def close(a, t, what, tol=1e-10):
    if isinstance(t, (tuple, list)):
        assert isinstance(a, (tuple, list)) and len(a) == len(t), f"{what}: structure {type(a).__name__} vs {type(t).__name__}"
        for i, (x, y) in enumerate(zip(a, t)): close(x, y, f"{what}[{i}]", tol)
        return
    assert isinstance(a, bp.Tensor), f"{what}: got {type(a).__name__}"
    assert tuple(a.shape) == tuple(t.shape), f"{what}: shape {tuple(a.shape)} vs torch {tuple(t.shape)}"
    np.testing.assert_allclose(a.array, t.detach().numpy(), rtol=tol, atol=tol, err_msg=what)

def pair(a): return bp.tensor(a), torch.tensor(a)

# elementwise-safe functions of one (n, k) input x (values in [0.3, 0.9]) and a (k, m) weight w
OPS = {
    'exp_log_sqrt': lambda L, x, w: x.exp() + x.log() + x.sqrt(),
    'tanh_sigmoid_relu': lambda L, x, w: x.tanh() * x.sigmoid() + (x - 0.6).relu() + (x - 0.6).abs(),
    'sin_cos_erf': lambda L, x, w: L.sin(x) * L.cos(x) + L.erf(x) + L.expm1(x) + L.log1p(x) + L.rsqrt(x),
    'trig': lambda L, x, w: L.tan(x) + L.asin(x) * L.acos(x) + L.atan(x) + L.atan2(x, x * x - 0.5),
    'pow': lambda L, x, w: x ** 3 + x ** x + 1 / x - x * 2,
    'matmul_softmax': lambda L, x, w: L.softmax(x @ w, -1) * L.log_softmax(x @ w, 0),
    'reductions': lambda L, x, w: L.logsumexp(x, 1) + x.amax(1) + x.std(1, correction=0) + x.prod(1) + x.mean(1) + x.var(1, correction=0),
    'shapes': lambda L, x, w: (x.T @ x).reshape(-1)[::2].sum() + L.cat([x, x * 2], 1).sum(1) .sum() + x.permute(1, 0).flatten(),
    'indexing': lambda L, x, w: x[:, [0, 0]].sum(1) + L.gather(x, 1, L.zeros(x.shape[0], 1, dtype=L.int64)).squeeze(1),
    'scans': lambda L, x, w: L.cumsum(x, 1) + L.roll(x, 1, 0) + L.clamp(x, 0.4, 0.7) + L.where(x > 0.5, x, x * x),
    'linalg': lambda L, x, w: (L.linalg.inv(x.T @ x + L.eye(x.shape[1], dtype=x.dtype)) * L.linalg.det(x.T @ x + L.eye(x.shape[1], dtype=x.dtype))
                               + L.cumprod(x, 1).sum() + L.linalg.solve(x.T @ x + L.eye(x.shape[1], dtype=x.dtype), w)
                               .sum() + (x.T @ x).diagonal().sum()),
    'einsum': lambda L, x, w: L.einsum('nk,km->nm', x, w) + L.maximum(x @ w, (x @ w) * 0.5),
}

@st.composite
def inputs(draw):
    n, k, m = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    u = lambda *s: rng.uniform(0.3, 0.9, s)
    return u(n, k), u(k, m), rng.standard_normal((n, k)), rng.standard_normal((k, m))

@pytest.mark.parametrize('name', list(OPS))
@SET
@given(data=inputs())
def test_jvp_matches_torch(name, data):
    x0, w0, dx0, dw0 = data
    f = OPS[name]
    (bx, tx), (bw, tw), (bdx, tdx), (bdw, tdw) = map(pair, data)
    out, t = BF.jvp(lambda x, w: f(bp, x, w), (bx, bw), (bdx, bdw))
    tout, tt = torch.func.jvp(lambda x, w: f(torch, x, w), (tx, tw), (tdx, tdw))
    close(out, tout, f"{name} output"); close(t, tt, f"{name} jvp")
    _, lin = BF.linearize(lambda x, w: f(bp, x, w), bx, bw)
    close(lin(bdx, bdw), tt, f"{name} linearize")

@pytest.mark.parametrize('name', ['tanh_sigmoid_relu', 'matmul_softmax', 'reductions', 'einsum'])
@settings(max_examples=10, deadline=None)
@given(data=inputs())
def test_jacfwd_jacrev_match_torch(name, data):
    x0, w0, _, _ = data
    f = OPS[name]
    (bx, tx), (bw, tw) = pair(x0), pair(w0)
    tJ = torch.func.jacrev(lambda x, w: f(torch, x, w), argnums=(0, 1))(tx, tw)
    close(BF.jacfwd(lambda x, w: f(bp, x, w), argnums=(0, 1))(bx, bw), tJ, f"{name} jacfwd")
    close(BF.jacrev(lambda x, w: f(bp, x, w), argnums=(0, 1))(bx, bw), tJ, f"{name} jacrev")
    close(BF.jacfwd(lambda x: f(bp, x, bw))(bx), torch.func.jacfwd(lambda x: f(torch, x, tw))(tx), f"{name} jacfwd argnums=0")

SCALARS = {
    'cubic_lse': lambda L, x, w: (x ** 3).sum() + L.logsumexp(x.reshape(-1), 0),
    'mlp': lambda L, x, w: ((x @ w).tanh() ** 2).sum() + (x * x).sum() * w.sum(),
    'softmax_ce': lambda L, x, w: -(L.log_softmax(x @ w, -1)[:, 0]).sum(),
}

@pytest.mark.parametrize('name', list(SCALARS))
@settings(max_examples=10, deadline=None)
@given(data=inputs())
def test_hessians_match_torch(name, data):
    x0, w0, dx0, dw0 = data
    f = SCALARS[name]
    (bx, tx), (bw, tw), (bdx, tdx), (bdw, tdw) = map(pair, data)
    close(BF.hessian(lambda x: f(bp, x, bw))(bx), torch.func.hessian(lambda x: f(torch, x, tw))(tx), f"{name} func.hessian")
    close(BAF.hessian(lambda x, w: f(bp, x, w), (bx, bw)), TF.hessian(lambda x, w: f(torch, x, w), (tx, tw)), f"{name} hessian")
    close(BAF.hessian(lambda x, w: f(bp, x, w), (bx, bw), outer_jacobian_strategy='forward-mode'),
          TF.hessian(lambda x, w: f(torch, x, w), (tx, tw)), f"{name} hessian fwd")
    for fn in ('hvp', 'vhp'):
        o, r = getattr(BAF, fn)(lambda x, w: f(bp, x, w), (bx, bw), (bdx, bdw))
        to, tr = getattr(TF, fn)(lambda x, w: f(torch, x, w), (tx, tw), (tdx, tdw))
        close(o, to, f"{name} {fn} output"); close(r, tr, f"{name} {fn}")

@settings(max_examples=15, deadline=None)
@given(data=inputs(), strategy=st.sampled_from(['reverse-mode', 'forward-mode']))
def test_functional_jacobian_vjp_jvp_match_torch(data, strategy):
    x0, w0, dx0, dw0 = data
    (bx, tx), (bw, tw), (bdx, tdx), (bdw, tdw) = map(pair, data)
    g = lambda L: (lambda x, w: ((x @ w).exp(), (x * 2).sum(1)))
    close(BAF.jacobian(g(bp), (bx, bw), strategy=strategy), TF.jacobian(g(torch), (tx, tw)), 'jacobian tuple/tuple')
    close(BAF.jacobian(lambda x: g(bp)(x, bw)[0], bx, strategy=strategy), TF.jacobian(lambda x: g(torch)(x, tw)[0], tx), 'jacobian 1/1')
    v = np.random.default_rng(0).standard_normal((x0.shape[0], w0.shape[1]))
    close(BAF.vjp(lambda x, w: g(bp)(x, w)[0], (bx, bw), bp.tensor(v)), TF.vjp(lambda x, w: g(torch)(x, w)[0], (tx, tw), torch.tensor(v)), 'vjp')
    close(BAF.jvp(g(bp), (bx, bw), (bdx, bdw)), TF.jvp(g(torch), (tx, tw), (tdx, tdw)), 'jvp')

def test_create_graph_through_functional():
    "create_graph=True makes the results differentiable w.r.t. the inputs, as in PyTorch."
    x0 = np.array([0.3, -0.7, 1.1])
    bx, tx = bp.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    f = lambda x: (x.sin() * x ** 2).sum() if isinstance(x, bp.Tensor) else (x.sin() * x ** 2).sum()
    bH = BAF.hessian(f, bx, create_graph=True); tH = TF.hessian(f, tx, create_graph=True)
    (bg,) = bp.autograd.grad(bH.sum(), bx); (tg,) = torch.autograd.grad(tH.sum(), tx)
    close(bg, tg, 'd/dx sum(H)')
    _, bjv = BAF.jvp(f, bx, bp.tensor(x0), create_graph=True); _, tjv = TF.jvp(f, tx, torch.tensor(x0), create_graph=True)
    close(bp.autograd.grad(bjv, bx)[0], torch.autograd.grad(tjv, tx)[0], 'd/dx jvp')

def test_composition_with_torch_func():
    "grad of jvp (reverse over forward) and jvp of grad (forward over reverse) match torch.func."
    x0, v0 = np.array([0.2, 0.5, -1.0]), np.array([1.0, -2.0, 0.5])
    f = lambda x: (x.tanh() ** 3).sum()
    b = BF.grad(lambda x: BF.jvp(f, (x,), (bp.tensor(v0),))[1])(bp.tensor(x0))
    t = torch.func.grad(lambda x: torch.func.jvp(f, (x,), (torch.tensor(v0),))[1])(torch.tensor(x0))
    close(b, t, 'grad(jvp)')
    close(BF.jvp(BF.grad(f), (bp.tensor(x0),), (bp.tensor(v0),))[1],
          torch.func.jvp(torch.func.grad(f), (torch.tensor(x0),), (torch.tensor(v0),))[1], 'jvp(grad)')

def test_strict_and_errors():
    a, b = bp.tensor([1.0, 2.0]), bp.tensor([3.0])
    with pytest.raises(RuntimeError, match='independent of input 1'): BAF.vjp(lambda a, b: a.sum(), (a, b), strict=True)
    with pytest.raises(RuntimeError, match='single-element'): BAF.hessian(lambda a: a * 2, a)
    with pytest.raises(ValueError, match='tangent 0 has shape'): BF.jvp(lambda a: a * 2, (a,), (bp.tensor([1.0]),))
    with pytest.raises(TypeError, match='float tensor'): BF.jvp(lambda a: a * 2, (bp.tensor([1, 2]),), (bp.tensor([1, 2]),))

def test_custom_function_jvp_matches_torch_forward_ad():
    "A custom Function's own `jvp` staticmethod drives forward mode, as with torch.autograd.forward_ad."
    def make(L):
        class Sq(L.autograd.Function):
            @staticmethod
            def forward(ctx, x, scale):
                ctx.save_for_forward(x); ctx.scale = scale
                return x * x * scale
            @staticmethod
            def backward(ctx, g): raise AssertionError('forward mode must not call backward')
            @staticmethod
            def jvp(ctx, dx, dscale):
                (x,) = ctx.saved_tensors
                return dx * 2 * x * ctx.scale
        return Sq
    x0, v0 = np.array([0.5, -1.5, 2.0]), np.array([1.0, 2.0, -1.0])
    _, b = BF.jvp(lambda x: make(bp).apply(x, 0.5).sin(), (bp.tensor(x0),), (bp.tensor(v0),))
    import torch.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        d = fwAD.make_dual(torch.tensor(x0), torch.tensor(v0))
        t = fwAD.unpack_dual(make(torch).apply(d, 0.5).sin()).tangent
    close(b, t, 'custom jvp')

def test_grad_and_value_and_vjp_has_aux_match_torch():
    x0 = np.array([0.3, -1.2, 2.0])
    f = lambda x: ((x.sin() * x).sum(), x * 2)
    bg, (bv, ba) = BF.grad_and_value(f, has_aux=True)(bp.tensor(x0))
    tg, (tv, ta) = torch.func.grad_and_value(f, has_aux=True)(torch.tensor(x0))
    close(bg, tg, 'grad'); close(bv, tv, 'value'); close(ba, ta, 'aux')
    bo, bfn, ba = BF.vjp(lambda x: (x.exp(), x.sum()), bp.tensor(x0), has_aux=True)
    to, tfn, ta = torch.func.vjp(lambda x: (x.exp(), x.sum()), torch.tensor(x0), has_aux=True)
    close(bo, to, 'vjp out'); close(ba, ta, 'vjp aux')
    close(bfn(bp.tensor(x0))[0], tfn(torch.tensor(x0))[0], 'vjp_fn')
