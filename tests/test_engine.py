"""Engine behaviour that needs no oracle: deep graphs, memory, error messages, gradient accumulation, grad modes.
(No PyTorch needed; expected values are worked out by hand.)"""
import gc, tracemalloc, weakref

import numpy as np
import pytest

import backprop as bp

f64 = np.float64

def leaf(a, dtype=f64): return bp.tensor(np.asarray(a, dtype), requires_grad=True)

# ---------------------------------------------------------------- deep graphs
def test_100k_op_chain_backward():
    "A chain of 100,000 ops backpropagates without RecursionError, with the right value and gradient."
    n = 100_000
    x, w = leaf(0.5), leaf(2.0)
    y = x
    for i in range(n):
        y = y + x if i % 2 else y * 1.0        # y = x + (n/2)·x
    y = y * w
    assert y.item() == pytest.approx((n // 2 + 1) * 0.5 * 2.0)
    y.backward()
    assert x.grad.item() == pytest.approx((n // 2 + 1) * 2.0)
    assert w.grad.item() == pytest.approx((n // 2 + 1) * 0.5)

def test_100k_op_chain_free_without_backward():
    "Dropping a 100,000-node graph that was never backpropagated does not overflow the C stack."
    x = leaf(1.0)
    y = x
    for _ in range(100_000): y = y * 1.0
    del y
    gc.collect()

def test_100k_chain_create_graph():
    "A long chain works with create_graph=True too (second derivative of x**2 chained 10,000 times through +0)."
    x = leaf(3.0)
    y = x * x
    for _ in range(10_000): y = y + 0.0
    (g,) = bp.autograd.grad(y, x, create_graph=True)
    assert g.item() == pytest.approx(6.0)
    (gg,) = bp.autograd.grad(g, x)
    assert gg.item() == pytest.approx(2.0)

# ---------------------------------------------------------------- memory
def _mlp_params(rng):
    return [leaf(rng.standard_normal((8, 16)) * 0.3), leaf(np.zeros(16)),
            leaf(rng.standard_normal((16, 4)) * 0.3), leaf(np.zeros(4))]

def _mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = bp.tanh(x @ w1 + b1)
    out = h @ w2 + b2
    d = out - y
    return (d * d).mean()

def test_repeated_backward_does_not_grow_memory():
    """200 forward+backward+SGD steps of a small MLP with gc disabled: no tensors or other gc-tracked objects
    accumulate between step 50 and step 200, and traced memory stays flat (small allowance: CPython's
    free lists fill up over the first ~1000 steps, ~32 KB here, and then plateau)."""
    rng = np.random.default_rng(0)
    params = _mlp_params(rng)
    x, y = bp.tensor(rng.standard_normal((32, 8))), bp.tensor(rng.standard_normal((32, 4)))
    def live():
        objs = gc.get_objects()
        return len(objs), sum(issubclass(type(o), bp.Tensor) for o in objs)   # type(): no proxy __class__ lookups
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()                       # graphs must be freed by reference counting alone
    tracemalloc.start()
    try:
        marks, counts = {}, {}
        for it in range(1, 201):
            loss = _mlp_loss(params, x, y)
            loss.backward()
            with bp.no_grad():
                for p in params:
                    p.sub_(p.grad * 0.01)        # an SGD step, in place, as a training loop would
                    p.grad = None
            del loss
            if it in (50, 200):
                marks[it] = tracemalloc.get_traced_memory()[0]
                counts[it] = live()
    finally:
        tracemalloc.stop()
        if was_enabled: gc.enable()
    assert counts[200][1] == counts[50][1], f"live Tensors went from {counts[50][1]} to {counts[200][1]}"
    assert counts[200][0] - counts[50][0] <= 10, f"gc-tracked objects went from {counts[50][0]} to {counts[200][0]}"
    growth = marks[200] - marks[50]
    assert growth < 160 * 1024, f"traced memory grew by {growth} bytes between step 50 and step 200"

def test_graph_nodes_freed_after_backward():
    "With gc disabled, backward frees the graph: weakrefs to intermediate tensors and their grad_fns die."
    rng = np.random.default_rng(1)
    params = _mlp_params(rng)
    x = bp.tensor(rng.standard_normal((4, 8)))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        w1, b1, w2, b2 = params
        h = bp.tanh(x @ w1 + b1)
        loss = (h @ w2 + b2).sum()
        rh, rfn, rloss_fn = weakref.ref(h), weakref.ref(h.grad_fn), weakref.ref(loss.grad_fn)
        del h
        assert rh() is not None and rfn() is not None        # still held by the graph
        loss.backward()
        assert rh() is None, "intermediate tensor kept alive after backward"
        assert rfn() is None, "intermediate grad_fn kept alive after backward"
        del loss
        assert rloss_fn() is None, "the root's grad_fn outlived the root"
    finally:
        if was_enabled: gc.enable()

def test_graph_freed_when_output_dropped_without_backward():
    "A graph nobody backpropagates is freed by reference counting when its output goes away."
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        x = leaf([1.0, 2.0])
        y = x * 2.0
        z = (y + 1.0).sum()
        ry, rfn = weakref.ref(y), weakref.ref(y.grad_fn)
        del y, z
        assert ry() is None and rfn() is None
    finally:
        if was_enabled: gc.enable()

# ---------------------------------------------------------------- backward errors
def test_backward_twice_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"(?i)second time.*retain_graph|retain_graph"):
        y.backward()

def test_backward_twice_through_intermediate_raises():
    "Backward into a freed part of the graph from a different root also raises."
    x = leaf([1.0, 2.0])
    h = x * x
    a, b = h.sum(), (h * 3.0).sum()
    a.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        b.backward()

def test_backward_twice_with_retain_graph_accumulates():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.array, 2 * 2 * np.array([1.0, 2.0]))

def test_nonscalar_backward_without_gradient_raises():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"(?i)scalar"):
        y.backward()
    y.backward(bp.tensor(np.array([1.0, 10.0])))
    np.testing.assert_allclose(x.grad.array, [2.0, 20.0])

def test_backward_gradient_shape_mismatch_names_shapes():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)|\(2,\).*\(3,\)"):
        y.backward(bp.tensor(np.ones(3)))

def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError):
        bp.tensor([1.0]).sum().backward()

def test_one_element_nonscalar_backward_allowed():
    "As PyTorch, an implicit gradient is created for any one-element output (shape (1,) or (1, 1))."
    x = leaf([[3.0]])
    (x * x).backward()
    np.testing.assert_allclose(x.grad.array, [[6.0]])

# ---------------------------------------------------------------- accumulation
def test_gradients_accumulate_like_pytorch():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()                     # 2x
    np.testing.assert_allclose(x.grad.array, [2.0, -4.0, 6.0])
    (x * 3.0).sum().backward()                   # + 3
    np.testing.assert_allclose(x.grad.array, [5.0, -1.0, 9.0])
    x.grad = None
    (x * x * x).sum().backward()                 # 3x^2
    np.testing.assert_allclose(x.grad.array, [3.0, 12.0, 27.0])
    x.grad.zero_()
    (x + x + x).sum().backward()                 # used three times in one graph
    np.testing.assert_allclose(x.grad.array, [3.0, 3.0, 3.0])

def test_diamond_graph_sums_paths():
    "x feeds two branches that rejoin: gradients along both paths add."
    x = leaf(2.0)
    a, b = x * 3.0, x * x
    (a * b).backward()                           # d(3x^3)/dx = 9x^2
    assert x.grad.item() == pytest.approx(36.0)

def test_non_leaf_grad_none_unless_retained():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    k = x * 3.0
    k.retain_grad()
    ((h * k).sum()).backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad.array, h.array)
    assert h.requires_grad and not h.is_leaf and x.is_leaf

