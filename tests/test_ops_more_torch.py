"""PyTorch as the oracle for the ops added for PyTorch compatibility (issue 9 items 1-2, issue 10 item 4):
elementwise maps, arithmetic/comparison functions, sum/prod/cumsum/all/any/norms, shape ops, scatter and
friends, sorting, mm/bmm/dot/outer/einsum, `out=`, predicates and conversions, float16 reductions.

Each op is written once as `fn(L, *xs)` with `L` either `backprop` or `torch`; values, shapes, dtypes and the
gradient of every input (under a random upstream gradient) are compared over hypothesis-chosen shapes, in
float64 tightly and in float32 as a sanity pass. Bad inputs must raise in both libraries, and in backprop with
the documented error type (PyTorch's RuntimeError becomes ShapeError/IndexError/TypeError where that says more)."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings, strategies as st, assume, HealthCheck  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import backprop as bp  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

SET = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5), np.float16: dict(rtol=2e-3, atol=2e-3)}

# ---------------------------------------------------------------- the oracle
def data(seed, shape, kind='normal', dtype=np.float64):
    "Random values: normal, positive ([0.5, 2]), nonzero (±[0.5, 2]), unit ((-0.9, 0.9)), halves (multiples of 0.5)."
    rng = np.random.default_rng(seed)
    if kind == 'normal': a = rng.standard_normal(shape)
    elif kind == 'positive': a = rng.uniform(0.5, 2.0, shape)
    elif kind == 'nonzero': a = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == 'unit': a = rng.uniform(-0.9, 0.9, shape)
    elif kind == 'halves': a = rng.integers(-6, 7, shape) / 2
    else: raise ValueError(kind)
    return np.asarray(a, dtype)

from test_ops_torch import _np_dtype, _leaves  # noqa: E402  (the same leaf-making as the first op suite)

def _outs(o): return list(o) if isinstance(o, (tuple, list)) else [o]

def _check_once(fn, arrays, rg, seed, name):
    dtype = next((a.dtype.type for a in arrays if isinstance(a, np.ndarray) and a.dtype.kind == 'f'), np.float64)
    bts, tts = _leaves(arrays, rg, bp), _leaves(arrays, rg, torch)
    bouts, touts = _outs(fn(bp, *bts)), _outs(fn(torch, *tts))
    assert len(bouts) == len(touts), f"{name}: {len(bouts)} outputs vs torch's {len(touts)}"
    for k, (b, t) in enumerate(zip(bouts, touts)):
        assert isinstance(b, bp.Tensor), f"{name}: output {k} is a {type(b).__name__}"
        assert tuple(b.shape) == tuple(t.shape), f"{name}: output {k} shape {tuple(b.shape)} vs torch {tuple(t.shape)}"
        assert b.dtype == _np_dtype(t), f"{name}: output {k} dtype {b.dtype} vs torch {t.dtype}"
        np.testing.assert_allclose(b.array.astype(np.float64), t.detach().double().numpy(), equal_nan=True,
                                   err_msg=f"{name}: forward output {k}", **TOL[dtype])
    diff = [(b, t) for b, t in zip(bouts, touts) if t.requires_grad]
    for b, _ in diff: assert b.requires_grad, f"{name}: output does not require grad but torch's does"
    if not diff: return
    rng = np.random.default_rng(seed + 12345)
    gs = [np.asarray(rng.standard_normal(t.shape), _np_dtype(t)) for _, t in diff]
    sum((b * bp.tensor(g)).sum() for (b, _), g in zip(diff, gs)).backward()
    sum((t * torch.tensor(g)).sum() for (_, t), g in zip(diff, gs)).backward()
    for i, (b, t) in enumerate(zip(bts, tts)):
        if not isinstance(t, torch.Tensor) or not t.requires_grad: continue
        if t.grad is None:
            assert b.grad is None or not np.any(b.grad.array), f"{name}: input {i} grad should be None/zero"
            continue
        assert b.grad is not None, f"{name}: input {i} got no gradient"
        assert tuple(b.grad.shape) == tuple(t.grad.shape) and b.grad.dtype == _np_dtype(t.grad), f"{name}: input {i} grad shape/dtype"
        np.testing.assert_allclose(b.grad.array.astype(np.float64), t.grad.double().numpy(), equal_nan=True,
                                   err_msg=f"{name}: gradient of input {i}", **TOL[dtype])

def check(fn, *arrays, rg=None, seed=0, f32=True, name='op'):
    "Compare `fn(bp, ...)` with `fn(torch, ...)`: float64 tightly, then float32."
    rg = [True] * len(arrays) if rg is None else rg
    _check_once(fn, arrays, rg, seed, name + ' [float64]')
    if f32:
        a32 = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a for a in arrays]
        _check_once(fn, a32, rg, seed, name + ' [float32]')

def raises_like_torch(fn, bp_error, match=None):
    "Bad input: PyTorch raises, and backprop raises `bp_error` (message matching `match`)."
    with pytest.raises(Exception): fn(torch)
    with pytest.raises(bp_error, match=match): fn(bp)

seeds = st.integers(0, 2**31)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
shapes_nd = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
shapes_2d = hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4)
two_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4)

# ---------------------------------------------------------------- elementwise
UNARY = {
    'sin': 'normal', 'cos': 'normal', 'log1p': 'positive', 'expm1': 'normal', 'log2': 'positive', 'log10': 'positive',
    'erf': 'normal', 'rsqrt': 'positive', 'square': 'normal', 'sign': 'nonzero', 'floor': 'normal', 'ceil': 'normal',
    'round': 'normal', 'trunc': 'normal', 'neg': 'normal', 'exp': 'normal', 'abs': 'nonzero', 'sqrt': 'positive',
}

@pytest.mark.parametrize('name', sorted(UNARY))
@pytest.mark.parametrize('spelling', ['function', 'method'])
@SET
@given(shape=shapes, seed=seeds)
def test_unary(name, spelling, shape, seed):
    fn = (lambda L, x: getattr(L, name)(x)) if spelling == 'function' else (lambda L, x: getattr(x, name)())
    check(fn, data(seed, shape, UNARY[name]), seed=seed, name=f'{name} {spelling}')

@pytest.mark.parametrize('name', ['sin', 'log1p', 'erf', 'rsqrt', 'square', 'sign', 'floor', 'round', 'log2'])
def test_unary_integer_input_dtype(name):
    "Integer inputs: float32 for transcendental maps, the same int dtype for square/sign/floor/round."
    x = np.array([1, 2, 4, 9])
    b, t = getattr(bp, name)(bp.tensor(x)), getattr(torch, name)(torch.tensor(x))
    assert b.dtype == _np_dtype(t), f"{name}: {b.dtype} vs {t.dtype}"
    np.testing.assert_allclose(b.array, t.numpy(), rtol=1e-6)

@SET
@given(shape=shapes, seed=seeds, decimals=st.integers(-1, 3))
def test_round_decimals(shape, seed, decimals):
    x = np.asarray(np.round(data(seed, shape) * 100, 1))    # avoid ties that depend on the last bit
    check(lambda L, x: L.round(x, decimals=decimals), x, f32=False, seed=seed, name=f'round(decimals={decimals})')

def test_round_half_to_even():
    x = data(0, (13,), 'halves')
    check(lambda L, x: x.round(), x, name='round halves')

BINARY = {
    'add': lambda L, x, y: L.add(x, y), 'add_alpha': lambda L, x, y: L.add(x, y, alpha=-2.5),
    'sub': lambda L, x, y: L.sub(x, y), 'sub_alpha_method': lambda L, x, y: x.sub(y, alpha=3),
    'mul': lambda L, x, y: L.mul(x, y), 'mul_method': lambda L, x, y: x.mul(y),
    'div': lambda L, x, y: L.div(x, y), 'div_method': lambda L, x, y: x.div(y),
    'div_trunc': lambda L, x, y: L.div(x, y, rounding_mode='trunc'), 'div_floor': lambda L, x, y: L.div(x, y, rounding_mode='floor'),
    'pow': lambda L, x, y: L.pow(x.abs() + 0.5, y), 'pow_method': lambda L, x, y: (x.abs() + 0.5).pow(y),
    'maximum': lambda L, x, y: L.maximum(x, y),
}

@pytest.mark.parametrize('name', sorted(BINARY))
@SET
@given(shapes=two_shapes, seed=seeds, rg=st.sampled_from([(True, True), (True, False), (False, True)]))
def test_binary(name, shapes, seed, rg):
    xs, ys = shapes.input_shapes
    check(BINARY[name], data(seed, xs), data(seed + 1, ys, 'nonzero'), rg=list(rg), seed=seed, name=f'{name} {xs} {ys}')

@SET
@given(shapes=two_shapes, seed=seeds)
def test_floordiv_operator(shapes, seed):
    "`x // y` is div(rounding_mode='floor'); PyTorch has no derivative for it, so no grad here."
    xs, ys = shapes.input_shapes
    check(lambda L, x, y: x // y, data(seed, xs), data(seed + 1, ys, 'nonzero'), rg=[False, False], seed=seed, name='floordiv')
    check(lambda L, x: 7 // (x.abs() + 0.5), data(seed, xs), rg=[False], seed=seed, name='rfloordiv')

@SET
@given(shapes=two_shapes, seed=seeds, rg=st.sampled_from([(True, True), (True, False), (False, True)]))
def test_remainder(shapes, seed, rg):
    xs, ys = shapes.input_shapes
    x, y = np.asarray(data(seed, xs) * 3), data(seed + 1, ys, 'nonzero')
    assume(np.all(np.abs(np.asarray(x / y) - np.round(x / y)) > 1e-6))     # away from the jumps
    check(lambda L, x, y: L.remainder(x, y), x, y, rg=list(rg), seed=seed, name='remainder')
    check(lambda L, x, y: x % y, x, y, rg=list(rg), seed=seed, name='%')

def test_remainder_integers_and_numbers():
    for f in (lambda L, x: x % 3, lambda L, x: 7 % x, lambda L, x: L.remainder(x, -2)):
        check(f, np.array([7, -7, 5, -1]), rg=[False], name='int remainder')

@pytest.mark.parametrize('name', ['logical_and', 'logical_or', 'logical_xor', 'bitwise_and', 'bitwise_or', 'bitwise_xor', '&', '|', '^'])
@pytest.mark.parametrize('dtype', ['bool', 'int64'])
@SET
@given(shapes=two_shapes, seed=seeds)
def test_logical_bitwise(name, dtype, shapes, seed):
    xs, ys = shapes.input_shapes
    rng = np.random.default_rng(seed)
    x, y = np.asarray(rng.integers(0, 4, xs)).astype(dtype), np.asarray(rng.integers(0, 4, ys)).astype(dtype)
    ops = {'&': lambda a, b: a & b, '|': lambda a, b: a | b, '^': lambda a, b: a ^ b}
    fn = (lambda L, x, y: ops[name](x, y)) if name in ops else (lambda L, x, y: getattr(L, name)(x, y))
    check(fn, x, y, rg=[False, False], name=f'{name} {dtype}')

def test_not_and_invert():
    for x in (np.array([True, False]), np.array([0, 3, -2])):
        check(lambda L, x: ~x, x, rg=[False], name='~')
        check(lambda L, x: L.logical_not(x), x, rg=[False], name='logical_not')
        check(lambda L, x: L.bitwise_not(x), x, rg=[False], name='bitwise_not')
    raises_like_torch(lambda L: ~L.ones(2), TypeError)

@pytest.mark.parametrize('name', ['max', 'min'])
@SET
@given(shapes=two_shapes, seed=seeds)
def test_max_min_of_two_tensors(name, shapes, seed):
    xs, ys = shapes.input_shapes
    check(lambda L, x, y: getattr(L, name)(x, y), data(seed, xs), data(seed + 1, ys), seed=seed, name=f'{name}(a, b)')
    check(lambda L, x, y: getattr(x, name)(y), data(seed, xs), data(seed + 1, ys), seed=seed, name=f'{name} method (a, b)')

@pytest.mark.parametrize('rounding', [None, 'trunc', 'floor'])
def test_div_integers(rounding):
    x, y = np.array([7, -7, 6, -1]), np.array([2, 2, -4, 3])
    b = bp.div(bp.tensor(x), bp.tensor(y), rounding_mode=rounding)
    t = torch.div(torch.tensor(x), torch.tensor(y), rounding_mode=rounding)
    assert b.dtype == _np_dtype(t) and np.array_equal(b.array, t.numpy())

@SET
@given(shape=shapes, seed=seeds, base=st.sampled_from([2, 0.5, 3.0]))
def test_pow_number_base(shape, seed, base):
    check(lambda L, x: L.pow(base, x), data(seed, shape), seed=seed, name=f'pow({base}, x)')

@pytest.mark.parametrize('name', ['eq', 'ne', 'lt', 'le', 'gt', 'ge'])
@pytest.mark.parametrize('spelling', ['function', 'method', 'number'])
@SET
@given(shapes=two_shapes, seed=seeds)
def test_comparison(name, spelling, shapes, seed):
    xs, ys = shapes.input_shapes
    x, y = data(seed, xs, 'halves'), data(seed + 1, ys, 'halves')
    if spelling == 'function': fn = lambda L, x, y: getattr(L, name)(x, y)
    elif spelling == 'method': fn = lambda L, x, y: getattr(x, name)(y)
    else: fn = lambda L, x, y: getattr(x, name)(0.5)
    check(fn, x, y, rg=[False, False], seed=seed, name=f'{name} {spelling}')

# ---------------------------------------------------------------- reductions
@st.composite
def dim_of(draw, ndim, allow_none=True, allow_tuple=True):
    opts = ['int'] + (['none'] if allow_none else []) + (['tuple'] if allow_tuple and ndim else [])
    k = draw(st.sampled_from(opts))
    n = max(ndim, 1)
    if k == 'none': return None
    if k == 'int': return draw(st.integers(-n, n - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))

@pytest.mark.parametrize('spelling', ['function', 'method'])
@SET
@given(shape=shapes, seed=seeds, keepdim=st.booleans(), data_=st.data())
def test_sum_function(spelling, shape, seed, keepdim, data_):
    dim = data_.draw(dim_of(len(shape)), label='dim')
    if dim is None: keepdim = False
    kw = {} if dim is None else {'dim': dim, 'keepdim': keepdim}
    fn = (lambda L, x: L.sum(x, **kw)) if spelling == 'function' else (lambda L, x: x.sum(**kw))
    check(fn, data(seed, shape), seed=seed, name=f'sum {kw}')

@pytest.mark.parametrize('dtype', ['int32', 'bool'])
def test_sum_prod_cumsum_integer_dtypes(dtype):
    x = np.array([[1, 0, 3], [2, 2, 1]]).astype(dtype)
    for f in (lambda L, x: L.sum(x), lambda L, x: L.sum(x, 1), lambda L, x: L.prod(x), lambda L, x: L.prod(x, 0),
              lambda L, x: L.cumsum(x, 1), lambda L, x: L.sum(x, dtype=L.float64)):
        check(f, x, rg=[False], f32=False, name=f'int reduction {dtype}')

@pytest.mark.parametrize('spelling', ['function', 'method'])
@SET
@given(shape=shapes, seed=seeds, keepdim=st.booleans(), zeros=st.integers(0, 2), data_=st.data())
def test_prod(spelling, shape, seed, keepdim, zeros, data_):
    dim = data_.draw(dim_of(len(shape), allow_tuple=False), label='dim')
    x = data(seed, shape, 'nonzero')
    flat = x.reshape(-1)
    flat[np.random.default_rng(seed).permutation(flat.size)[:zeros]] = 0       # 0, 1 or 2 zeros
    args = () if dim is None else (dim, keepdim)
    fn = (lambda L, x: L.prod(x, *args)) if spelling == 'function' else (lambda L, x: x.prod(*args))
    check(fn, x, seed=seed, name=f'prod {args} zeros={zeros}')

@pytest.mark.parametrize('spelling', ['function', 'method'])
@SET
@given(shape=shapes, seed=seeds, data_=st.data())
def test_cumsum(spelling, shape, seed, data_):
    dim = data_.draw(dim_of(len(shape), allow_none=False, allow_tuple=False), label='dim')
    fn = (lambda L, x: L.cumsum(x, dim)) if spelling == 'function' else (lambda L, x: x.cumsum(dim=dim))
    check(fn, data(seed, shape), seed=seed, name=f'cumsum {dim}')

@pytest.mark.parametrize('name', ['all', 'any'])
@SET
@given(shape=shapes, seed=seeds, keepdim=st.booleans(), data_=st.data())
def test_all_any(name, shape, seed, keepdim, data_):
    dim = data_.draw(dim_of(len(shape)), label='dim')
    x = np.asarray(np.random.default_rng(seed).random(shape) < 0.7)
    kw = {} if dim is None else {'dim': dim, 'keepdim': keepdim}
    check(lambda L, x: getattr(L, name)(x, **kw), x, rg=[False], name=f'{name} {kw}')
    check(lambda L, x: getattr(x, name)(**kw), x, rg=[False], name=f'{name} method {kw}')

@SET
@given(shape=shapes_nd, seed=seeds, keepdim=st.booleans(), p=st.sampled_from([1, 2, 3, 0.5, float('inf'), -float('inf'), 'fro']),
       data_=st.data())
def test_norm(shape, seed, keepdim, p, data_):
    dim = data_.draw(dim_of(len(shape)), label='dim')
    if p == 'fro' and isinstance(dim, int): dim = (dim,)
    assume(not (p == 'fro' and isinstance(dim, tuple) and len(dim) > 2))    # torch: a matrix norm needs 1 or 2 dims
    x = data(seed, shape, 'nonzero')
    kw = dict(p=p, dim=dim, keepdim=keepdim)
    check(lambda L, x: x.norm(**kw), x, seed=seed, name=f'norm {kw}')
    check(lambda L, x: L.norm(x, **kw), x, seed=seed, name=f'torch.norm {kw}')

@SET
@given(shape=shapes_nd, seed=seeds, keepdim=st.booleans(), ord=st.sampled_from([1, 2, 4, float('inf'), 0]), data_=st.data())
def test_vector_norm(shape, seed, keepdim, ord, data_):
    dim = data_.draw(dim_of(len(shape)), label='dim')
    check(lambda L, x: L.linalg.vector_norm(x, ord, dim, keepdim), data(seed, shape, 'nonzero'), seed=seed, name=f'vector_norm {ord} {dim}')

def test_norm_at_zero_has_zero_gradient():
    check(lambda L, x: L.norm(x), np.zeros((3,)), name='norm(0)')
    check(lambda L, x: L.linalg.vector_norm(x, dim=1), np.array([[0., 0.], [3., 4.]]), name='vector_norm rows')

# ---------------------------------------------------------------- float16 reductions accumulate in float32
HALF = {
    'mean': lambda L, x: x.mean(), 'mean_dim': lambda L, x: L.mean(x, 1), 'var': lambda L, x: x.var(1),
    'std': lambda L, x: L.std(x), 'norm': lambda L, x: x.norm(), 'vector_norm': lambda L, x: L.linalg.vector_norm(x, 2, 0),
    'logsumexp': lambda L, x: L.logsumexp(x, 1), 'softmax': lambda L, x: L.softmax(x, 1), 'log_softmax': lambda L, x: x.log_softmax(-1),
}

@pytest.mark.parametrize('name', sorted(HALF))
def test_float16_reductions_match_torch(name):
    x = data(3, (6, 300), 'normal', np.float16)
    _check_once(HALF[name], [x], [True], 3, f'{name} float16')

def test_float16_mean_of_more_than_65504_elements():
    "The issue's case: a float16 mse-style mean over 32*3*32*32 elements is finite and its gradient nonzero."
    x = np.full((32, 3, 32, 32), 1.0, np.float16)
    b = bp.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    (b * b).mean().backward(); (t * t).mean().backward()
    assert b.grad.dtype == np.float16 and np.all(b.grad.array > 0)
    np.testing.assert_allclose(b.grad.array.astype(np.float32), t.grad.float().numpy(), rtol=1e-3)
    assert bp.tensor(x).mean().item() == torch.tensor(x).mean().item() == 1.0

def test_float64_stays_float64():
    x = data(0, (4, 5))
    for f in HALF.values(): assert f(bp, bp.tensor(x)).dtype == np.float64

# ---------------------------------------------------------------- shapes
@SET
@given(shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4), seed=seeds)
def test_t(shape, seed):
    check(lambda L, x: L.t(x), data(seed, shape), seed=seed, name='t')
    check(lambda L, x: x.t(), data(seed, shape), seed=seed, name='t method')

@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data())
def test_narrow(shape, seed, data_):
    dim = data_.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    start = data_.draw(st.integers(-n, n - 1))
    length = data_.draw(st.integers(0, n - (start % n)))
    check(lambda L, x: L.narrow(x, dim, start, length), data(seed, shape), seed=seed, name=f'narrow {dim} {start} {length}')
    check(lambda L, x: x.narrow(dim, start, length), data(seed, shape), seed=seed, name='narrow method')

@SET
@given(shape=shapes_2d, seed=seeds)
def test_view_as_reshape_as_contiguous(shape, seed):
    other = np.zeros((int(np.prod(shape)),))
    check(lambda L, x: x.view_as(L.tensor(other)), data(seed, shape), seed=seed, name='view_as')
    check(lambda L, x: x.reshape_as(L.tensor(other)), data(seed, shape), seed=seed, name='reshape_as')
    check(lambda L, x: x.transpose(0, 1).contiguous(), data(seed, shape), seed=seed, name='contiguous')
    for L in (bp, torch):
        x = L.tensor(data(seed, shape))
        assert x.is_contiguous() and x.contiguous().is_contiguous() and x.nelement() == x.numel()
    assert bp.tensor(data(seed, shape)).transpose(0, -1).is_contiguous() == torch.tensor(data(seed, shape)).transpose(0, -1).is_contiguous()

@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data())
def test_flip(shape, seed, data_):
    dims = tuple(data_.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True)))
    check(lambda L, x: L.flip(x, dims), data(seed, shape), seed=seed, name=f'flip {dims}')
    check(lambda L, x: x.flip(*dims), data(seed, shape), seed=seed, name=f'flip method {dims}')

@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data())
def test_roll(shape, seed, data_):
    k = data_.draw(st.integers(0, len(shape)))
    if k == 0: shifts, dims = data_.draw(st.integers(-7, 7)), None
    else:
        dims = tuple(data_.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=k, max_size=k)))
        shifts = tuple(data_.draw(st.lists(st.integers(-5, 5), min_size=k, max_size=k)))
    check(lambda L, x: L.roll(x, shifts, dims), data(seed, shape), seed=seed, name=f'roll {shifts} {dims}')
    check(lambda L, x: x.roll(shifts, dims), data(seed, shape), seed=seed, name='roll method')

@SET
@given(shape=shapes, seed=seeds, data_=st.data())
def test_repeat(shape, seed, data_):
    sizes = tuple(data_.draw(st.lists(st.integers(1, 3), min_size=len(shape), max_size=len(shape) + 2)))
    assume(sizes)
    check(lambda L, x: x.repeat(*sizes), data(seed, shape), seed=seed, name=f'repeat {sizes}')
    check(lambda L, x: x.repeat(sizes), data(seed, shape), seed=seed, name=f'repeat tuple {sizes}')

@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data())
def test_split_chunk_unbind(shape, seed, data_):
    dim = data_.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    size = data_.draw(st.integers(1, n + 1))
    cuts = sorted(data_.draw(st.lists(st.integers(0, n), max_size=3)))
    sections = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    chunks = data_.draw(st.integers(1, 5))
    x = data(seed, shape)
    check(lambda L, x: L.split(x, size, dim), x, seed=seed, name=f'split {size} {dim}')
    check(lambda L, x: x.split(sections, dim), x, seed=seed, name=f'split {sections} {dim}')
    check(lambda L, x: L.chunk(x, chunks, dim), x, seed=seed, name=f'chunk {chunks} {dim}')
    check(lambda L, x: x.chunk(chunks, dim=dim), x, seed=seed, name=f'chunk method {chunks}')
    check(lambda L, x: L.unbind(x, dim), x, seed=seed, name=f'unbind {dim}')
    check(lambda L, x: x.unbind(dim), x, seed=seed, name='unbind method')

@pytest.mark.parametrize('name', ['tril', 'triu'])
@SET
@given(shape=shapes_2d, seed=seeds, diagonal=st.integers(-4, 4))
def test_tril_triu(name, shape, seed, diagonal):
    check(lambda L, x: getattr(L, name)(x, diagonal), data(seed, shape), seed=seed, name=f'{name} {diagonal}')
    check(lambda L, x: getattr(x, name)(diagonal=diagonal), data(seed, shape), seed=seed, name=f'{name} method')

@SET
@given(shape=hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5), seed=seeds, k=st.integers(-3, 3))
def test_diag(shape, seed, k):
    check(lambda L, x: L.diag(x, k), data(seed, shape), seed=seed, name=f'diag {shape} {k}')
    check(lambda L, x: x.diag(k), data(seed, shape), seed=seed, name=f'diag method {k}')

# ---------------------------------------------------------------- indexing
@SET
@given(shape=shapes_nd, seed=seeds, data_=st.data())
def test_index_select(shape, seed, data_):
    dim = data_.draw(st.integers(-len(shape), len(shape) - 1))
    idx = np.array(data_.draw(st.lists(st.integers(0, shape[dim] - 1), min_size=1, max_size=5)))
    check(lambda L, x: L.index_select(x, dim, L.tensor(idx)), data(seed, shape), seed=seed, name=f'index_select {dim} {idx}')
    check(lambda L, x: x.index_select(dim, L.tensor(idx)), data(seed, shape), seed=seed, name='index_select method')

@SET
@given(shapes=two_shapes, seed=seeds, value=st.sampled_from([0.0, -1.5, 'tensor']))
def test_masked_fill(shapes, seed, value):
    "The mask broadcasts against the input; a larger mask gives the broadcast shape, as PyTorch."
    xs, ms = shapes.input_shapes
    m = np.random.default_rng(seed).random(ms) < 0.5
    if value == 'tensor':
        check(lambda L, x, v: x.masked_fill(L.tensor(m), v), data(seed, xs), np.array(2.5), seed=seed, name='masked_fill tensor value')
    else:
        check(lambda L, x: L.masked_fill(x, L.tensor(m), value), data(seed, xs), seed=seed, name=f'masked_fill {value}')

@st.composite
def scatter_case(draw):
    shape = draw(shapes_nd)
    dim = draw(st.integers(0, len(shape) - 1))
    ishape = tuple(draw(st.integers(1, s)) for s in shape)
    sshape = tuple(i + draw(st.integers(0, 1)) for i in ishape)
    rng = np.random.default_rng(draw(seeds))
    if draw(st.booleans()):   # distinct positions along dim (scatter's result is then well defined)
        k = min(ishape[dim], shape[dim])
        ishape = ishape[:dim] + (k,) + ishape[dim + 1:]
        sshape = tuple(max(s, i) for s, i in zip(sshape, ishape))
        idx = np.argsort(rng.random(ishape[:dim] + (shape[dim],) + ishape[dim + 1:]), axis=dim).take(range(k), axis=dim)
    else: idx = rng.integers(0, shape[dim], ishape)
    return shape, dim, idx, sshape

@SET
@given(case=scatter_case(), seed=seeds)
def test_scatter_add(case, seed):
    shape, dim, idx, sshape = case
    rg = [True, sshape == idx.shape]                               # torch has no src gradient when src is larger than index
    check(lambda L, x, s: L.scatter_add(x, dim, L.tensor(idx), s), data(seed, shape), data(seed + 1, sshape), rg=rg, seed=seed, name='scatter_add')
    check(lambda L, x, s: x.scatter_add(dim, L.tensor(idx), s), data(seed, shape), data(seed + 1, sshape), rg=rg, seed=seed, name='scatter_add m')

@SET
@given(case=scatter_case(), seed=seeds)
def test_scatter(case, seed):
    shape, dim, idx, sshape = case
    pos = list(np.indices(idx.shape)); pos[dim] = idx
    flat = np.ravel_multi_index(tuple(pos), shape)
    assume(len(np.unique(flat)) == flat.size)                      # repeated targets: unspecified in PyTorch
    rg = [True, sshape == idx.shape]
    check(lambda L, x, s: L.scatter(x, dim, L.tensor(idx), s), data(seed, shape), data(seed + 1, sshape), rg=rg, seed=seed, name='scatter')
    check(lambda L, x: x.scatter(dim, L.tensor(idx), 0.5), data(seed, shape), seed=seed, name='scatter value')
    check(lambda L, x: L.scatter(x, dim, L.tensor(idx), value=-2.0), data(seed, shape), seed=seed, name='scatter value=')

@SET
@given(shape=shapes, seed=seeds)
def test_where_one_argument_and_nonzero(shape, seed):
    c = np.asarray(np.random.default_rng(seed).random(shape) < 0.5)
    check(lambda L, c: L.where(c), c, rg=[False], name='where(c)')
    check(lambda L, c: L.nonzero(c), c, rg=[False], name='nonzero')
    check(lambda L, c: c.nonzero(as_tuple=True), c, rg=[False], name='nonzero as_tuple')

# ---------------------------------------------------------------- sorting
@SET
@given(shape=shapes, seed=seeds, descending=st.booleans(), data_=st.data())
def test_sort_argsort(shape, seed, descending, data_):
    dim = data_.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    check(lambda L, x: L.sort(x, dim, descending), data(seed, shape), seed=seed, name=f'sort {dim} {descending}')
    check(lambda L, x: tuple(x.sort(dim=dim, descending=descending)), data(seed, shape), seed=seed, name='sort method')
    check(lambda L, x: L.argsort(x, dim, descending), data(seed, shape), seed=seed, name='argsort')

def test_sort_stable_ties():
    x = np.array([2, 1, 2, 1, 3, 1])
    for d in (False, True):
        b, t = bp.sort(bp.tensor(x), descending=d, stable=True), torch.sort(torch.tensor(x), descending=d, stable=True)
        assert np.array_equal(b.indices.array, t.indices.numpy()) and np.array_equal(b.values.array, t.values.numpy())

@SET
@given(shape=shapes_nd, seed=seeds, largest=st.booleans(), data_=st.data())
def test_topk(shape, seed, largest, data_):
    dim = data_.draw(st.integers(-len(shape), len(shape) - 1))
    k = data_.draw(st.integers(0, shape[dim]))
    check(lambda L, x: L.topk(x, k, dim, largest), data(seed, shape), seed=seed, name=f'topk {k} {dim} {largest}')
    check(lambda L, x: tuple(x.topk(k, dim=dim, largest=largest)), data(seed, shape), seed=seed, name='topk method')

# ---------------------------------------------------------------- matrix products
@SET
@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), b=st.integers(1, 3), seed=seeds)
def test_mm_bmm_dot_outer(n, k, m, b, seed):
    check(lambda L, x, y: L.mm(x, y), data(seed, (n, k)), data(seed + 1, (k, m)), seed=seed, name='mm')
    check(lambda L, x, y: x.mm(y), data(seed, (n, k)), data(seed + 1, (k, m)), seed=seed, name='mm method')
    check(lambda L, x, y: L.bmm(x, y), data(seed, (b, n, k)), data(seed + 1, (b, k, m)), seed=seed, name='bmm')
    check(lambda L, x, y: x.bmm(y), data(seed, (b, n, k)), data(seed + 1, (b, k, m)), seed=seed, name='bmm method')
    check(lambda L, x, y: L.dot(x, y), data(seed, (k,)), data(seed + 1, (k,)), seed=seed, name='dot')
    check(lambda L, x, y: L.outer(x, y), data(seed, (n,)), data(seed + 1, (m,)), seed=seed, name='outer')
    check(lambda L, x, y: x.outer(y), data(seed, (n,)), data(seed + 1, (m,)), seed=seed, name='outer method')

EINSUM = [('ij,jk->ik', 'ij', 'jk'), ('ij,jk', 'ij', 'jk'), ('ij->i', 'ij'), ('ij->', 'ij'), ('ij->ji', 'ij'),
          ('bij,bjk->bik', 'bij', 'bjk'), ('i,i->', 'i', 'i'), ('i,j->ij', 'i', 'j'), ('ii->i', 'ii'), ('ii', 'ii'),
          ('bij,bij->bi', 'bij', 'bij'), ('ij,jk,kl->il', 'ij', 'jk', 'kl'), ('...ij,...jk->...ik', 'bij', 'bjk'),
          ('...j,j->...', 'bij', 'j'), ('bhqd,bhkd->bhqk', 'bhqd', 'bhkd'), ('ijk->kji', 'ijk'), ('ij,ij->ij', 'ij', 'ij')]

@pytest.mark.parametrize('case', EINSUM, ids=[c[0] for c in EINSUM])
@SET
@given(sizes=st.fixed_dictionaries({c: st.integers(1, 4) for c in 'bhijklqd'}), seed=seeds, as_list=st.booleans())
def test_einsum(case, sizes, seed, as_list):
    eq, *subs = case
    arrays = [data(seed + n, tuple(sizes[c] for c in s)) for n, s in enumerate(subs)]
    fn = (lambda L, *xs: L.einsum(eq, list(xs))) if as_list else (lambda L, *xs: L.einsum(eq, *xs))
    check(fn, *arrays, seed=seed, name=f'einsum {eq} {sizes}')

def test_einsum_same_operand_twice_and_size_one_broadcast():
    check(lambda L, x: L.einsum('ij,ij->', x, x), data(0, (3, 4)), name='einsum x,x')
    check(lambda L, x, y: L.einsum('...ij,...jk->...ik', x, y), data(0, (1, 2, 3)), data(1, (4, 3, 2)), name='einsum ... broadcast')

# ---------------------------------------------------------------- out=
OUT = {
    'exp': (lambda L, x, **o: L.exp(x, **o), (3, 4)), 'sin': (lambda L, x, **o: L.sin(x, **o), (3, 4)),
    'add': (lambda L, x, **o: L.add(x, 2.0, alpha=3, **o), (3, 4)), 'mul': (lambda L, x, **o: L.mul(x, x, **o), (3, 4)),
    'sum_dim': (lambda L, x, **o: L.sum(x, 1, keepdim=True, **o), (3, 4)), 'mean': (lambda L, x, **o: L.mean(x, 0, **o), (3, 4)),
    'prod': (lambda L, x, **o: L.prod(x, 1, **o), (3, 4)), 'cumsum': (lambda L, x, **o: L.cumsum(x, 0, **o), (3, 4)),
    'matmul': (lambda L, x, **o: L.matmul(x, x.mT, **o), (3, 4)), 'mm': (lambda L, x, **o: L.mm(x, x.t(), **o), (3, 4)),
    'clamp': (lambda L, x, **o: L.clamp(x, -0.5, 0.5, **o), (3, 4)), 'cat': (lambda L, x, **o: L.cat([x, x], 1, **o), (3, 4)),
    'tril': (lambda L, x, **o: L.tril(x, **o), (3, 4)), 'gt': (lambda L, x, **o: L.gt(x, 0.1, **o), (3, 4)),
    'max_dim': (lambda L, x, **o: L.max(x, 1, **o), (3, 4)), 'sort': (lambda L, x, **o: L.sort(x, 1, **o), (3, 4)),
    'where': (lambda L, x, **o: L.where(x > 0, x, L.zeros_like(x), **o), (3, 4)), 'norm': (lambda L, x, **o: L.linalg.vector_norm(x, 2, 1, **o), (3, 4)),
}

def _empty_like_result(L, r, fresh):
    "An out tensor for result `r`: same shape, or (fresh) of shape (0,), which is resized without a warning."
    def one(t): return L.empty((0,) if fresh else tuple(t.shape), dtype=t.dtype)
    return tuple(one(t) for t in r) if isinstance(r, tuple) else one(r)

@pytest.mark.parametrize('name', sorted(OUT))
@pytest.mark.parametrize('fresh', [False, True])
def test_out(name, fresh):
    fn, shape = OUT[name]
    x = data(7, shape)
    res = {}
    for L in (bp, torch):
        xt = L.tensor(x)
        out = _empty_like_result(L, fn(L, xt), fresh)
        with warnings.catch_warnings():
            warnings.simplefilter('error')                  # no resize warning for an empty out or a right-sized one
            r = fn(L, xt, out=out)
        for a, o in zip(_outs(r), _outs(out)): assert a is o, f"{name}: out= must return the out tensor itself"
        res[L] = [np.asarray(o.numpy() if L is torch else o.array) for o in _outs(out)]
    for a, b in zip(res[bp], res[torch]):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=name)

def test_out_refused_with_grad_and_bad_dtype_resized_with_warning():
    for L in (bp, torch):
        x = L.tensor([1., 2.], requires_grad=True)
        with pytest.raises(RuntimeError, match="don't support automatic differentiation"): L.exp(x, out=L.empty(2))
        with pytest.raises(RuntimeError, match="don't support automatic differentiation"): L.exp(x.detach(), out=L.empty(2, requires_grad=True))
        with L.no_grad(): L.exp(x, out=L.empty(2))
        with pytest.raises(RuntimeError, match="can't be cast"): L.add(x.detach(), 1, out=L.empty(2, dtype=L.int64))
        o = L.empty(2, dtype=L.float64)
        L.add(x.detach(), 1, out=o)                        # float32 into float64: fine
        assert o.dtype in (np.float64, torch.float64) and o.tolist() == [2., 3.]
        o = L.ones(5)
        with pytest.warns(UserWarning, match='resized'): L.mul(x.detach(), 2, out=o)
        assert tuple(o.shape) == (2,) and o.tolist() == [2., 4.]

def test_out_bumps_version_when_available():
    o = bp.empty(3)
    v = getattr(o, '_version', None)
    bp.exp(bp.zeros(3), out=o)
    assert o.tolist() == [1., 1., 1.]
    if v is not None: assert o._version > v

# ---------------------------------------------------------------- in-place methods
INPLACE = {
    'abs_': ((), 'nonzero'), 'neg_': ((), 'normal'), 'exp_': ((), 'normal'), 'log_': ((), 'positive'), 'sqrt_': ((), 'positive'),
    'rsqrt_': ((), 'positive'), 'sin_': ((), 'normal'), 'cos_': ((), 'normal'), 'tanh_': ((), 'normal'), 'sigmoid_': ((), 'normal'),
    'relu_': ((), 'nonzero'), 'floor_': ((), 'normal'), 'ceil_': ((), 'normal'), 'round_': ((), 'normal'), 'trunc_': ((), 'normal'),
    'sign_': ((), 'nonzero'), 'square_': ((), 'normal'), 'log1p_': ((), 'positive'), 'expm1_': ((), 'normal'), 'erf_': ((), 'normal'),
    'log2_': ((), 'positive'), 'clamp_': ((-0.5, 0.5), 'normal'), 'clip_': ((None, 0.3), 'normal'), 'pow_': ((3,), 'normal'),
    'remainder_': ((0.7,), 'normal'),
}

@pytest.mark.parametrize('name', sorted(INPLACE))
@SET
@given(shape=shapes, seed=seeds)
def test_inplace_recorded_in_graph(name, shape, seed):
    "On a non-leaf in the graph the in-place op is recorded: same values and input gradient as PyTorch; the result is the same object."
    args, kind = INPLACE[name]
    def fn(L, x):
        y = x * 1
        r = getattr(y, name)(*args)
        assert r is y
        return y
    check(fn, data(seed, shape, kind), seed=seed, name=name)

def test_inplace_with_tensor_arguments():
    x, m = data(0, (3, 4)), np.random.default_rng(0).random((3, 4)) < 0.5
    check(lambda L, x: (x * 1).masked_fill_(L.tensor(m), -2.), x, name='masked_fill_')
    check(lambda L, x, v: (x * 1).masked_fill_(L.tensor(m[0]), v), x, np.array(1.5), name='masked_fill_ tensor value')
    idx = np.array([[0, 1, 2, 0]])
    check(lambda L, x, s: (x * 1).scatter_(0, L.tensor(idx), s), x, data(1, (1, 4)), name='scatter_')
    check(lambda L, x, s: (x * 1).scatter_add_(1, L.tensor(np.array([[0, 0], [3, 1], [2, 2]])), s), x, data(1, (3, 2)), name='scatter_add_')
    check(lambda L, x, y: (x * 1).pow_(y), np.abs(x) + 0.5, data(2, (4,)), name='pow_ tensor')

@pytest.mark.parametrize('name', ['relu_', 'abs_', 'clamp_', 'masked_fill_'])
def test_inplace_rules_like_torch(name):
    args = {'clamp_': (0., 1.), 'masked_fill_': None}.get(name, ())
    for L in (bp, torch):
        a = args if args is not None else (L.tensor([True, False, True]), 0.)
        w = L.tensor([1., -2., 3.], requires_grad=True)
        with pytest.raises(RuntimeError, match='leaf'): getattr(w, name)(*a)      # a leaf that requires grad
        y = w.exp(); z = y * 1
        s = (y * y).sum()
        with L.no_grad(): getattr(y, name)(*a)                            # changes a value the backward needs
        with pytest.raises(RuntimeError, match='modified by an inplace operation'): s.backward()
        x = L.tensor([1., -2., 3.]); v = x._version
        getattr(x, name)(*a)
        assert x._version == v + 1
    raises_like_torch(lambda L: L.tensor([1, 2]).exp_(), RuntimeError, "can't be cast")
    raises_like_torch(lambda L: L.ones(2).masked_fill_(L.ones(3, 2, dtype=L.bool), 0.), bp.ShapeError)

def test_setitem_recorded_like_torch():
    w = data(0, (3, 4))
    def fn(L, w, v):
        y = w * 2
        y[1] = v * 3
        y[:, 2] = w[:, 0] ** 2
        y[y > 1] = 0.
        return y
    check(fn, w, data(1, (4,)), name='setitem recorded')
    for L in (bp, torch):
        x = L.tensor(w, requires_grad=True)
        with pytest.raises(RuntimeError, match='leaf'): x[0] = 1.
        y = x * 1; s = (y * y).sum()
        with L.no_grad(): y[0, 0] = 5.
        with pytest.raises(RuntimeError, match='modified by an inplace operation'): s.backward()

# ---------------------------------------------------------------- predicates, conversions, formatting
def test_allclose_isclose_equal():
    a, b = data(0, (3, 4)), data(0, (3, 4)) + 1e-7
    for L in (bp, torch):
        x, y = L.tensor(a), L.tensor(b)
        assert L.allclose(x, y) and not L.allclose(x, y + 1e-3) and x.allclose(y, rtol=0, atol=1e-6)
        assert L.equal(x, L.tensor(a)) and not L.equal(x, y) and not L.equal(x, x[:2])
        assert L.is_tensor(x) and not L.is_tensor(a) and L.numel(x) == 12
    check(lambda L, x, y: L.isclose(x, y, rtol=0, atol=0.5), a, a + data(1, (3, 4)), rg=[False, False], name='isclose')
    check(lambda L, x: L.isclose(x, x * np.nan, equal_nan=True), a, rg=[False], name='isclose nan')
    raises_like_torch(lambda L: L.allclose(L.tensor(a), L.tensor(a).float()), TypeError)

@pytest.mark.parametrize('dtype', ['float64', 'float32', 'float16', 'int64', 'int32', 'uint8', 'bool'])
def test_from_numpy_shares_memory_and_dtype(dtype):
    a = np.arange(6).reshape(2, 3).astype(dtype)
    b, t = bp.from_numpy(a), torch.from_numpy(a)
    assert b.dtype == _np_dtype(t) and b.shape == tuple(t.shape)
    a[0, 0] = 1
    assert b.array[0, 0] == t[0, 0].item() == 1
    raises_like_torch(lambda L: L.from_numpy([1, 2]), TypeError, 'expected np.ndarray')
    raises_like_torch(lambda L: L.from_numpy(np.array(['a'])), TypeError)

@pytest.mark.parametrize('spec', ['.3f', '', '>10.2e', '+.1%'])
def test_format_zero_dim(spec):
    assert format(bp.tensor(1.23456), spec) == format(torch.tensor(1.23456), spec)
    assert f"{bp.tensor(7):d}" == f"{torch.tensor(7):d}"

def test_format_multi_element_like_torch():
    for L in (bp, torch):
        with pytest.raises(TypeError): format(L.tensor([1., 2.]), '.3f')
        with pytest.raises(TypeError): format(L.tensor([1.]), '.3f')
    assert format(bp.tensor([1., 2.]), '') == str(bp.tensor([1., 2.]))

# ---------------------------------------------------------------- bad input: both refuse, backprop with its error type
BAD = {
    'mm vector': (lambda L: L.mm(L.ones(3), L.ones(3, 2)), bp.ShapeError),
    'mm shapes': (lambda L: L.mm(L.ones(2, 3), L.ones(2, 2)), bp.ShapeError),
    'mm dtypes': (lambda L: L.mm(L.ones(2, 2), L.ones(2, 2, dtype=L.float64)), TypeError),
    'bmm batch': (lambda L: L.bmm(L.ones(2, 2, 3), L.ones(3, 3, 2)), bp.ShapeError),
    'bmm 2d': (lambda L: L.bmm(L.ones(2, 3), L.ones(3, 2)), bp.ShapeError),
    'dot lengths': (lambda L: L.dot(L.ones(2), L.ones(3)), bp.ShapeError),
    'dot 2d': (lambda L: L.dot(L.ones(2, 2), L.ones(2, 2)), bp.ShapeError),
    'outer 2d': (lambda L: L.outer(L.ones(2, 2), L.ones(2)), bp.ShapeError),
    't 3d': (lambda L: L.t(L.ones(2, 2, 2)), bp.ShapeError),
    'narrow too long': (lambda L: L.ones(3, 4).narrow(1, 2, 3), bp.ShapeError),
    'narrow bad start': (lambda L: L.ones(3, 4).narrow(1, 5, 0), IndexError),
    'narrow bad dim': (lambda L: L.ones(3, 4).narrow(2, 0, 1), IndexError),
    'topk k too large': (lambda L: L.ones(3).topk(4), RuntimeError),
    'sort bad dim': (lambda L: L.sort(L.ones(3), 1), IndexError),
    'split sizes': (lambda L: L.ones(5).split([2, 2]), bp.ShapeError),
    'split zero': (lambda L: L.ones(5).split(0), ValueError),
    'chunk zero': (lambda L: L.ones(5).chunk(0), ValueError),
    'repeat too few': (lambda L: L.ones(2, 3).repeat(2), bp.ShapeError),
    'flip repeated dim': (lambda L: L.ones(2, 3).flip(0, 0), ValueError),
    'roll length mismatch': (lambda L: L.ones(2, 3).roll((1, 2), 0), bp.ShapeError),
    'tril 1d': (lambda L: L.tril(L.ones(3)), bp.ShapeError),
    'diag 3d': (lambda L: L.diag(L.ones(2, 2, 2)), bp.ShapeError),
    'masked_fill int mask': (lambda L: L.ones(2, 2).masked_fill(L.ones(2, 2, dtype=L.int64), 0.), TypeError),
    'index_select out of range': (lambda L: L.ones(2, 3).index_select(1, L.tensor([3])), IndexError),
    'index_select float index': (lambda L: L.ones(2, 3).index_select(1, L.tensor([1.])), TypeError),
    'index_select 2d index': (lambda L: L.ones(2, 3).index_select(1, L.tensor([[1]])), bp.ShapeError),
    'scatter dtype': (lambda L: L.ones(2, 3).scatter(0, L.tensor([[0, 1, 0]]), L.ones(1, 3, dtype=L.float64)), TypeError),
    'scatter out of range': (lambda L: L.ones(2, 3).scatter_add(0, L.tensor([[0, 2, 0]]), L.ones(1, 3)), IndexError),
    'scatter index dims': (lambda L: L.ones(2, 3).scatter(0, L.tensor([0, 1]), L.ones(2)), bp.ShapeError),
    'scatter src small': (lambda L: L.ones(2, 3).scatter(0, L.tensor([[0, 1, 0]]), L.ones(1, 2)), bp.ShapeError),
    'cumsum bad dim': (lambda L: L.cumsum(L.ones(2), 1), IndexError),
    'prod bad dim': (lambda L: L.prod(L.ones(2), 2), IndexError),
    'all bad dim': (lambda L: L.all(L.ones(2), 1), IndexError),
    'einsum operand count': (lambda L: L.einsum('ij,jk->ik', L.ones(2, 2)), ValueError),
    'einsum subscripts': (lambda L: L.einsum('ijk->i', L.ones(2, 2)), bp.ShapeError),
    'einsum sizes': (lambda L: L.einsum('ij,jk->ik', L.ones(2, 3), L.ones(2, 2)), bp.ShapeError),
    'div rounding mode': (lambda L: L.div(L.ones(2), 2, rounding_mode='up'), ValueError),
    'isclose shapes': (lambda L: L.isclose(L.ones(2), L.ones(3)), bp.ShapeError),
    'out not tensor': (lambda L: L.exp(L.ones(2), out=[0., 0.]), TypeError),
}

@pytest.mark.parametrize('name', sorted(BAD))
def test_bad_input(name):
    fn, err = BAD[name]
    raises_like_torch(fn, err)
