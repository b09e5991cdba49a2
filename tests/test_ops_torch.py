"""PyTorch as the oracle for every op: forward values, output shape and dtype, and the gradient of every input
under a fixed random upstream gradient, over hypothesis-generated shapes (broadcasting corners, size-1 axes,
0-d tensors). float64 is compared tightly; every example is re-run in float32 as a sanity pass.

Each op is written once as `fn(L, *xs)`, where `L` is `backprop` or `torch`: the two APIs share the names."""
import operator

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings, strategies as st, assume, HealthCheck  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import backprop as bp  # noqa: E402

pytestmark = [pytest.mark.torch,
              pytest.mark.filterwarnings("ignore::UserWarning"),        # torch: var() degrees of freedom <= 0
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]     # numpy: 0/0 in the same degenerate cases

SET = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}

# ---------------------------------------------------------------- data
def data(seed, shape, kind='normal', dtype=np.float64):
    "Random values for an op's domain: normal, positive ([0.5, 2]), nonzero (±[0.5, 2]), wide (normal × 20)."
    rng = np.random.default_rng(seed)
    if kind == 'normal': a = rng.standard_normal(shape)
    elif kind == 'positive': a = rng.uniform(0.5, 2.0, shape)
    elif kind == 'nonzero': a = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == 'wide': a = rng.standard_normal(shape) * 20
    else: raise ValueError(kind)
    return np.asarray(a, dtype)

def _np_dtype(t): return np.dtype(str(t.dtype).replace('torch.', ''))

def _leaves(arrays, rg, lib):
    out = []
    for a, r in zip(arrays, rg):
        if not isinstance(a, np.ndarray): out.append(a); continue
        r = r and a.dtype.kind == 'f'
        out.append(bp.tensor(a, requires_grad=r) if lib is bp else torch.tensor(a, requires_grad=r))
    return out

def _outs(o): return list(o) if isinstance(o, tuple) else [o]

def _close(actual, expected, what, dtype):
    np.testing.assert_allclose(actual, expected, equal_nan=True, err_msg=what, **TOL[dtype])

def _check_once(fn, arrays, rg, seed, name):
    dtype = next((a.dtype.type for a in arrays if isinstance(a, np.ndarray) and a.dtype.kind == 'f'), np.float64)
    bts, tts = _leaves(arrays, rg, bp), _leaves(arrays, rg, torch)
    bo, to = fn(bp, *bts), fn(torch, *tts)
    bouts, touts = _outs(bo), _outs(to)
    assert len(bouts) == len(touts), f"{name}: {len(bouts)} outputs vs torch's {len(touts)}"
    for k, (b, t) in enumerate(zip(bouts, touts)):
        assert isinstance(b, bp.Tensor), f"{name}: output {k} is a {type(b).__name__}, not a Tensor"
        assert tuple(b.shape) == tuple(t.shape), f"{name}: output {k} shape {tuple(b.shape)} vs torch {tuple(t.shape)}"
        assert b.dtype == _np_dtype(t), f"{name}: output {k} dtype {b.dtype} vs torch {t.dtype}"
        _close(b.array, t.detach().numpy(), f"{name}: forward output {k}", dtype)
    diff = [(b, t) for b, t in zip(bouts, touts) if t.requires_grad]
    for b, _ in diff: assert b.requires_grad, f"{name}: output does not require grad but torch's does"
    if not diff: return
    rng = np.random.default_rng(seed + 12345)
    gs = [np.asarray(rng.standard_normal(t.shape), dtype) for _, t in diff]
    if len(diff) == 1:
        diff[0][0].backward(bp.tensor(gs[0]))
        diff[0][1].backward(torch.tensor(gs[0]))
    else:
        sum((b * bp.tensor(g)).sum() for (b, _), g in zip(diff, gs)).backward()
        sum((t * torch.tensor(g)).sum() for (_, t), g in zip(diff, gs)).backward()
    for i, (b, t) in enumerate(zip(bts, tts)):
        if not isinstance(t, torch.Tensor) or not t.requires_grad: continue
        if t.grad is None:
            assert b.grad is None or not np.any(b.grad.array), f"{name}: input {i} grad should be None/zero"
            continue
        assert b.grad is not None, f"{name}: input {i} got no gradient; torch's is {t.grad}"
        assert tuple(b.grad.shape) == tuple(t.grad.shape), f"{name}: input {i} grad shape {b.grad.shape} vs {tuple(t.grad.shape)}"
        assert b.grad.dtype == _np_dtype(t.grad), f"{name}: input {i} grad dtype {b.grad.dtype} vs torch {t.grad.dtype}"
        _close(b.grad.array, t.grad.numpy(), f"{name}: gradient of input {i} (shape {tuple(t.shape)})", dtype)

def check(fn, *arrays, rg=None, seed=0, f32=True, name='op'):
    "Compare `fn(bp, ...)` with `fn(torch, ...)`: float64 tightly, then float32 as a sanity pass."
    rg = [True] * len(arrays) if rg is None else rg
    _check_once(fn, arrays, rg, seed, name + ' [float64]')
    if f32:
        a32 = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a for a in arrays]
        _check_once(fn, a32, rg, seed, name + ' [float32]')

seeds = st.integers(0, 2**31)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
shapes_nd = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
two_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=4)
three_shapes = hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=1, max_side=3)

