"""`backprop.utils.checkpoint`: a checkpointed computation is indistinguishable from the plain one except for memory.
Over randomised networks (depth, width, dropout, segments, both modes) outputs, input gradients and every parameter
gradient are bitwise equal to the unchecked run in float64; also `autograd.grad` w.r.t. parameters, captured
non-leaf tensors, RNG stream, nesting, no_grad, tuple/keyword/non-tensor arguments, double backward, hooks,
the RNN layer inside a checkpoint, memory scaling, and the errors."""
import warnings
import tracemalloc
import numpy as np
import pytest

import backprop as bp
from backprop.core import Function, randn, manual_seed, float64, no_grad
from backprop.nn import Linear, Tanh, ReLU, Dropout, Sequential, RNN
from backprop.gradcheck import gradcheck, gradgradcheck
from backprop.utils.checkpoint import checkpoint, checkpoint_sequential, CheckpointFunction
import backprop.utils.checkpoint as ck


def mlp(depth, width, p, seed=0, act=Tanh):
    manual_seed(seed)
    mods = []
    for _ in range(depth):
        mods += [Linear(width, width), act()] + ([Dropout(p)] if p else [])
    return Sequential(*mods).double()


def run_grads(net, x, run, seed=1):
    net.zero_grad(); x.grad = None
    manual_seed(seed)
    y = run()
    (y * y).sum().backward()
    return [y.array.copy(), None if x.grad is None else x.grad.array.copy()] + \
           [None if p.grad is None else p.grad.array.copy() for p in net.parameters()]


def same(a, b):
    return len(a) == len(b) and all((u is None and v is None) or (u is not None and v is not None and np.array_equal(u, v))
                                    for u, v in zip(a, b))


def close(a, b, rtol=1e-12, atol=1e-14):
    assert len(a) == len(b)
    for u, v in zip(a, b): np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)


def engine_untouched():
    return not ck._local.stack and bp.core._tls.m == (True, False, None)   # no interception left in this thread


