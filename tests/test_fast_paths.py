"""The first-order fast paths of session 4 (issue 12) give what the general paths give.

- a leaf adopts its first gradient only when no one else can see that array: not when a rule returns the same array
  for two inputs (two leaves, or a leaf and an inner node), and not the incoming gradient;
- `cross_entropy`'s all-valid-targets path (min/max check, no class weights, `ignore_index` outside the classes) gives
  the same loss and gradient as the general path, which builds the validity mask;
- `linear` on 1-d, 2-d and 3-d inputs (2-d skips folding and unfolding the leading dims)."""
import itertools, numpy as np, pytest
import backprop as bp
import backprop.nn.functional as F
from backprop.core import Function, tensor_ns

class Twice(Function):
    "y = a + b, whose VJP hands one fresh array to both inputs (a rule may legitimately do that)."
    def forward(self, a, b): return a + b
    def backward(self, g, xp=tensor_ns):
        h = g * 1                                   # fresh: no base, not the incoming gradient
        return h, h

def test_one_array_for_two_leaves_is_not_shared():
    a, b = (bp.tensor(np.ones(3, np.float32), requires_grad=True) for _ in range(2))
    Twice.apply(a, b).sum().backward()
    assert not np.shares_memory(a.grad.array, b.grad.array)
    a.grad.array += 5
    np.testing.assert_array_equal(b.grad.array, np.ones(3))

@pytest.mark.parametrize('order', list(itertools.permutations(range(3))))
def test_one_array_for_a_leaf_and_an_inner_node_is_not_shared(order):
    "`a` gets a second gradient (added in place) while the inner node still waits to read the array `a` was handed."
    a, c = (bp.tensor(np.ones(3, np.float32), requires_grad=True) for _ in range(2))
    inner = c * 2                                  # an inner node with two consumers: it runs after both
    terms = [Twice.apply(a, inner) * 3, a * 1, inner * 5]
    sum((terms[i] for i in order[1:]), terms[order[0]]).sum().backward()
    np.testing.assert_array_equal(a.grad.array, np.full(3, 4.0))
    np.testing.assert_array_equal(c.grad.array, np.full(3, 16.0))

def test_leaf_never_adopts_the_incoming_gradient():
    a = bp.tensor(np.ones(3, np.float32), requires_grad=True)
    h = a * 1.0
    h.retain_grad()
    (h + 0.0).sum().backward()
    a.grad.array += 1
    np.testing.assert_array_equal(h.grad.array, np.ones(3))

@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
@pytest.mark.parametrize('shape', [(6, 4), (4,), (3, 4, 5)])
def test_cross_entropy_fast_path_matches_general_path(reduction, shape):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(shape).astype(np.float32)
    C = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else shape[:1] + shape[2:]
    y = bp.tensor(rng.integers(0, C, tshape).astype(np.int64))
    outs = []
    for kw in ({}, {'weight': bp.ones(C)}, {'ignore_index': C - 1 if C > 1 else 0}):   # fast path, then two general ones
        if 'ignore_index' in kw and (y.array == kw['ignore_index']).any(): continue     # then it changes the loss
        zt = bp.tensor(z, requires_grad=True)
        loss = F.cross_entropy(zt, y, reduction=reduction, **kw)
        loss.sum().backward()
        outs.append((loss.array, zt.grad.array))
    assert len(outs) >= 2
    for l, g in outs[1:]:
        np.testing.assert_allclose(l, outs[0][0], rtol=1e-6)
        np.testing.assert_allclose(g, outs[0][1], rtol=1e-6, atol=1e-7)

def test_cross_entropy_fast_path_still_refuses_bad_targets():
    z = bp.zeros(4, 3)
    for bad in ([0, 1, 2, 3], [0, -1, 2, 1]):
        with pytest.raises(IndexError, match='out of bounds for 3 classes'): F.cross_entropy(z, bp.tensor(bad))

@pytest.mark.parametrize('lead', [(), (5,), (2, 5)])
def test_linear_any_leading_dims(lead):
    rng = np.random.default_rng(1)
    x = bp.tensor(rng.standard_normal(lead + (4,)).astype(np.float32), requires_grad=True)
    W, b = (bp.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in ((3, 4), (3,)))
    y = F.linear(x, W, b)
    assert y.shape == lead + (3,)
    np.testing.assert_allclose(y.array, x.array @ W.array.T + b.array, rtol=1e-6)
    y.sum().backward()
    g = np.ones(lead + (3,), np.float32)
    np.testing.assert_allclose(x.grad.array, g @ W.array, rtol=1e-6)
    np.testing.assert_allclose(W.grad.array, g.reshape(-1, 3).T @ x.array.reshape(-1, 4), rtol=1e-5)
    np.testing.assert_allclose(b.grad.array, g.reshape(-1, 3).sum(0), rtol=1e-6)

def test_gradient_passed_through_unchanged_is_not_adopted():
    "Sub hands its incoming gradient to `a` as it is; that array is also the user's, or another node's."
    a, b = (bp.tensor(np.ones(3, np.float32), requires_grad=True) for _ in range(2))
    c = bp.tensor(np.ones(3, np.float32))
    g = bp.tensor(np.full(3, 2.0, np.float32))
    (a - c).backward(g)                            # the root's gradient is the user's tensor
    a.grad.array += 1
    np.testing.assert_array_equal(g.array, np.full(3, 2.0))
    a.grad = None
    ((a - c) + (b - c)).sum().backward()           # Add hands one array to both Subs, each hands it on to a leaf
    a.grad.array += 1
    np.testing.assert_array_equal(b.grad.array, np.ones(3))