# ---------------------------------------------------------------- elementwise unary
UNARY = {
    'neg': (lambda L, x: -x, 'normal'),
    'exp': (lambda L, x: L.exp(x), 'normal'),
    'exp_method': (lambda L, x: x.exp(), 'normal'),
    'log': (lambda L, x: L.log(x), 'positive'),
    'log_method': (lambda L, x: x.log(), 'positive'),
    'sqrt': (lambda L, x: L.sqrt(x), 'positive'),
    'sqrt_method': (lambda L, x: x.sqrt(), 'positive'),
    'abs': (lambda L, x: L.abs(x), 'nonzero'),
    'abs_builtin': (lambda L, x: abs(x), 'nonzero'),
    'abs_method': (lambda L, x: x.abs(), 'nonzero'),
    'tanh': (lambda L, x: L.tanh(x), 'wide'),
    'tanh_method': (lambda L, x: x.tanh(), 'normal'),
    'sigmoid': (lambda L, x: L.sigmoid(x), 'wide'),
    'sigmoid_method': (lambda L, x: x.sigmoid(), 'normal'),
    'relu': (lambda L, x: L.relu(x), 'nonzero'),
    'relu_method': (lambda L, x: x.relu(), 'nonzero'),
    'pos': (lambda L, x: +x * 1.0, 'normal'),
}

@pytest.mark.parametrize('name', sorted(UNARY))
@SET
@given(shape=shapes, seed=seeds)
def test_unary(name, shape, seed):
    fn, kind = UNARY[name]
    check(fn, data(seed, shape, kind), seed=seed, name=name)

# ---------------------------------------------------------------- elementwise binary, broadcasting
BINARY = {
    'add': (operator.add, 'normal', 'normal'),
    'sub': (operator.sub, 'normal', 'normal'),
    'mul': (operator.mul, 'normal', 'normal'),
    'truediv': (operator.truediv, 'normal', 'nonzero'),
    'pow': (operator.pow, 'positive', 'normal'),
    'maximum': (lambda L, x, y: L.maximum(x, y), 'normal', 'normal'),
    'minimum': (lambda L, x, y: L.minimum(x, y), 'normal', 'normal'),
    'maximum_method': (lambda L, x, y: x.maximum(y), 'normal', 'normal'),
    'minimum_method': (lambda L, x, y: x.minimum(y), 'normal', 'normal'),
}
for _k in ('add', 'sub', 'mul', 'truediv', 'pow'):
    _f = BINARY[_k][0]
    BINARY[_k] = ((lambda f: lambda L, x, y: f(x, y))(_f),) + BINARY[_k][1:]

@pytest.mark.parametrize('name', sorted(BINARY))
@SET
@given(shapes=two_shapes, seed=seeds, rg=st.sampled_from([(True, True), (True, False), (False, True)]))
def test_binary_broadcasting(name, shapes, seed, rg):
    fn, kx, ky = BINARY[name]
    xs, ys = shapes.input_shapes
    check(fn, data(seed, xs, kx), data(seed + 1, ys, ky), rg=list(rg), seed=seed, name=f'{name} {xs} {ys}')

SCALAR_CASES = {
    'x+2.5': (lambda L, x: x + 2.5, 'normal'), '2.5+x': (lambda L, x: 2.5 + x, 'normal'),
    'x+2': (lambda L, x: x + 2, 'normal'), '2-x': (lambda L, x: 2 - x, 'normal'),
    'x-1.5': (lambda L, x: x - 1.5, 'normal'), '1.5-x': (lambda L, x: 1.5 - x, 'normal'),
    'x*-3.0': (lambda L, x: x * -3.0, 'normal'), '3*x': (lambda L, x: 3 * x, 'normal'),
    'x/2.0': (lambda L, x: x / 2.0, 'normal'), '2.0/x': (lambda L, x: 2.0 / x, 'nonzero'),
    'x/4': (lambda L, x: x / 4, 'normal'), '1/x': (lambda L, x: 1 / x, 'nonzero'),
    'x**2': (lambda L, x: x ** 2, 'normal'), 'x**3': (lambda L, x: x ** 3, 'normal'),
    'x**2.0': (lambda L, x: x ** 2.0, 'normal'), 'x**0.5': (lambda L, x: x ** 0.5, 'positive'),
    'x**-1.5': (lambda L, x: x ** -1.5, 'positive'), 'x**-1': (lambda L, x: x ** -1, 'nonzero'),
    'x**0': (lambda L, x: x ** 0, 'normal'), 'x**1': (lambda L, x: x ** 1, 'normal'),
    'x**2.7': (lambda L, x: x ** 2.7, 'positive'),
    '2**x': (lambda L, x: 2 ** x, 'normal'), '2.5**x': (lambda L, x: 2.5 ** x, 'normal'),
    'x**tensor0d': (lambda L, x: x ** L.tensor(np.float64(1.5)).to(x.dtype), 'positive'),
    'x*True': (lambda L, x: x * True, 'normal'),
}
@pytest.mark.parametrize('name', sorted(SCALAR_CASES))
@SET
@given(shape=shapes, seed=seeds)
def test_python_scalar_operands(name, shape, seed):
    fn, kind = SCALAR_CASES[name]
    check(fn, data(seed, shape, kind), seed=seed, name=name)

@pytest.mark.parametrize('op', ['add', 'sub', 'mul', 'truediv'])
def test_ndarray_operand_on_either_side(op):
    "numpy arrays combine with Tensors on either side (Tensor.__array_ufunc__ = None): the result is a Tensor."
    f = getattr(operator, op)
    a = data(0, (2, 3), 'nonzero')
    x = data(1, (3,), 'nonzero')
    for fn in (lambda L, x: f(x, L.tensor(a) if L is torch else a), lambda L, x: f(L.tensor(a) if L is torch else a, x)):
        check(fn, x, name=op)

def test_pow_tensor_exponent_with_grad_both_sides_negative_exponent():
    check(lambda L, x, y: x ** y, data(0, (3, 1), 'positive'), -data(1, (4,), 'positive'), name='pow')