def test_grad_dtype_matches_leaf_float32():
    x = bp.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    (x * 2.0).sum().backward()
    assert x.grad.dtype == np.float32

def test_inputs_not_requiring_grad_get_no_grad():
    x, c = leaf([1.0, 2.0]), bp.tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad.array, [3.0, 4.0])

# ---------------------------------------------------------------- grad aliasing
def test_leaf_grads_do_not_alias_each_other():
    "y = a + b hands the same upstream array to both; modifying a.grad in place must not change b.grad."
    a, b = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    (a + b).sum().backward()
    b_before = b.grad.array.copy()
    a.grad.array += 100.0
    np.testing.assert_array_equal(b.grad.array, b_before)
    with bp.no_grad(): a.grad.add_(1.0)
    np.testing.assert_array_equal(b.grad.array, b_before)
    assert not np.shares_memory(a.grad.array, b.grad.array)

def test_leaf_grad_does_not_alias_user_gradient():
    "The gradient passed to backward must not become (or share memory with) a leaf's .grad."
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    g = bp.tensor(np.array([1.0, 1.0]))
    y = a + b
    y.backward(g)
    a.grad.array += 7.0
    np.testing.assert_array_equal(g.array, [1.0, 1.0])
    np.testing.assert_array_equal(b.grad.array, [1.0, 1.0])

