"""The dot-product test ⟨ȳ, J ẋ⟩ = ⟨Jᵀȳ, ẋ⟩ for every op of the core and the ops chapter, over hypothesis-chosen shapes:
each op's JVP rule (`bp.func.jvp_rules`) must be the transpose of its VJP. `op_classes()` enumerates the op set from the
code, so an op added later without a rule or without a program exercising it fails `test_every_op_is_covered`."""
import warnings
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import backprop as bp
from backprop.func import dot_test, op_classes, jvp_rules

def _inplace(x, y):
    z, w = x * 1, x * 2
    z[0] = y[-1]; w.copy_(y)
    return z * w + z.exp()

def programs(n, k):
    "Programs of x, y (both (n, k), values in [0.3, 0.9]) that together use every op."
    I = bp.tensor(np.arange(n * 2).reshape(n, 2) % k)
    m = min(n, k)
    sq = lambda x: x[:m, :m] + bp.eye(m, dtype=x.dtype) * 2       # a well-conditioned square block
    J = bp.tensor(np.stack([np.roll(np.arange(k), r)[:min(2, k)] for r in range(n)]))   # distinct per row
    return {
        'arithmetic': lambda x, y: (x + y) * (x - y) / y - x ** 3 + x ** y + (-x) + x ** 0,
        'shapes': lambda x, y: x.sum(1, keepdim=True).expand(n, k).reshape(k, n).double() + bp.core._sum_to(x, (1, k)).sum(),
        'cast': lambda x, y: x.float().double(),
        'kinks': lambda x, y: (x - .6).relu() + (x - .6).abs() + x.clamp(.4, .6) + bp.maximum(x, y) + bp.minimum(x, x * 1)
                              + bp.where(x > .5, x, y),
        'reductions': lambda x, y: x.amax(1) + x.amin(0).sum() + x.logsumexp(1) + x.std(1, correction=0) + x.prod(1)
                                   + bp.where(x > .5, x, 0.).prod(1),
        'softmax': lambda x, y: x.softmax(1) * x.log_softmax(0),
        'indexing': lambda x, y: (x.permute(1, 0)[:, ::2].sum() + x[[0, 0, -1]].sum() + x.gather(1, I).sum()
                                  + bp.scatter(x, 1, J, y[:, :J.shape[1]]).sum()
                                  + bp.ops.IndexAdd.apply(x, shape=(n + 1, k), idx=(np.array([0] * (n - 1) + [n]), Ellipsis), adv=True).sum()
                                  + bp.ops.ScatterAdd.apply(x, shape=(n, k + 1), idx=np.arange(n * k).reshape(n, k) % (k + 1), dim=1).sum()),
        'joining': lambda x, y: (bp.cat([x, y], 1) @ bp.cat([x, y], 1).T + x[0] @ y[-1] + (x @ y[0]).sum() + (y[:, 0] @ x).sum()
                                 + bp.einsum('ij,kj->ik', x, y)),
        'unary': lambda x, y: (x.exp() + x.log() + x.sqrt() + x.tanh() + x.sigmoid() + x.sin() + x.cos() + bp.erf(x) + bp.expm1(x)
                               + bp.log1p(x) + bp.log2(x) + bp.log10(x) + bp.rsqrt(x) + bp.floor(x * 4)
                               + bp.tan(x) + bp.asin(x) + bp.acos(x) + bp.atan(x) + bp.atan2(x, y)),
        'scans': lambda x, y: bp.cumsum(x, 1) + bp.roll(x, 1, 0) + x.T.contiguous().T + bp.cumprod(x, 1),
        'linalg': lambda x, y: (bp.linalg.inv(sq(x)) + bp.linalg.solve(sq(x), sq(y)) + bp.linalg.det(sq(x))
                                + bp.ops.DiagonalScatter.apply(x[0, :m], shape=(m, m), k=0, d1=0, d2=1) + sq(y).diagonal().sum()),
        'inplace': _inplace,
    }

def run_all(n, k, seed):
    rng = np.random.default_rng(seed)
    X, Y = rng.uniform(0.3, 0.9, (n, k)), rng.uniform(0.3, 0.9, (n, k))
    errors = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for f in programs(n, k).values():
            for c, e in dot_test(f, X, Y, seed=seed).items(): errors[c] = max(e, errors.get(c, 0.))
    return errors

@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 4), k=st.integers(2, 5), seed=st.integers(0, 2 ** 16))
def test_each_jvp_rule_is_the_transpose_of_its_vjp(n, k, seed):
    for c, e in run_all(n, k, seed).items():
        # Cast rounds the tangents to float32 (~6e-8 each); a dot product of a few terms that nearly cancel
        # amplifies that, so Cast gets float32's tolerance, the float64 ops float64's
        assert e < (1e-3 if c.__name__ == 'Cast' else 1e-9), f"{c.__name__}: relative mismatch {e:.1e}"

def auto_cover(missing, X, Y):
    "Try each public function of backprop.ops on (x,), (x, y), (x, 1), (x, 0): dot-test the graphs that reach `missing` ops."
    found = {}
    for name in bp.ops.__all__:
        fn = getattr(bp.ops, name)
        if name[:1].isupper() or not callable(fn) or not missing: continue
        for extra in ((), ('y',), (1,), (0,)):
            f = lambda x, y, fn=fn, extra=extra: fn(x, *[y if e == 'y' else e for e in extra])
            try:
                with warnings.catch_warnings(): warnings.simplefilter('ignore'); errs = dot_test(f, X, Y)
            except Exception: continue
            if set(errs) & missing: found.update(errs); missing = missing - set(errs)
            break
    return found

def test_every_op_is_covered():
    seen = run_all(3, 4, 0)
    ops = op_classes()
    rng = np.random.default_rng(0)
    extra = auto_cover({c for c in ops if c not in seen}, rng.uniform(0.3, 0.9, (3, 4)), rng.uniform(0.3, 0.9, (3, 4)))
    for c, e in extra.items():
        assert e < 1e-9, f"{c.__name__}: relative mismatch {e:.1e}"
        seen[c] = e
    assert len(ops) > 40
    assert [c.__name__ for c in ops if c not in seen] == [], "ops with no program here: add one to `programs`"
    assert [c.__name__ for c in ops if c not in jvp_rules and not hasattr(c, 'jvp')] == [], "ops without a JVP rule: add one in nbs/05_func.ipynb"

def test_a_wrong_rule_is_caught():
    Tanh, saved = bp.ops.Tanh, jvp_rules[bp.ops.Tanh]
    jvp_rules[Tanh] = lambda n, xs, dx, y: dx[0] * (1 - y)
    try: err = dot_test(lambda x: x.tanh(), np.linspace(-1, 1, 7))[Tanh]
    finally: jvp_rules[Tanh] = saved
    assert err > 1e-3