# ---------------------------------------------------------------- clamp / clip / where
bounds = st.one_of(st.none(), st.floats(-1.5, 1.5, allow_nan=False).map(lambda v: round(v, 3)))

@SET
@given(shape=shapes, seed=seeds, lo=bounds, hi=bounds, spelling=st.sampled_from(['clamp', 'clip', 'method_clamp', 'method_clip']))
def test_clamp(shape, seed, lo, hi, spelling):
    assume(lo is not None or hi is not None)
    x = data(seed, shape)
    assume(not np.any(np.isin(x, [v for v in (lo, hi) if v is not None])))
    if spelling.startswith('method'): fn = lambda L, x: getattr(x, spelling[7:])(min=lo, max=hi)
    else: fn = lambda L, x: getattr(L, spelling)(x, min=lo, max=hi)
    check(fn, x, seed=seed, name=f'{spelling}(min={lo}, max={hi})')

def test_clamp_positional_and_single_bound():
    x = data(3, (4, 5))
    check(lambda L, x: L.clamp(x, -0.5, 0.5), x, name='clamp positional')
    check(lambda L, x: L.clamp(x, min=0.1), x, name='clamp min only')
    check(lambda L, x: x.clamp(max=-0.1), x, name='clamp max only')

@SET
@given(shapes=three_shapes, seed=seeds, rg=st.sampled_from([(True, True), (True, False), (False, True)]))
def test_where(shapes, seed, rg):
    cs, xs, ys = shapes.input_shapes
    cond = np.random.default_rng(seed).random(cs) < 0.5
    fn = lambda L, x, y: L.where(L.tensor(cond), x, y)
    check(fn, data(seed, xs), data(seed + 1, ys), rg=list(rg), seed=seed, name=f'where {cs} {xs} {ys}')

@SET
@given(shape=shapes, seed=seeds, other=st.sampled_from([0.0, -1.5, 2]))
def test_where_scalar_other(shape, seed, other):
    cond = np.random.default_rng(seed).random(shape) < 0.5
    check(lambda L, x: L.where(L.tensor(cond), x, other), data(seed, shape), seed=seed, name=f'where(c, x, {other})')
    check(lambda L, x: L.where(L.tensor(cond), other, x), data(seed, shape), seed=seed, name=f'where(c, {other}, x)')

