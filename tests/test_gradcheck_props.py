"""Property tests of `backprop.gradcheck`: it passes for correct random compositions of ops, and it
catches (raises GradcheckError for) deliberately wrong VJPs. No PyTorch needed."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from hypothesis.extra import numpy as hnp

gc_mod = pytest.importorskip("backprop.gradcheck")     # written by another helper; skip cleanly without it
import backprop as bp  # noqa: E402
from backprop.core import Function, _wrap  # noqa: E402

gradcheck, gradgradcheck, GradcheckError = gc_mod.gradcheck, gc_mod.gradgradcheck, gc_mod.GradcheckError
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

def arr(seed, shape, lo=None):
    "Random float64 data; with `lo`, magnitudes in [lo, 2] with random signs."
    rng = np.random.default_rng(seed)
    if lo is None: return rng.standard_normal(shape)
    return rng.uniform(lo, 2.0, shape) * rng.choice([-1.0, 1.0], shape)

def leaf(a): return bp.tensor(np.asarray(a, np.float64), requires_grad=True)

seeds = st.integers(0, 2**32 - 1)
shape2 = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)

# ---------------------------------------------------------------- random compositions
CORE_UNARY = {
    'neg': lambda x: -x,
    'square': lambda x: x * x,
    'cube': lambda x: x ** 3,
    'recip1p': lambda x: 1.0 / (x * x + 1.0),
    'pow_half': lambda x: (x * x + 1.0) ** 0.5,
    'sum_keep': lambda x: x.sum(-1, keepdim=True) if x.ndim else x.sum(),
    'sum_all': lambda x: x.sum(),
    'scale': lambda x: 0.5 * x - 1.5,
}
CORE_BINARY = {
    'add': lambda x, y: x + y,
    'sub': lambda x, y: x - y,
    'mul': lambda x, y: x * y,
    'div': lambda x, y: x / (y * y + 1.0),
    'rsub': lambda x, y: 2.0 - x * y,
}
OPS_UNARY = {
    'exp_tanh': lambda x: bp.exp(bp.tanh(x)),
    'tanh': lambda x: bp.tanh(x),
    'sigmoid': lambda x: bp.sigmoid(x),
    'log1p_sq': lambda x: bp.log(x * x + 1.0),
    'sqrt1p': lambda x: bp.sqrt(x * x + 1.0),
    'softmax': lambda x: bp.softmax(x, dim=-1) if x.ndim else x,
    'log_softmax': lambda x: bp.log_softmax(x, dim=0) if x.ndim else x,
    'logsumexp': lambda x: bp.logsumexp(x, dim=-1, keepdim=True) if x.ndim else x,
    'mean': lambda x: x.mean(0) if x.ndim else x,
    'var': lambda x: x.var(-1, keepdim=True) if x.ndim and x.shape[-1] > 1 else x,
    'T': lambda x: x.T if x.ndim else x,
    'flatten': lambda x: bp.flatten(x),
    'flipslice': lambda x: x[..., ::-1] if x.ndim else x,
}
OPS_BINARY = {
    'matmul_T': lambda x, y: (x.reshape(1, -1) @ y.reshape(-1, 1)) if x.numel() == y.numel() else x * y,
    'cat': lambda x, y: bp.cat([x.reshape(-1), y.reshape(-1)]),
    'stack_sum': lambda x, y: bp.stack([x, y.expand(x.shape)]).sum(0) if x.ndim >= y.ndim and
                 all(a == b or b == 1 for a, b in zip(x.shape[::-1], y.shape[::-1])) else x - y,
}

def _composition(ops_u, ops_b, steps):
    "A function of (x, y) applying `steps`: ('u', name, i) or ('b', name, i, j) on the list of values so far."
    def f(x, y):
        vals = [x, y]
        for s in steps:
            if s[0] == 'u': vals.append(ops_u[s[1]](vals[s[2] % len(vals)]))
            else:
                u, v = vals[s[2] % len(vals)], vals[s[3] % len(vals)]
                try: np.broadcast_shapes(u.shape, v.shape)
                except ValueError: v = v.sum()          # shape-changing ops (T, cat, flatten) can break broadcasting
                vals.append(ops_b[s[1]](u, v))
        return vals[-1] if len(steps) else x * y
    f.__name__ = 'composition(' + ', '.join(s[1] for s in steps) + ')'
    return f

def steps_strategy(ops_u, ops_b):
    u = st.tuples(st.just('u'), st.sampled_from(sorted(ops_u)), st.integers(0, 10))
    b = st.tuples(st.just('b'), st.sampled_from(sorted(ops_b)), st.integers(0, 10), st.integers(0, 10))
    return st.lists(st.one_of(u, b), min_size=1, max_size=5)

@SETTINGS
@given(shapes=shape2, seed=seeds, steps=steps_strategy(CORE_UNARY, CORE_BINARY))
def test_gradcheck_passes_core_compositions(shapes, seed, steps):
    xs, ys = shapes.input_shapes
    f = _composition(CORE_UNARY, CORE_BINARY, steps)
    assert gradcheck(f, (leaf(arr(seed, xs)), leaf(arr(seed + 1, ys))))

@SETTINGS
@given(shapes=shape2, seed=seeds, steps=steps_strategy({**CORE_UNARY, **OPS_UNARY}, {**CORE_BINARY, **OPS_BINARY}))
def test_gradcheck_passes_ops_compositions(shapes, seed, steps):
    xs, ys = shapes.input_shapes
    f = _composition({**CORE_UNARY, **OPS_UNARY}, {**CORE_BINARY, **OPS_BINARY}, steps)
    assert gradcheck(f, (leaf(arr(seed, xs)), leaf(arr(seed + 1, ys))))

@SETTINGS
@given(shapes=shape2, seed=seeds, steps=steps_strategy(CORE_UNARY, CORE_BINARY))
def test_gradcheck_projection_mode_passes(shapes, seed, steps):
    xs, ys = shapes.input_shapes
    f = _composition(CORE_UNARY, CORE_BINARY, steps)
    assert gradcheck(f, (leaf(arr(seed, xs)), leaf(arr(seed + 1, ys))), mode='projection', seed=seed % 1000)

@SETTINGS
@given(shapes=shape2, seed=seeds, steps=steps_strategy(CORE_UNARY, CORE_BINARY))
def test_gradgradcheck_passes_core_compositions(shapes, seed, steps):
    xs, ys = shapes.input_shapes
    f = _composition(CORE_UNARY, CORE_BINARY, steps)
    assert gradgradcheck(f, (leaf(arr(seed, xs)), leaf(arr(seed + 1, ys))), atol=1e-4)

def test_gradcheck_accepts_float32_inputs_and_returns_true():
    x = bp.tensor(np.array([0.5, -1.0, 2.0], np.float32), requires_grad=True)
    assert gradcheck(lambda t: t * t * t, (x,)) is True

# ---------------------------------------------------------------- deliberately wrong VJPs
class BadSquare(Function):
    "x² with a VJP off by a factor: 2.5x instead of 2x."
    def forward(self, x): return x * x
    def backward(self, g): return g * self.inputs[0] * 2.5,

class SignFlip(Function):
    "sin with the VJP's sign flipped."
    def forward(self, x): return np.sin(x)
    def backward(self, g): return -g * _wrap(np.cos(self.inputs[0].array)),

class ShiftedVJP(Function):
    "Cumulative sum whose VJP is the forward cumsum (should be the reversed cumsum)."
    def forward(self, x): return np.cumsum(x, axis=-1)
    def backward(self, g): return _wrap(np.cumsum(g.array, axis=-1)),

class ForgetsInput(Function):
    "x * y whose VJP gives y no gradient."
    def forward(self, x, y): return x * y
    def backward(self, g):
        x, y = self.inputs
        return g * y, None

class NoBroadcastSum(Function):
    "x + y (y broadcast) whose VJP forgets to sum over the broadcast axes and just takes a slice."
    def forward(self, x, y): return x + y
    def backward(self, g):
        y = self.inputs[1]
        return g, _wrap(g.array[(0,) * (g.ndim - y.ndim)].reshape(y.shape) if g.ndim > y.ndim else g.array[:1].reshape(y.shape))

class NumpyOnlyTanh(Function):
    "tanh with a correct first derivative written in numpy: its backward records no graph, so second derivatives are wrong."
    def forward(self, x): return np.tanh(x)
    def backward(self, g): return _wrap(g.array * (1 - np.tanh(self.inputs[0].array) ** 2)),

shapes1 = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
shapes1d = hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4)

@SETTINGS
@given(shape=shapes1, seed=seeds)
def test_gradcheck_catches_wrong_factor(shape, seed):
    x = leaf(arr(seed, shape, lo=0.5))
    with pytest.raises(GradcheckError, match='BadSquare'):
        gradcheck(lambda t: BadSquare.apply(t), (x,))
    assert gradcheck(lambda t: t * t, (x,))                   # the right VJP passes at the same point

@SETTINGS
@given(shape=shapes1, seed=seeds)
def test_gradcheck_catches_sign_flip(shape, seed):
    x = leaf(arr(seed, shape, lo=0.1) * 0.7)                  # |x| <= 1.4 so cos(x) is well away from 0
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: SignFlip.apply(t), (x,))

@SETTINGS
@given(shape=shapes1d, seed=seeds)
def test_gradcheck_catches_transposed_jacobian(shape, seed):
    x = leaf(arr(seed, shape))
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: ShiftedVJP.apply(t), (x,), seed=seed % 1000)

@SETTINGS
@given(shapes=shape2, seed=seeds)
def test_gradcheck_catches_missing_gradient(shapes, seed):
    xs, ys = shapes.input_shapes
    x, y = leaf(arr(seed, xs, lo=0.5)), leaf(arr(seed + 1, ys, lo=0.5))
    bshape = np.broadcast_shapes(xs, ys)
    with pytest.raises(GradcheckError, match='input 1'):
        gradcheck(lambda a, b: ForgetsInput.apply(a.expand(bshape) if a.shape != bshape else a,
                                                  b.expand(bshape) if b.shape != bshape else b), (x, y))

@SETTINGS
@given(n=st.integers(2, 4), m=st.integers(1, 4), seed=seeds)
def test_gradcheck_catches_broadcast_vjp_bug(n, m, seed):
    x, y = leaf(arr(seed, (n, m))), leaf(arr(seed + 1, (m,)))
    with pytest.raises(GradcheckError, match='input 1'):
        gradcheck(lambda a, b: NoBroadcastSum.apply(a, b), (x, y))

@settings(max_examples=8, deadline=None)
@given(seed=seeds)
def test_gradcheck_projection_mode_catches_bug_in_large_input(seed):
    "Inputs above max_elements are checked along random directions; a wrong VJP is still caught."
    x = leaf(arr(seed, (50, 50), lo=0.5))
    with pytest.raises(GradcheckError, match='projection'):
        gradcheck(lambda t: BadSquare.apply(t), (x,), max_elements=100)
    assert gradcheck(lambda t: t * t, (x,), max_elements=100)

@SETTINGS
@given(shape=shapes1, seed=seeds)
def test_gradgradcheck_catches_first_order_only_backward(shape, seed):
    x = leaf(arr(seed, shape, lo=0.3))
    assert gradcheck(lambda t: NumpyOnlyTanh.apply(t), (x,))   # first derivative is right
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda t: NumpyOnlyTanh.apply(t), (x,))

def test_gradcheck_error_message_is_informative():
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(GradcheckError) as ei:
        gradcheck(lambda t: BadSquare.apply(t), (x,))
    msg = str(ei.value)
    assert 'BadSquare' in msg and 'input 0' in msg and '(3,)' in msg and 'numeric' in msg, msg

def test_gradcheck_is_an_assertion_error():
    assert issubclass(GradcheckError, AssertionError)