def test_leaf_root_grad_does_not_alias_user_gradient():
    "leaf.backward(g): the leaf's .grad must not be the user's `g` (PyTorch clones it)."
    c = leaf([5.0, 6.0])
    g2 = bp.tensor(np.array([2.0, 3.0]))
    c.backward(g2)
    c.grad.array += 1.0
    np.testing.assert_array_equal(g2.array, [2.0, 3.0])

def test_leaf_grad_does_not_alias_through_views():
    "Reshape/expand/sub pass views of the upstream gradient along; the leaf grads must still be independent."
    a, b = leaf(np.ones((2, 3))), leaf(np.ones(6))
    c = leaf(np.ones(3))
    y = a.reshape(6) - b + c.expand(2, 3).reshape(6)
    y.sum().backward()
    for t in (a, b, c):
        for u in (a, b, c):
            if t is not u: assert not np.shares_memory(t.grad.array, u.grad.array)
    a.grad.array[...] = 9.0
    np.testing.assert_array_equal(b.grad.array, -np.ones(6))
    np.testing.assert_array_equal(c.grad.array, 2 * np.ones(3))

def test_leaf_grad_does_not_alias_retained_grad():
    a = leaf([1.0, 2.0])
    h = a * 1.0
    h.retain_grad()
    k = h + 0.0
    k.sum().backward()
    a.grad.array += 5.0
    np.testing.assert_array_equal(h.grad.array, [1.0, 1.0])

def test_grad_modified_in_place_between_backwards():
    "Accumulating into a.grad in place must not corrupt an earlier snapshot held by the user."
    a = leaf([1.0, 2.0])
    (a * 2.0).sum().backward()
    snap = a.grad.array.copy()
    held = a.grad
    (a * 2.0).sum().backward()
    np.testing.assert_array_equal(a.grad.array, 2 * snap)
    np.testing.assert_array_equal(held.array, a.grad.array)   # PyTorch accumulates into the same tensor

# ---------------------------------------------------------------- grad modes
def test_no_grad_context_manager():
    x = leaf([1.0])
    with bp.no_grad():
        y = x * 2.0
        assert not bp.is_grad_enabled()
    assert bp.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

def test_enable_grad_inside_no_grad():
    x = leaf([1.0])
    with bp.no_grad():
        with bp.enable_grad():
            y = x * 2.0
            assert bp.is_grad_enabled()
        assert not bp.is_grad_enabled()
        z = x * 2.0
    assert y.requires_grad and not z.requires_grad

def test_no_grad_and_enable_grad_as_decorators():
    x = leaf([1.0])
    @bp.no_grad()
    def f(t): return t * 2.0
    @bp.enable_grad()
    def g(t): return t * 2.0
    assert not f(x).requires_grad
    with bp.no_grad():
        assert g(x).requires_grad
    assert f.__name__ == 'f'

def test_grad_mode_restored_after_exception():
    with pytest.raises(ZeroDivisionError):
        with bp.no_grad(): 1 / 0
    assert bp.is_grad_enabled()
    @bp.no_grad()
    def boom(): raise KeyError
    with pytest.raises(KeyError): boom()
    assert bp.is_grad_enabled()