# ---------------------------------------------------------------- reductions
@st.composite
def dims(draw, ndim, allow_tuple=True, allow_none=True):
    "None, an int (maybe negative) or a tuple of distinct ints, valid for `ndim` dims."
    opts = ['int'] + (['none'] if allow_none else []) + (['tuple'] if allow_tuple and ndim >= 1 else [])
    k = draw(st.sampled_from(opts))
    if k == 'none': return None
    n = builtins_max(ndim, 1)
    if k == 'int': return draw(st.integers(-n, n - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)

builtins_max = max

def _kw(dim, keepdim, spelling):
    "Reduction arguments in PyTorch (dim/keepdim), numpy (axis/keepdims) or positional spelling."
    if spelling == 'torch': kw, args = ({} if dim is None else {'dim': dim}), ()
    elif spelling == 'numpy': kw, args = ({} if dim is None else {'axis': dim}), ()
    else: kw, args = {}, ((dim,) if dim is not None else ())
    if keepdim:
        if spelling == 'numpy': kw['keepdims'] = True
        elif spelling == 'torch' or dim is None: kw['keepdim'] = True
        else: args = args + (True,)
    return args, kw

REDUCTIONS = {
    'sum': lambda L, x, a, k: x.sum(*a, **k),
    'mean': lambda L, x, a, k: L.mean(x, *a, **k),
    'mean_method': lambda L, x, a, k: x.mean(*a, **k),
    'amax': lambda L, x, a, k: L.amax(x, *a, **k),
    'amin_method': lambda L, x, a, k: x.amin(*a, **k),
    'amin': lambda L, x, a, k: L.amin(x, *a, **k),
    'var': lambda L, x, a, k: L.var(x, *a, **k),
    'std_method': lambda L, x, a, k: x.std(*a, **k),
    'std': lambda L, x, a, k: L.std(x, *a, **k),
    'logsumexp': lambda L, x, a, k: L.logsumexp(x, *a, **k),
}

@pytest.mark.parametrize('name', sorted(REDUCTIONS))
@SET
@given(shape=shapes, seed=seeds, keepdim=st.booleans(), spelling=st.sampled_from(['torch', 'numpy', 'positional']),
       data_=st.data())
def test_reduction(name, shape, seed, keepdim, spelling, data_):
    dim = data_.draw(dims(len(shape), allow_none=name != 'logsumexp'), label='dim')
    if dim is None and keepdim:                          # torch wants an explicit dim with keepdim
        if not shape: keepdim = False
        else: dim = tuple(range(len(shape)))
    if spelling == 'positional' and name in ('var', 'std', 'std_method') and keepdim:
        spelling = 'torch'                               # torch.var(x, dim, True) means unbiased=True
    args, kw = _kw(dim, keepdim, spelling)
    fn = REDUCTIONS[name]
    check(lambda L, x: fn(L, x, args, kw), data(seed, shape, 'wide' if name == 'logsumexp' else 'normal'),
          seed=seed, name=f'{name}{shape} args={args} kw={kw}')

@pytest.mark.parametrize('name', ['var', 'std'])
@SET
@given(shape=shapes_nd, seed=seeds, keepdim=st.booleans(), data_=st.data(),
       corr=st.sampled_from([('correction', 0), ('correction', 1), ('correction', 2), ('unbiased', True), ('unbiased', False)]))
def test_var_std_correction(name, shape, seed, keepdim, data_, corr):
    dim = data_.draw(dims(len(shape), allow_none=True), label='dim')
    red = int(np.prod([shape[d] for d in ((dim,) if isinstance(dim, int) else dim or range(len(shape)))]))
    c = corr[1] if corr[0] == 'correction' else int(corr[1])
    assume(red - c > 0)                                     # degenerate cases are tested separately
    assume(not (name == 'std' and red == 1))                # std = 0: see test_std_zero_spread_gradient
    kw = {corr[0]: corr[1], 'keepdim': keepdim, 'dim': tuple(range(len(shape))) if dim is None else dim}
    check(lambda L, x: getattr(L, name)(x, **kw), data(seed, shape), seed=seed, name=f'{name}{shape} {kw}')

@pytest.mark.parametrize('name', ['var', 'std'])
@pytest.mark.parametrize('shape,dim,correction', [((3, 1), 1, 1), ((1,), None, 1), ((2, 2), 0, 2)])
def test_var_std_no_degrees_of_freedom(name, shape, dim, correction):
    "N - correction = 0: the same value as PyTorch (nan or inf); the gradient is non-finite in both."
    kw = {'correction': correction} if dim is None else {'dim': dim, 'correction': correction}
    x = data(5, shape)
    b, t = bp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yb, yt = getattr(bp, name)(b, **kw), getattr(torch, name)(t, **kw)
    np.testing.assert_array_equal(yb.array, yt.detach().numpy())
    yb.sum().backward(); yt.sum().backward()
    assert not np.isfinite(t.grad.numpy()).any() and not np.isfinite(b.grad.array).any()

@pytest.mark.parametrize('name', ['var', 'std'])
def test_var_std_negative_degrees_of_freedom_forward(name):
    "N - correction < 0: the value is nan as in PyTorch (whose gradient there is itself inconsistent: 0 or ±inf)."
    x = data(5, (3, 1))
    np.testing.assert_array_equal(getattr(bp, name)(bp.tensor(x), dim=1, correction=2).array,
                                  getattr(torch, name)(torch.tensor(x), dim=1, correction=2).numpy())

@pytest.mark.parametrize('shape,dim', [((3, 1), 1), ((4,), None), ((2, 3), 1)])
def test_std_zero_spread_gradient(shape, dim):
    "std of a constant group (std = 0): PyTorch defines the gradient as 0 there, not nan."
    x = np.full(shape, 1.25)
    kw = {'correction': 0} if dim is None else {'dim': dim, 'correction': 0}
    check(lambda L, x: L.std(x, **kw), x, name=f'std{shape} {kw} constant input')

@pytest.mark.parametrize('fname', ['max', 'min'])
@SET
@given(shape=shapes, seed=seeds, keepdim=st.booleans(), data_=st.data(), spelling=st.sampled_from(['torch', 'numpy', 'positional', 'method']))
def test_max_min_dim(fname, shape, seed, keepdim, data_, spelling):
    "With an int dim: (values, indices) as torch.max/min, the gradient going to the selected element."
    dim = data_.draw(dims(len(shape), allow_tuple=False, allow_none=False), label='dim')
    args, kw = _kw(dim, keepdim, 'positional' if spelling == 'method' else spelling)
    fn = (lambda L, x: getattr(x, fname)(*args, **kw)) if spelling == 'method' else (lambda L, x: getattr(L, fname)(x, *args, **kw))
    check(fn, data(seed, shape), seed=seed, name=f'{fname}{shape} {args} {kw}')

@pytest.mark.parametrize('fname', ['max', 'min'])
@SET
@given(shape=shapes, seed=seeds, method=st.booleans())
def test_max_min_all(fname, shape, seed, method):
    fn = (lambda L, x: getattr(x, fname)()) if method else (lambda L, x: getattr(L, fname)(x))
    check(fn, data(seed, shape), seed=seed, name=f'{fname}{shape}')

@pytest.mark.parametrize('fname', ['max', 'min'])
def test_max_min_result_fields(fname):
    x = data(0, (3, 4))
    r = getattr(bp, fname)(bp.tensor(x), dim=1)
    t = getattr(torch, fname)(torch.tensor(x), dim=1)
    np.testing.assert_array_equal(r.values.array, t.values.numpy())
    np.testing.assert_array_equal(r.indices.array, t.indices.numpy())
    assert r.indices.dtype == np.int64

@pytest.mark.parametrize('fname', ['argmax', 'argmin'])
@SET
@given(shape=shapes, seed=seeds, keepdim=st.booleans(), data_=st.data())
def test_argmax_argmin(fname, shape, seed, keepdim, data_):
    dim = data_.draw(dims(len(shape), allow_tuple=False), label='dim')
    kw = {} if dim is None else {'dim': dim, 'keepdim': keepdim}
    check(lambda L, x: getattr(L, fname)(x, **kw), data(seed, shape), rg=[False], seed=seed, name=f'{fname}{shape} {kw}')

# ---------------------------------------------------------------- softmax family
@pytest.mark.parametrize('fname', ['softmax', 'log_softmax'])
@SET
@given(shape=shapes, seed=seeds, data_=st.data(), kind=st.sampled_from(['normal', 'wide']), method=st.booleans())
def test_softmax(fname, shape, seed, data_, kind, method):
    dim = data_.draw(dims(len(shape), allow_tuple=False, allow_none=False), label='dim')
    fn = (lambda L, x: getattr(x, fname)(dim)) if method else (lambda L, x: getattr(L, fname)(x, dim=dim))
    check(fn, data(seed, shape, kind), seed=seed, name=f'{fname}{shape} dim={dim}')

@pytest.mark.parametrize('fname', ['softmax', 'log_softmax', 'logsumexp'])
def test_softmax_huge_logits(fname):
    x = np.array([[1000.0, 0.0, -1000.0], [-800.0, -800.0, -801.0], [3.0, 3.0, 3.0]])
    check(lambda L, x: getattr(L, fname)(x, 1), x, name=f'{fname} huge logits', f32=False)

# ---------------------------------------------------------------- shapes
@st.composite
def reshape_target(draw, shape):
    sides = [s for s in shape]
    draw(st.randoms()).shuffle(sides)
    n = int(np.prod(shape))
    opts = [tuple(sides), (n,), (-1,)]
    if len(sides) >= 2: opts.append(tuple([sides[0] * sides[1]] + sides[2:]))
    target = list(draw(st.sampled_from(opts)))
    for _ in range(draw(st.integers(0, 2))): target.insert(draw(st.integers(0, len(target))), 1)
    if target and -1 not in target and draw(st.booleans()): target[draw(st.integers(0, len(target) - 1))] = -1
    return tuple(target)

@SET
@given(shape=shapes, seed=seeds, data_=st.data(), how=st.sampled_from(['reshape*', 'reshape()', 'view*', 'view()']))
def test_reshape_view(shape, seed, data_, how):
    target = data_.draw(reshape_target(shape), label='target')
    m = how.rstrip('*()')
    fn = (lambda L, x: getattr(x, m)(*target)) if how.endswith('*') else (lambda L, x: getattr(x, m)(target))
    if not target: fn = lambda L, x: getattr(x, m)(())
    check(fn, data(seed, shape), seed=seed, name=f'{how} {shape}->{target}')

@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data(), method=st.booleans())
def test_transpose(shape, seed, data_, method):
    n = len(shape)
    d0, d1 = data_.draw(st.integers(-n, n - 1)), data_.draw(st.integers(-n, n - 1))
    fn = (lambda L, x: x.transpose(d0, d1)) if method else (lambda L, x: L.transpose(x, d0, d1))
    check(fn, data(seed, shape), seed=seed, name=f'transpose{shape} {d0} {d1}')

