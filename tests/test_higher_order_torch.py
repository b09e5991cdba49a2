"""Derivatives of derivatives against PyTorch: second (and some third) derivatives through `create_graph=True`,
Hessian-vector products (`bp.autograd.hvp` vs `torch.autograd.functional.hvp`), and the function transforms
`bp.func.grad` / `value_and_grad` / `vjp` vs `torch.func`. Each function is written once as `f(L, *xs)`."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import backprop as bp  # noqa: E402

pytestmark = pytest.mark.torch
TOL = dict(rtol=1e-9, atol=1e-11)

def data(seed, shape, kind='normal'):
    rng = np.random.default_rng(seed)
    if kind == 'normal': return rng.standard_normal(shape)
    if kind == 'positive': return rng.uniform(0.5, 2.0, shape)
    if kind == 'nonzero': return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    raise ValueError(kind)

IDX = np.array([0, 2, 0, 1, 0])
GIDX = np.array([[0, 0, 2], [1, 2, 1]])
COND = np.array([[True, False, True, False], [False, False, True, True], [True, True, False, True]])

# name: (f(L, *xs), [(shape, kind), ...])
CASES = {
    'mul': (lambda L, x, y: x * y * x, [((3, 4), 'normal'), ((4,), 'normal')]),
    'div': (lambda L, x, y: x / y, [((3, 4), 'normal'), ((3, 1), 'nonzero')]),
    'pow_tensor': (lambda L, x, y: x ** y, [((3, 4), 'positive'), ((4,), 'normal')]),
    'pow_scalar': (lambda L, x: x ** 3 + x ** 0.5 + x ** -1.5, [((2, 3), 'positive')]),
    'exp': (lambda L, x: L.exp(x * 0.5), [((2, 3), 'normal')]),
    'log': (lambda L, x: L.log(x), [((2, 3), 'positive')]),
    'sqrt': (lambda L, x: L.sqrt(x), [((2, 3), 'positive')]),
    'tanh': (lambda L, x: L.tanh(x), [((2, 3), 'normal')]),
    'sigmoid': (lambda L, x: L.sigmoid(x), [((2, 3), 'normal')]),
    'softmax': (lambda L, x: L.softmax(x, -1), [((3, 4), 'normal')]),
    'softmax_dim0': (lambda L, x: L.softmax(x, 0) * x, [((3, 4), 'normal')]),
    'log_softmax': (lambda L, x: L.log_softmax(x, 1), [((3, 4), 'normal')]),
    'logsumexp': (lambda L, x: L.logsumexp(x, 1), [((3, 4), 'normal')]),
    'logsumexp_keep': (lambda L, x: L.logsumexp(x * x, (0, 1), keepdim=True), [((3, 4), 'normal')]),
    'matmul': (lambda L, a, b: L.tanh(a @ b), [((2, 3, 4), 'normal'), ((4, 5), 'normal')]),
    'matmul_vec': (lambda L, a, b: (a @ b) ** 2, [((3, 4), 'normal'), ((4,), 'normal')]),
    'matmul_batch_bcast': (lambda L, a, b: (a @ b) * (a @ b), [((2, 1, 3, 4), 'normal'), ((5, 4, 2), 'normal')]),
    'getitem_repeat': (lambda L, x: x[L.tensor(IDX)] ** 3, [((3, 2), 'normal')]),
    'getitem_slice': (lambda L, x: x[1:, ::2] * x[:-1, 1::2], [((3, 4), 'normal')]),
    'getitem_mask': (lambda L, x: x[L.tensor(COND)] ** 2, [((3, 4), 'normal')]),
    'sum_mean': (lambda L, x, y: (x * x * y).sum(0) * (x ** 3).mean(1, keepdim=True).sum(), [((3, 4), 'normal'), ((4,), 'normal')]),
    'mean_all': (lambda L, x: (x * x).mean() * x, [((2, 3), 'normal')]),
    'maximum': (lambda L, x, y: L.maximum(x * x, y * y) * x, [((3, 4), 'normal'), ((4,), 'normal')]),
    'minimum': (lambda L, x, y: L.minimum(x, y) ** 2, [((3, 4), 'normal'), ((3, 4), 'normal')]),
    'var_std': (lambda L, x: L.var(x, 1, keepdim=True) + L.std(x, 0, correction=0) * x.sum(), [((3, 4), 'normal')]),
    'gather': (lambda L, x: L.gather(x, 1, L.tensor(GIDX)) ** 2, [((2, 3), 'normal')]),
    'cat_stack': (lambda L, x, y: L.cat([x * x, y], 0) * L.stack([x, y * y]).sum(0).sum(0), [((2, 3), 'normal'), ((2, 3), 'normal')]),
    'where': (lambda L, x, y: L.where(L.tensor(COND), x * x, y * x), [((3, 4), 'normal'), ((4,), 'normal')]),
    'amax': (lambda L, x: L.amax(x * x, 1) * x.sum(1), [((3, 4), 'normal')]),
    'max_dim': (lambda L, x: L.max(x ** 3, 0).values * x[0], [((3, 4), 'normal')]),
    'clamp_abs_relu': (lambda L, x: L.clamp(x, -0.5, 0.8) * L.abs(x) * L.relu(x) + x * x, [((3, 4), 'nonzero')]),
    'shapes': (lambda L, x: (x.permute(2, 0, 1).reshape(4, 6).transpose(0, 1) ** 2).unsqueeze(0).squeeze(0).flatten(), [((2, 3, 4), 'normal')]),
    'expand_broadcast': (lambda L, x, y: (x.expand(3, 4) * y) ** 2 + (x + y).sum(), [((1, 4), 'normal'), ((3, 1), 'normal')]),
}

def _leaves(arrs, lib):
    return [lib.tensor(a, requires_grad=True) for a in arrs]

def _zeros_if_none(gs, xs):
    return [np.zeros(x.shape) if g is None else (g.array if isinstance(g, bp.Tensor) else g.detach().numpy()) for g, x in zip(gs, xs)]

def _grads(lib, out, xs, v, create_graph):
    "First derivatives of <v, out> wrt xs (allow_unused), as arrays, plus the graph-carrying tensors."
    if lib is torch:
        gs = torch.autograd.grad(out, xs, grad_outputs=torch.tensor(v), create_graph=create_graph, allow_unused=True)
    else:
        gs = bp.autograd.grad(out, xs, grad_outputs=bp.tensor(v), create_graph=create_graph, allow_unused=True)
    return gs

def _dot(gs, us, lib):
    "Σ_i <g_i, u_i> over the gradients that require grad (None when none do)."
    terms = [(g * lib.tensor(u)).sum() for g, u in zip(gs, us) if g is not None and g.requires_grad]
    return sum(terms[1:], terms[0]) if terms else None

@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('name', sorted(CASES))
def test_second_derivative(name, seed):
    "d/dx <u, d/dx <v, f(x)>> — a Hessian-vector product of <v, f> — matches torch, as do the first derivatives."
    f, specs = CASES[name]
    arrs = [data(seed * 10 + i, s, k) for i, (s, k) in enumerate(specs)]
    rng = np.random.default_rng(seed + 100)
    res = {}
    for lib in (bp, torch):
        xs = _leaves(arrs, lib)
        out = f(lib, *xs)
        v = rng.standard_normal(tuple(out.shape)) if lib is bp else res['v']
        us = [rng.standard_normal(a.shape) for a in arrs] if lib is bp else res['us']
        res.update(v=v, us=us)
        g1 = _grads(lib, out, xs, v, create_graph=True)
        s = _dot(g1, us, lib)
        if s is None: g2 = [None] * len(xs)
        elif lib is torch: g2 = torch.autograd.grad(s, xs, allow_unused=True)
        else: g2 = bp.autograd.grad(s, xs, allow_unused=True)
        res[lib.__name__] = (_zeros_if_none(g1, arrs), _zeros_if_none(g2, arrs))
    (b1, b2), (t1, t2) = res['backprop'], res['torch']
    for i in range(len(arrs)):
        np.testing.assert_allclose(b1[i], t1[i], err_msg=f'{name}: first derivative of input {i}', **TOL)
        np.testing.assert_allclose(b2[i], t2[i], err_msg=f'{name}: second derivative (HVP) of input {i}', **TOL)

THIRD = {
    'exp': lambda L, x: L.exp(x * 0.5).sum(),
    'tanh': lambda L, x: L.tanh(x).sum(),
    'sigmoid': lambda L, x: L.sigmoid(x).sum(),
    'log': lambda L, x: L.log(x).sum(),
    'sqrt': lambda L, x: L.sqrt(x).sum(),
    'softmax': lambda L, x: (L.softmax(x, 1) * L.tensor(np.arange(12.0).reshape(3, 4))).sum(),
    'logsumexp': lambda L, x: L.logsumexp(x, 1).sum(),
    'pow': lambda L, x: (x ** 3.5).sum(),
    'div': lambda L, x: (1.0 / x).sum(),
}

@pytest.mark.parametrize('name', sorted(THIRD))
def test_third_derivative_diagonal(name):
    "Three nested grads (with create_graph) of a scalar function, each contracted with ones."
    x0 = data(3, (3, 4), 'positive')
    out = {}
    for lib in (bp, torch):
        x = lib.tensor(x0, requires_grad=True)
        y = THIRD[name](lib, x)
        derivs = []
        for k in range(3):
            (g,) = (torch.autograd.grad if lib is torch else bp.autograd.grad)(y, x, create_graph=True)
            derivs.append(g.detach().numpy() if lib is torch else g.array)
            y = g.sum()
        out[lib.__name__] = derivs
    for k in range(3):
        np.testing.assert_allclose(out['backprop'][k], out['torch'][k], err_msg=f'{name}: derivative {k + 1}', **TOL)

# ---------------------------------------------------------------- hvp
W = data(7, (4, 3))
Y = np.eye(3)[[0, 2, 1, 1, 0]]
HVP_FNS = {
    'tanh_sq': lambda L, x: (L.tanh(x) ** 2).sum(),
    'quartic': lambda L, x: (x ** 4).sum() + (x[0] * x[1]).sum(),
    'logsumexp_linear': lambda L, x: L.logsumexp(x @ L.tensor(W), 1).sum(),
    'softmax_xent': lambda L, x: -(L.log_softmax(x @ L.tensor(W), 1) * L.tensor(Y)).sum(),
    'rosenbrock': lambda L, x: ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum(),
    'sigmoid_mean': lambda L, x: L.sigmoid(x * x).mean(),
}

@pytest.mark.parametrize('name', sorted(HVP_FNS))
@pytest.mark.parametrize('seed', [0, 1])
def test_hvp_matches_torch(name, seed):
    f = HVP_FNS[name]
    x0, v0 = data(seed, (5, 4)), data(seed + 50, (5, 4))
    x = bp.tensor(x0)
    hv = bp.autograd.hvp(lambda t: f(bp, t), x, bp.tensor(v0))
    _, thv = torch.autograd.functional.hvp(lambda t: f(torch, t), torch.tensor(x0), torch.tensor(v0))
    assert hv.shape == x.shape and hv.dtype == np.float64
    np.testing.assert_allclose(hv.array, thv.numpy(), **TOL)
    assert x.grad is None and not x.requires_grad           # hvp does not touch its input
    np.testing.assert_array_equal(x.array, x0)

def test_hvp_equals_hessian_times_v():
    "For f = x^T A x / 2 + sum(x^3), H = A_sym + diag(6x): check hvp against the explicit Hessian."
    A = data(3, (4, 4))
    x0, v0 = data(4, (4,)), data(5, (4,))
    hv = bp.autograd.hvp(lambda t: (t @ bp.tensor(A) @ t) / 2 + (t ** 3).sum(), bp.tensor(x0), bp.tensor(v0))
    H = (A + A.T) / 2 + np.diag(6 * x0)
    np.testing.assert_allclose(hv.array, H @ v0, **TOL)

# ---------------------------------------------------------------- bp.func vs torch.func
def f_scalar(L, x, y): return (L.tanh(x @ y) ** 2).sum() + (x * x).mean()
def f_vec(L, x, y): return L.softmax(x @ y, 1) * 2.0

def _args(seed):
    return data(seed, (3, 4)), data(seed + 1, (4, 2))

@pytest.mark.parametrize('argnums', [0, 1, (0, 1), (1,), (1, 0)])
def test_func_grad_argnums(argnums):
    a, b = _args(0)
    g = bp.func.grad(lambda x, y: f_scalar(bp, x, y), argnums=argnums)(bp.tensor(a), bp.tensor(b))
    tg = torch.func.grad(lambda x, y: f_scalar(torch, x, y), argnums=argnums)(torch.tensor(a), torch.tensor(b))
    if isinstance(argnums, int): g, tg = (g,), (tg,)
    assert isinstance(g, tuple) and len(g) == len(tg)
    for x, t in zip(g, tg):
        np.testing.assert_allclose(x.array, t.numpy(), **TOL)
        assert not x.requires_grad

def test_func_value_and_grad():
    a, b = _args(1)
    v, g = bp.func.value_and_grad(lambda x, y: f_scalar(bp, x, y), argnums=(0, 1))(bp.tensor(a), bp.tensor(b))
    tg, tv = torch.func.grad_and_value(lambda x, y: f_scalar(torch, x, y), argnums=(0, 1))(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(v.array, tv.numpy(), **TOL)
    for x, t in zip(g, tg): np.testing.assert_allclose(x.array, t.numpy(), **TOL)
    assert not v.requires_grad

def test_func_grad_has_aux():
    a, b = _args(2)
    def fb(x, y):
        z = x @ y
        return (z ** 2).sum(), z
    def ft(x, y):
        z = x @ y
        return (z ** 2).sum(), z.detach()
    g, aux = bp.func.grad(fb, has_aux=True)(bp.tensor(a), bp.tensor(b))
    tg, taux = torch.func.grad(ft, has_aux=True)(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(g.array, tg.numpy(), **TOL)
    np.testing.assert_allclose(aux.array, taux.numpy(), **TOL)
    (v, aux2), g2 = bp.func.value_and_grad(fb, has_aux=True)(bp.tensor(a), bp.tensor(b))
    (tg2, (tv, _)) = torch.func.grad_and_value(ft, has_aux=True)(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(v.array, tv.numpy(), **TOL)
    np.testing.assert_allclose(g2.array, tg2.numpy(), **TOL)

@pytest.mark.parametrize('seed', [0, 1])
def test_func_vjp(seed):
    a, b = _args(seed)
    ct = data(seed + 9, (3, 2))
    out, vjp_fn = bp.func.vjp(lambda x, y: f_vec(bp, x, y), bp.tensor(a), bp.tensor(b))
    tout, tvjp_fn = torch.func.vjp(lambda x, y: f_vec(torch, x, y), torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(out.array, tout.numpy(), **TOL)
    gs, tgs = vjp_fn(bp.tensor(ct)), tvjp_fn(torch.tensor(ct))
    assert isinstance(gs, tuple) and len(gs) == 2
    for x, t in zip(gs, tgs): np.testing.assert_allclose(x.array, t.numpy(), **TOL)
    gs2 = vjp_fn(bp.tensor(2 * ct))                         # the vjp function can be called again
    for x, t in zip(gs2, tgs): np.testing.assert_allclose(x.array, 2 * t.numpy(), **TOL)

def test_func_grad_of_grad():
    "grad(grad(f)) for a scalar function of a scalar: f(x) = sin-free x^3 tanh(x) via nesting."
    f = lambda L, x: x ** 3 * L.tanh(x)
    for x0 in (0.3, -1.2, 2.0):
        g2 = bp.func.grad(bp.func.grad(lambda x: f(bp, x)))(bp.tensor(np.float64(x0)))
        tg2 = torch.func.grad(torch.func.grad(lambda x: f(torch, x)))(torch.tensor(x0, dtype=torch.float64))
        np.testing.assert_allclose(g2.array, tg2.numpy(), **TOL)
        g3 = bp.func.grad(bp.func.grad(bp.func.grad(lambda x: f(bp, x))))(bp.tensor(np.float64(x0)))
        tg3 = torch.func.grad(torch.func.grad(torch.func.grad(lambda x: f(torch, x))))(torch.tensor(x0, dtype=torch.float64))
        np.testing.assert_allclose(g3.array, tg3.numpy(), **TOL)

def test_func_grad_of_gradient_norm():
    "grad of ||∇f||² (a gradient penalty) — the transform composes with itself on tensors."
    a, b = _args(3)
    def pen(L, G, x, y): return (G(lambda x_, y_: f_scalar(L, x_, y_))(x, y) ** 2).sum()
    g = bp.func.grad(lambda x, y: pen(bp, bp.func.grad, x, y))(bp.tensor(a), bp.tensor(b))
    tg = torch.func.grad(lambda x, y: pen(torch, torch.func.grad, x, y))(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(g.array, tg.numpy(), **TOL)

def test_func_vjp_of_grad_is_hvp():
    "vjp of grad f at x with cotangent v is the HVP (H symmetric)."
    x0, v0 = data(11, (5, 4)), data(12, (5, 4))
    f = HVP_FNS['softmax_xent']
    _, vjp_fn = bp.func.vjp(bp.func.grad(lambda t: f(bp, t)), bp.tensor(x0))
    (hv,) = vjp_fn(bp.tensor(v0))
    _, thv = torch.autograd.functional.hvp(lambda t: f(torch, t), torch.tensor(x0), torch.tensor(v0))
    np.testing.assert_allclose(hv.array, thv.numpy(), **TOL)

def test_func_grad_float32():
    a, b = _args(4)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    g = bp.func.grad(lambda x, y: f_scalar(bp, x, y))(bp.tensor(a32), bp.tensor(b32))
    tg = torch.func.grad(lambda x, y: f_scalar(torch, x, y))(torch.tensor(a32), torch.tensor(b32))
    assert g.dtype == np.float32
    np.testing.assert_allclose(g.array, tg.numpy(), rtol=1e-4, atol=1e-5)