@pytest.mark.parametrize("seed", range(12))
def test_randomised_networks_bitwise(seed):
    rng = np.random.default_rng(seed)
    depth, width = int(rng.integers(1, 7)), int(rng.integers(1, 9))
    p = float(rng.choice([0.0, 0.2, 0.5]))
    net = mlp(depth, width, p, seed, act=Tanh if seed % 2 else ReLU)
    x = bp.tensor(rng.standard_normal((int(rng.integers(1, 5)), width)), requires_grad=True)
    ref = run_grads(net, x, lambda: net(x))
    for reentrant in (False, True):
        assert same(run_grads(net, x, lambda: checkpoint(net, x, use_reentrant=reentrant)), ref)
        for segs in sorted({1, 2, len(net) // 2 or 1, len(net)}):
            got = run_grads(net, x, lambda: checkpoint_sequential(net, segs, x, use_reentrant=reentrant))
            assert same(got, ref), (segs, reentrant)
    assert engine_untouched()


def test_autograd_grad_sees_parameters_and_closed_over_tensors():
    net = mlp(3, 5, 0.3)
    x = randn(4, 5, dtype=float64, requires_grad=True)
    u0 = randn(5, dtype=float64, requires_grad=True)
    u = u0 * 3                                           # a non-leaf captured by the closure
    f = lambda z: net(z) * u
    wrt = [x, u0] + list(net.parameters())
    manual_seed(1); g1 = bp.autograd.grad((checkpoint(f, x) ** 2).sum(), wrt, retain_graph=True)
    manual_seed(1); g2 = bp.autograd.grad((f(x) ** 2).sum(), wrt)
    assert all(np.array_equal(a.array, b.array) for a, b in zip(g1, g2))


def test_parameters_get_grads_when_no_input_requires_grad():
    net = mlp(3, 4, 0.0)
    x = randn(2, 4, dtype=float64)
    net.zero_grad(); (checkpoint_sequential(net, 3, x) ** 2).sum().backward()
    got = [p.grad.array.copy() for p in net.parameters()]
    net.zero_grad(); (net(x) ** 2).sum().backward()
    assert all(np.array_equal(a, p.grad.array) for a, p in zip(got, net.parameters()))
    with pytest.warns(UserWarning, match='none of the inputs have requires_grad=True'):
        y = checkpoint(net, x, use_reentrant=True)
    assert not y.requires_grad


def test_dropout_masks_and_rng_stream():
    net = mlp(4, 6, 0.5)
    x = randn(3, 6, dtype=float64, requires_grad=True)
    ref = run_grads(net, x, lambda: net(x))
    assert same(run_grads(net, x, lambda: checkpoint(net, x)), ref)
    assert not same(run_grads(net, x, lambda: checkpoint(net, x, preserve_rng_state=False)), ref)
    manual_seed(5); (net(x) ** 2).sum().backward(); a = randn(4).array
    manual_seed(5); (checkpoint(net, x) ** 2).sum().backward(); b = randn(4).array
    assert np.array_equal(a, b)
    manual_seed(5); y = checkpoint(net, x); manual_seed(123)           # reseeding before backward
    (y ** 2).sum().backward()
    manual_seed(5); y2 = net(x); assert np.array_equal(y.array, y2.array)


def test_no_grad_and_nesting():
    net = mlp(4, 5, 0.3)
    x = randn(3, 5, dtype=float64, requires_grad=True)
    with no_grad():
        manual_seed(1); y = checkpoint(net, x)
        manual_seed(1); y2 = checkpoint_sequential(net, 2, x)
    assert not y.requires_grad and not y2.requires_grad
    manual_seed(1); assert np.array_equal(y.array, net(x).array)
    ref = run_grads(net, x, lambda: net(x))
    deep = lambda z: checkpoint(lambda a: checkpoint(lambda b: checkpoint(net[8:], checkpoint(net[4:8], b)),
                                                     checkpoint(net[:4], a)), z)
    assert same(run_grads(net, x, lambda: deep(x)), ref)
    assert engine_untouched()


def test_retain_graph_twice_and_hooks():
    net = mlp(2, 4, 0.0)
    x = randn(2, 4, dtype=float64, requires_grad=True)
    seen = []
    net[0].weight.register_hook(lambda g: seen.append(g.shape))
    y = (checkpoint(net, x) ** 2).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.array.copy()
    y.backward()
    assert np.array_equal(x.grad.array, 2 * g1) and seen == [(4, 4), (4, 4)]
    with pytest.raises(RuntimeError, match='second time'):
        y.backward()


def test_tuple_kwargs_nontensor_and_identity():
    a = randn(3, 4, dtype=float64, requires_grad=True)
    b = randn(4, dtype=float64, requires_grad=True)
    def f(a, k, b=None, tag='t'):
        h = (a * b).tanh()
        return h, h.sum(1) ** k, tag, a
    def loss(run):
        a.grad = b.grad = None
        h, s, tag, a_out = run()
        assert tag == 'T'
        ((h ** 2).sum() + s.sum() + (a_out * 3).sum()).backward()
        return [a.grad.array.copy(), b.grad.array.copy()]
    ref = loss(lambda: f(a, 3, b=b, tag='T'))
    close(loss(lambda: checkpoint(f, a, 3, b=b, tag='T')), ref)
    # unused outputs get zero gradient
    a.grad = None
    h, s, _, _ = checkpoint(f, a, 2, b=b)
    s.sum().backward()
    a2 = a.detach().requires_grad_()
    f(a2, 2, b=b)[1].sum().backward()
    np.testing.assert_allclose(a.grad.array, a2.grad.array, rtol=1e-13)


def test_double_backward():
    net = mlp(3, 4, 0.0)
    x = randn(2, 4, dtype=float64, requires_grad=True)
    assert gradgradcheck(lambda t: checkpoint(net, t), (x,))
    assert gradgradcheck(lambda t: checkpoint_sequential(net, 3, t), (x,))
    W = randn(4, 4, dtype=float64, requires_grad=True)
    assert gradcheck(lambda t, w: checkpoint(lambda z: (z @ w).tanh(), t), (x, W))
    # gradient penalty w.r.t. parameters through a checkpoint
    def penalty(run):
        net.zero_grad()
        (g,) = bp.autograd.grad((run() ** 2).sum(), x, create_graph=True)
        (g ** 2).sum().backward()
        return [p.grad.array.copy() for p in net.parameters()]
    close(penalty(lambda: checkpoint(net, x)), penalty(lambda: net(x)), rtol=1e-11, atol=1e-13)


def test_rnn_inside_checkpoint():
    manual_seed(0)
    m = RNN(3, 5, num_layers=2).double()
    x = randn(7, 2, 3, dtype=float64, requires_grad=True)
    def grads(run):
        m.zero_grad(); x.grad = None
        out = run()
        (out ** 2).sum().backward()
        return [x.grad.array.copy()] + [p.grad.array.copy() for p in m.parameters()]
    ref = grads(lambda: m(x)[0])
    assert all(np.array_equal(a, b) for a, b in zip(grads(lambda: checkpoint(lambda z: m(z)[0], x)), ref))


def test_memory_is_sublinear():
    "Peak memory of forward+backward: O(n) without checkpointing, about O(sqrt n) with sqrt(n) segments."
    def peak(n, segs):
        manual_seed(0)
        net = Sequential(*[m for _ in range(n) for m in (Linear(64, 64), Tanh())])
        for p in net.parameters(): p.grad = bp.zeros_like(p)
        x = randn(256, 64)
        tracemalloc.start(); base = tracemalloc.get_traced_memory()[0]
        y = net(x) if segs is None else checkpoint_sequential(net, segs, x)
        (y * y).sum().backward()
        pk = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        return pk
    p16, p64 = peak(16, None), peak(64, None)
    c16, c64 = peak(16, 4), peak(64, 8)
    assert p64 / p16 > 3.3                     # linear: 4x the depth, ~4x the memory
    assert c64 / c16 < 2.6                     # sqrt: 4x the depth, ~2x the memory
    assert c64 < p64 / 2


def test_errors():
    net = mlp(2, 3, 0.0)
    x = randn(2, 3, dtype=float64, requires_grad=True)
    with pytest.raises(ValueError, match='unexpected keyword arguments: k'):
        checkpoint(net, x, use_reentrant=True, k=1)
    with pytest.raises(TypeError, match='expected a callable'):
        checkpoint(None, x)
    with pytest.raises(TypeError, match='must return a Tensor or a tuple'):
        checkpoint(lambda t: 1.0, x)
    for bad in (0, -1, 5, 1.5, True, None):
        with pytest.raises(ValueError, match=r'segments must be an int from 1 to the number of functions \(4\)'):
            checkpoint_sequential(net, bad, x)
    with pytest.raises(ValueError, match='unexpected keyword arguments: foo'):
        checkpoint_sequential(net, 2, x, foo=3)
    with pytest.raises(TypeError, match='expected a Sequential or a list'):
        checkpoint_sequential(Linear(3, 3), 1, x)
    it = iter([2, 1])
    y = checkpoint(lambda t: t[:next(it)] * 2, x)
    with pytest.raises(RuntimeError, match='must be deterministic'):
        y.sum().backward()
    with pytest.raises(ZeroDivisionError):
        checkpoint(lambda t: t / 0 if (1 / 0) else t, x)
    assert engine_untouched()
    y = checkpoint(net, x, use_reentrant=True)
    with pytest.raises(RuntimeError, match='not supported with use_reentrant=True'):
        (y ** 2).sum().backward(create_graph=True)


def test_node_repr():
    x = randn(2, requires_grad=True)
    y = checkpoint(lambda t: t * 2, x)
    assert isinstance(y.grad_fn, CheckpointFunction) and repr(y.grad_fn) == '<CheckpointFunctionBackward>'


def test_module_hooks_and_func_transform():
    "Full backward hooks fire once with the plain run's gradients; forward hooks fire twice (recomputation)."
    manual_seed(0)
    net = Sequential(Linear(4, 4), Tanh(), Linear(4, 4)).double()
    x = randn(3, 4, dtype=float64, requires_grad=True)
    log, fwd = [], []
    for m in net: m.register_full_backward_hook(lambda mod, gi, go: log.append(go[0].array.copy()))
    net[0].register_forward_hook(lambda *a: fwd.append(1))
    (net(x) ** 2).sum().backward()
    ref, n_ref = [g.copy() for g in log], len(fwd)
    log.clear(); fwd.clear()
    (checkpoint(net, x) ** 2).sum().backward()
    assert len(log) == len(ref) and all(np.array_equal(a, b) for a, b in zip(log, ref))
    assert n_ref == 1 and len(fwd) == 2
    g1 = bp.func.grad(lambda t: (checkpoint(net, t) ** 2).sum())(x)
    g2 = bp.func.grad(lambda t: (net(t) ** 2).sum())(x)
    assert np.array_equal(g1.array, g2.array)