@SET
@given(shape=shapes, seed=seeds, data_=st.data(), how=st.sampled_from(['fn', 'method*', 'method()']))
def test_permute(shape, seed, data_, how):
    n = len(shape)
    perm = data_.draw(st.permutations(range(n)))
    perm = tuple(p - n if data_.draw(st.booleans()) else p for p in perm)
    if n == 0 and how == 'method*': how = 'method()'     # torch: x.permute() needs dims
    fn = {'fn': lambda L, x: L.permute(x, perm), 'method*': lambda L, x: x.permute(*perm),
          'method()': lambda L, x: x.permute(perm)}[how]
    check(fn, data(seed, shape), seed=seed, name=f'permute{shape} {perm}')

@SET
@given(shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4), seed=seeds)
def test_mT_and_T(shape, seed):
    check(lambda L, x: x.mT, data(seed, shape), seed=seed, name=f'mT{shape}')
    check(lambda L, x: x.T, data(seed, shape[:2]), seed=seed, name=f'T{shape[:2]}')

@SET
@given(shape=shapes, seed=seeds, data_=st.data(), as_tuple=st.booleans())
def test_expand(shape, seed, data_, as_tuple):
    lead = data_.draw(st.lists(st.integers(1, 3), max_size=2))
    tail = [data_.draw(st.sampled_from([-1, 1, 2, 3])) if s == 1 else data_.draw(st.sampled_from([-1, s])) for s in shape]
    target = tuple(lead + tail)
    if not target: as_tuple = True                       # torch: x.expand() needs a size
    fn = (lambda L, x: x.expand(target)) if as_tuple else (lambda L, x: x.expand(*target))
    check(fn, data(seed, shape), seed=seed, name=f'expand{shape}->{target}')

def test_expand_as():
    check(lambda L, x, y: x.expand_as(y), data(0, (3, 1)), data(1, (2, 3, 4)), rg=[True, False], name='expand_as')

@SET
@given(shape=shapes, seed=seeds, data_=st.data(), method=st.booleans())
def test_squeeze(shape, seed, data_, method):
    n = len(shape)
    which = data_.draw(st.sampled_from(['all', 'int', 'tuple']))
    if which == 'all': args = ()
    elif which == 'int': args = (data_.draw(st.integers(-builtins_max(n, 1), builtins_max(n, 1) - 1)),)
    else:
        assume(n > 0)
        args = (tuple(data_.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))),)
    fn = (lambda L, x: x.squeeze(*args)) if method else (lambda L, x: L.squeeze(x, *args))
    check(fn, data(seed, shape), seed=seed, name=f'squeeze{shape} {args}')

@SET
@given(shape=shapes, seed=seeds, data_=st.data(), method=st.booleans())
def test_unsqueeze(shape, seed, data_, method):
    n = len(shape)
    d = data_.draw(st.integers(-n - 1, n))
    fn = (lambda L, x: x.unsqueeze(d)) if method else (lambda L, x: L.unsqueeze(x, d))
    check(fn, data(seed, shape), seed=seed, name=f'unsqueeze{shape} {d}')

@SET
@given(shape=shapes, seed=seeds, data_=st.data(), method=st.booleans())
def test_flatten(shape, seed, data_, method):
    n = builtins_max(len(shape), 1)
    s = data_.draw(st.integers(-n, n - 1))
    e = data_.draw(st.integers(-n, n - 1))
    assume(s % n <= e % n)
    fn = (lambda L, x: x.flatten(s, e)) if method else (lambda L, x: L.flatten(x, start_dim=s, end_dim=e))
    check(fn, data(seed, shape), seed=seed, name=f'flatten{shape} {s} {e}')