def test_set_grad_enabled():
    try:
        bp.set_grad_enabled(False)
        assert not (leaf([1.0]) * 2.0).requires_grad
    finally:
        bp.set_grad_enabled(True)
    assert (leaf([1.0]) * 2.0).requires_grad

def test_no_grad_inside_backward_free_ops_and_grad_returned():
    "Ops under no_grad on a leaf that requires grad give constant results usable later."
    x = leaf([1.0, 2.0])
    with bp.no_grad(): c = x * 3.0
    (x * c).sum().backward()
    np.testing.assert_allclose(x.grad.array, [3.0, 6.0])

# ---------------------------------------------------------------- error messages
def _shape_err(fn):
    with pytest.raises((ValueError, IndexError, TypeError)) as ei: fn()
    return str(ei.value)

@pytest.mark.parametrize('rg', [False, True])
def test_add_shape_error_names_op_and_shapes(rg):
    a, b = bp.tensor(np.ones((2, 3))), bp.tensor(np.ones(4))
    if rg: a.requires_grad_()
    msg = _shape_err(lambda: a + b)
    assert 'add' in msg and '(2, 3)' in msg and '(4,)' in msg, msg

@pytest.mark.parametrize('rg', [False, True])
def test_mul_shape_error_names_op_and_shapes(rg):
    a, b = bp.tensor(np.ones((2, 3))), bp.tensor(np.ones((3, 2)))
    if rg: b.requires_grad_()
    msg = _shape_err(lambda: a * b)
    assert 'mul' in msg and '(2, 3)' in msg and '(3, 2)' in msg, msg

@pytest.mark.parametrize('rg', [False, True])
def test_matmul_shape_error_names_op_and_shapes(rg):
    a, b = bp.tensor(np.ones((2, 3))), bp.tensor(np.ones((4, 5)))
    if rg: a.requires_grad_()
    for f in (lambda: a @ b, lambda: bp.matmul(a, b)):
        msg = _shape_err(f)
        assert 'matmul' in msg and '(2, 3)' in msg and '(4, 5)' in msg, msg

def test_matmul_batch_shape_error():
    a, b = bp.tensor(np.ones((2, 3, 4))), bp.tensor(np.ones((5, 4, 2)))
    msg = _shape_err(lambda: a @ b)
    assert 'matmul' in msg and '(2, 3, 4)' in msg and '(5, 4, 2)' in msg, msg

def test_cat_shape_error_names_op_and_shapes():
    a, b = bp.tensor(np.ones((2, 3))), bp.tensor(np.ones((2, 4)))
    msg = _shape_err(lambda: bp.cat([a, b], dim=0))
    assert 'cat' in msg and '(2, 3)' in msg and '(2, 4)' in msg, msg
    msg = _shape_err(lambda: bp.cat([a, bp.tensor(np.ones(3))], dim=0))
    assert 'cat' in msg and '(2, 3)' in msg and '(3,)' in msg, msg

def test_shape_error_is_a_valueerror():
    assert issubclass(bp.ShapeError, ValueError)

# ---------------------------------------------------------------- tensor construction
@pytest.mark.parametrize('bad', ["abc", ["a", "b"], np.array(["1", "2"]), np.array([1.0, None], dtype=object),
                                 np.array([object()]), [1, "2"], {"a": 1}, None])
def test_tensor_refuses_non_numeric(bad):
    with pytest.raises(TypeError, match='tensor'):
        bp.tensor(bad)

def test_tensor_copies_input():
    a = np.array([1.0, 2.0])
    t = bp.tensor(a)
    a[0] = 100.0
    assert t.array[0] == 1.0

def test_tensor_dtype_inference_like_pytorch():
    assert bp.tensor([1.0, 2.0]).dtype == np.float32
    assert bp.tensor([1, 2]).dtype == np.int64
    assert bp.tensor(np.array([1.0])).dtype == np.float64
    assert bp.tensor([True]).dtype == np.bool_

def test_requires_grad_only_for_floats():
    with pytest.raises(RuntimeError):
        bp.tensor([1, 2], requires_grad=True)