def test_flatten_defaults():
    check(lambda L, x: L.flatten(x), data(0, (2, 3, 4)), name='flatten')
    check(lambda L, x: x.flatten(1), data(0, (2, 3, 4)), name='flatten(1)')
    check(lambda L, x: x.flatten(), data(0, ()), name='flatten 0-d')

# ---------------------------------------------------------------- indexing
@st.composite
def basic_index(draw, shape, neg_steps=False):
    "A basic index: ints, slices (positive steps unless `neg_steps`), None and at most one Ellipsis."
    items, d = [], 0
    n_index = draw(st.integers(0, len(shape)))
    while d < n_index:
        s = shape[d]
        k = draw(st.sampled_from(['int', 'slice', 'full', 'none', 'ellipsis']))
        d += k != 'none'
        if k == 'int': items.append(draw(st.integers(-s, s - 1)))
        elif k == 'full': items.append(slice(None))
        elif k == 'none': items.append(None)
        elif k == 'ellipsis': items.append(Ellipsis); break
        else:
            step = draw(st.sampled_from([None, 1, 2, 3] if not neg_steps else [-1, -2, -3]))
            start = draw(st.one_of(st.none(), st.integers(-s - 1, s + 1)))
            stop = draw(st.one_of(st.none(), st.integers(-s - 1, s + 1)))
            items.append(slice(start, stop, step))
    if draw(st.booleans()): items.append(None)
    return tuple(items) if len(items) != 1 or draw(st.booleans()) else items[0]

def _nonempty_index(shape, idx):
    return np.zeros(shape)[idx].size > 0

@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data())
def test_getitem_basic(shape, seed, data_):
    idx = data_.draw(basic_index(shape), label='idx')
    assume(_nonempty_index(shape, idx))
    check(lambda L, x: x[idx], data(seed, shape), seed=seed, name=f'getitem{shape}[{idx}]')

def _numpy_oracle_getitem(x, idx, g):
    "Forward x[idx]; gradient: g added into zeros at idx."
    z = np.zeros_like(x)
    np.add.at(z, idx, g)
    return x[idx], z

@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data())
def test_getitem_negative_step_vs_numpy(shape, seed, data_):
    "PyTorch has no negative steps, so numpy is the oracle: forward x[idx], gradient scattered back."
    idx = data_.draw(basic_index(shape, neg_steps=True), label='idx')
    assume(_nonempty_index(shape, idx))
    for dtype in (np.float64, np.float32):
        x = data(seed, shape, dtype=dtype)
        t = bp.tensor(x, requires_grad=True)
        y = t[idx]
        g = np.asarray(np.random.default_rng(seed).standard_normal(np.shape(x[idx])), dtype)
        y.backward(bp.tensor(g))
        ef, eg = _numpy_oracle_getitem(x, idx, g)
        np.testing.assert_array_equal(y.array, ef)
        np.testing.assert_allclose(t.grad.array, eg, **TOL[dtype])

@st.composite
def advanced_index(draw, shape):
    "Integer arrays (repeats, negatives), lists, bool masks, possibly mixed with slices."
    n = len(shape)
    kind = draw(st.sampled_from(['arr0', 'list0', 'arr_last', 'two_arrays', 'mask_full', 'mask_prefix', 'mask_dim',
                                 'arr_slice', 'arr2d', 'tensor0d']))
    rng = np.random.default_rng(draw(seeds))
    def ints(s, size): return rng.integers(-s, s, size=size)
    if kind == 'arr0': return ('a', ints(shape[0], draw(st.integers(1, 6))))
    if kind == 'list0': return ('l', ints(shape[0], draw(st.integers(1, 6))).tolist())
    if kind == 'arr_last': return ('e', ints(shape[-1], draw(st.integers(1, 6))))
    if kind == 'arr2d': return ('a', ints(shape[0], (draw(st.integers(1, 3)), draw(st.integers(1, 3)))))
    if kind == 'tensor0d': return ('a', np.asarray(ints(shape[0], ())))
    if kind == 'two_arrays':
        if n < 2: return ('a', ints(shape[0], 3))
        k = draw(st.integers(1, 4))
        return ('aa', ints(shape[0], (k,)), ints(shape[1], (draw(st.sampled_from([1, k])),)))
    if kind == 'mask_full': return ('m', rng.random(shape) < 0.5)
    if kind == 'mask_prefix': return ('m', rng.random(shape[:1]) < 0.5)
    if kind == 'mask_dim':
        if n < 2: return ('m', rng.random(shape) < 0.5)
        return ('sm', rng.random(shape[1]) < 0.5)
    if n < 2: return ('a', ints(shape[0], 2))
    return ('as', ints(shape[0], draw(st.integers(1, 5))))       # arr_slice

def _adv(L, kind, *parts):
    T = np.asarray if L is np else L.tensor
    if kind == 'a': return T(parts[0])
    if kind == 'l': return parts[0]
    if kind == 'e': return (Ellipsis, T(parts[0]))
    if kind == 'aa': return (T(parts[0]), T(parts[1]))
    if kind == 'm': return T(parts[0])
    if kind == 'sm': return (slice(None), T(parts[0]))
    if kind == 'as': return (T(parts[0]), slice(1, None))

@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data())
def test_getitem_advanced(shape, seed, data_):
    spec = data_.draw(advanced_index(shape), label='index')
    kind, parts = spec[0], spec[1:]
    np_idx = _adv(np, kind, *[np.asarray(p) for p in parts]) if kind != 'l' else parts[0]
    assume(np.zeros(shape)[np_idx].size > 0)
    check(lambda L, x: x[_adv(L, kind, *parts)], data(seed, shape), seed=seed, name=f'getitem{shape}[{kind} {parts}]')

def test_getitem_repeated_indices_accumulate():
    idx = np.array([0, 2, 0, 0, -1])
    check(lambda L, x: x[L.tensor(idx)], data(0, (4, 3)), name='getitem repeated')
    check(lambda L, x: x[:, L.tensor(idx[:3])], data(1, (2, 3)), name='getitem repeated dim 1')
    check(lambda L, x: x[[1, 1, 1]], data(2, (3,)), name='getitem list repeated')

@pytest.mark.parametrize('shape,idx', [((), 0), ((3,), 3), ((3,), -4), ((2, 3), (0, 5)), ((3,), [0, 3])])
def test_getitem_out_of_range_raises_indexerror(shape, idx):
    with pytest.raises(IndexError):
        torch.zeros(shape)[idx]
    with pytest.raises(IndexError):
        bp.zeros(shape)[idx]

# ---------------------------------------------------------------- gather
@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data(), method=st.booleans(), same=st.booleans())
def test_gather(shape, seed, data_, method, same):
    "torch.gather: index may be smaller than the input in every dim but `dim` (not broadcast); repeats accumulate."
    n = len(shape)
    dim = data_.draw(st.integers(-n, n - 1))
    d = dim % n
    ishape = tuple(data_.draw(st.integers(1, 5)) if i == d else (s if same else data_.draw(st.integers(1, s)))
                   for i, s in enumerate(shape))
    idx = np.random.default_rng(seed).integers(0, shape[d], size=ishape)
    fn = (lambda L, x: x.gather(dim, L.tensor(idx))) if method else (lambda L, x: L.gather(x, dim, L.tensor(idx)))
    check(fn, data(seed, shape), seed=seed, name=f'gather{shape} dim={dim} index{ishape}')

def test_gather_index_same_shape_repeats():
    idx = np.array([[0, 0, 3], [1, 1, 1]])
    check(lambda L, x: L.gather(x, 1, L.tensor(idx)), data(0, (2, 4)), name='gather repeats')

def test_gather_index_smaller_than_input():
    "torch.gather: index.size(d) <= input.size(d) for d != dim; the index is not broadcast."
    idx = np.array([[2, 0], [1, 1]])
    check(lambda L, x: L.gather(x, 1, L.tensor(idx)), data(0, (3, 4)), name='gather index (2,2) on (3,4)')
    check(lambda L, x: L.gather(x, 1, L.tensor(idx[:1])), data(0, (3, 4)), name='gather index (1,2) on (3,4)')

# ---------------------------------------------------------------- cat / stack
@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data(), k=st.integers(1, 3))
def test_cat(shape, seed, data_, k):
    n = len(shape)
    dim = data_.draw(st.integers(-n, n - 1))
    d = dim % n
    shp = [tuple(data_.draw(st.integers(1, 3)) if i == d else s for i, s in enumerate(shape)) for _ in range(k)]
    rg = data_.draw(st.lists(st.booleans(), min_size=k, max_size=k).filter(any))
    arrays = [data(seed + j, s) for j, s in enumerate(shp)]
    check(lambda L, *xs: L.cat(list(xs), dim=dim), *arrays, rg=rg, seed=seed, name=f'cat {shp} dim={dim}')

def test_cat_tuple_and_positional_dim():
    a, b = data(0, (2, 3)), data(1, (2, 1))
    check(lambda L, x, y: L.cat((x, y), 1), a, b, name='cat tuple')
    check(lambda L, x, y: L.cat([x, y], -1), a, b, name='cat -1')

@SET
@given(shape=shapes, seed=seeds, data_=st.data(), k=st.integers(1, 3))
def test_stack(shape, seed, data_, k):
    n = len(shape)
    dim = data_.draw(st.integers(-n - 1, n))
    rg = data_.draw(st.lists(st.booleans(), min_size=k, max_size=k).filter(any))
    arrays = [data(seed + j, shape) for j in range(k)]
    check(lambda L, *xs: L.stack(list(xs), dim=dim), *arrays, rg=rg, seed=seed, name=f'stack {k}x{shape} dim={dim}')

# ---------------------------------------------------------------- matmul
MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 1, 3, 4), (5, 4, 2)),
                 ((5, 3, 4), (4,)), ((4,), (2, 4, 3)), ((1, 3), (3, 1)), ((2, 3, 4), (2, 4, 5)), ((1, 2, 3), (4, 3, 2)),
                 ((3, 1, 2, 3), (1, 4, 3, 2)), ((1,), (1,)), ((1, 1), (1, 1)), ((4, 1), (1, 4)), ((2, 2, 3), (3, 2))]

@pytest.mark.parametrize('how', ['@', 'fn', 'method'])
@pytest.mark.parametrize('sa,sb', MATMUL_SHAPES)
@pytest.mark.parametrize('rg', [(True, True), (True, False), (False, True)])
def test_matmul_shapes(sa, sb, how, rg):
    fn = {'@': lambda L, a, b: a @ b, 'fn': lambda L, a, b: L.matmul(a, b), 'method': lambda L, a, b: a.matmul(b)}[how]
    check(fn, data(0, sa), data(1, sb), rg=list(rg), name=f'matmul {sa} {sb}')

@SET
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3),
       n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), seed=seeds,
       vec=st.sampled_from(['none', 'left', 'right', 'both']))
def test_matmul_batched_broadcast(batch, n, k, m, seed, vec):
    ba, bb = batch.input_shapes
    sa = (k,) if vec in ('left', 'both') else ba + (n, k)
    sb = (k,) if vec in ('right', 'both') else bb + (k, m)
    check(lambda L, a, b: a @ b, data(seed, sa), data(seed + 1, sb), seed=seed, name=f'matmul {sa} {sb}')

def test_rmatmul_with_ndarray():
    a = data(0, (2, 3))
    check(lambda L, x: (L.tensor(a) if L is torch else a) @ x, data(1, (3, 4)), name='ndarray @ Tensor', f32=False)

# ---------------------------------------------------------------- ties and kinks: PyTorch's subgradient conventions
def test_relu_abs_at_zero():
    x = np.array([-1.0, 0.0, 0.0, 2.0])
    check(lambda L, x: L.relu(x), x, name='relu at 0')
    check(lambda L, x: L.abs(x), x, name='abs at 0')

def test_maximum_minimum_ties_split_gradient():
    x, y = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.0, 3.0, -1.0])
    check(lambda L, x, y: L.maximum(x, y), x, y, name='maximum ties')
    check(lambda L, x, y: L.minimum(x, y), x, y, name='minimum ties')
    check(lambda L, x, y: L.maximum(x, y), x, np.array(1.0), name='maximum ties broadcast')

def test_clamp_at_bounds():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    check(lambda L, x: L.clamp(x, -0.5, 0.5), x, name='clamp at bounds')
    check(lambda L, x: L.clamp(x, min=0.5, max=-0.5), x, name='clamp min > max')

def test_amax_amin_ties_split_evenly():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    for f in ('amax', 'amin'):
        check(lambda L, x: getattr(L, f)(x, 1), x, name=f'{f} ties dim 1')
        check(lambda L, x: getattr(L, f)(x, (0, 1)), x, name=f'{f} ties all')
    check(lambda L, x: L.max(x), x, name='max() ties')
    check(lambda L, x: L.min(x), x, name='min() ties')

def test_sqrt_at_zero():
    check(lambda L, x: L.sqrt(x), np.array([0.0, 1.0, 4.0]), name='sqrt at 0')

def test_log_at_zero_and_exp_overflow():
    check(lambda L, x: L.log(x), np.array([0.0, 1.0]), name='log at 0', f32=False)
    check(lambda L, x: L.exp(x), np.array([800.0, -800.0]), name='exp overflow', f32=False)

def test_sigmoid_tanh_saturation():
    x = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    check(lambda L, x: L.sigmoid(x), x, name='sigmoid saturation')
    check(lambda L, x: L.tanh(x), x, name='tanh saturation')

# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize('op', [lambda L, x: L.exp(x), lambda L, x: x * 2.5, lambda L, x: x.sum(), lambda L, x: L.softmax(x, 0),
                                lambda L, x: x @ x, lambda L, x: x ** 2, lambda L, x: L.mean(x)])
def test_float32_stays_float32(op):
    x = data(0, (3,), 'positive').astype(np.float32)
    check(op, x, f32=False)

def test_max_min_ties_pick_first_index():
    "torch.max/min(dim) return the first maximal/minimal index (documented); the gradient goes only there."
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 1.0], [0.5, 0.5, 0.5]])
    check(lambda L, x: L.max(x, 1), x, name='max(dim) ties')
    check(lambda L, x: L.min(x, 0), x, name='min(dim) ties')
    check(lambda L, x: L.argmax(x, 1), x, rg=[False], name='argmax ties')

# ---------------------------------------------------------------- dtype promotion (forward only)
I64 = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)
PROMOTION = {
    'exp(int)': (lambda L, x: L.exp(x), True), 'log(int)': (lambda L, x: L.log(x), True),
    'sqrt(int)': (lambda L, x: L.sqrt(x), True), 'tanh(int)': (lambda L, x: L.tanh(x), True),
    'sigmoid(int)': (lambda L, x: L.sigmoid(x), True), 'abs(int)': (lambda L, x: L.abs(x), True),
    'relu(int)': (lambda L, x: L.relu(x), True), '-int': (lambda L, x: -x, True),
    'int*2': (lambda L, x: x * 2, True), 'int**2': (lambda L, x: x ** 2, True), '2**int': (lambda L, x: 2 ** x, True),
    'int.sum()': (lambda L, x: x.sum(), True), 'int.sum(1)': (lambda L, x: x.sum(1), True),
    'amax(int)': (lambda L, x: L.amax(x, 1), True), 'max(int, 1)': (lambda L, x: L.max(x, 1), True),
    'clamp(int, 2, 4)': (lambda L, x: L.clamp(x, 2, 4), True), 'cat(int)': (lambda L, x: L.cat([x, x]), True),
    'int @ int': (lambda L, x: x @ x.T, True), 'int+True': (lambda L, x: x + True, True),
    'bool+bool': (lambda L, x: (x > 2) + (x > 3), True), 'float32*2.5': (lambda L, x: x.float() * 2.5, True),
    'float32+float32': (lambda L, x: x.float() + x.float(), True),
    'int/2': (lambda L, x: x / 2, True), 'int/int': (lambda L, x: x / x, True), 'int+2.5': (lambda L, x: x + 2.5, True),
    'int**0.5': (lambda L, x: x ** 0.5, True), 'clamp(int, 2.5)': (lambda L, x: L.clamp(x, 2.5), True),
    'where(c, int, 0.5)': (lambda L, x: L.where(x > 2, x, 0.5), True),
    'float32*int64': (lambda L, x: x.float() * x, True),
    'float32*float64_0d': (lambda L, x: x.float() * L.tensor(np.float64(2.0)), True),
}

@pytest.mark.parametrize('name', list(PROMOTION))
def test_dtype_promotion_like_torch(name):
    f = PROMOTION[name][0]
    b, t = _outs(f(bp, bp.tensor(I64))), _outs(f(torch, torch.tensor(I64)))
    for bo, to in zip(b, t):
        assert bo.dtype == _np_dtype(to), f"{name}: dtype {bo.dtype} vs torch {to.dtype}"
        np.testing.assert_allclose(bo.array, to.numpy(), rtol=1e-6)
