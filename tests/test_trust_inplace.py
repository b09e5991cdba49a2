"""Issue 10 items 1-3 and issue 9 item 4: the version counter, in-place ops on tensors in the graph, and the
in-place operators. Each silent case of the issue is a test here; where torch is installed, its behaviour is the
oracle (same error type, same gradient)."""
import numpy as np
import pytest
import backprop as bp
from backprop.core import tensor, no_grad, _bump

try: import torch
except ImportError: torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch (the oracle) is not installed")
MSG = 'modified by an inplace operation'


def test_saved_input_modified_in_place_raises():
    w, x = tensor([1., 2.], requires_grad=True), tensor([3., 4.])
    y = (w * x).sum()
    x.mul_(10)
    with pytest.raises(RuntimeError, match=MSG) as e: y.backward()
    assert 'is at version 1; expected version 0 instead' in str(e.value) and 'MulBackward' in str(e.value)


def test_leaf_changed_under_no_grad_between_passes():     # weight clipping / EMA between forward and backward
    W1, W2 = bp.randn(3, 4, requires_grad=True), bp.randn(4, 2, requires_grad=True)
    y = ((bp.randn(5, 3) @ W1).tanh() @ W2).sum()
    with no_grad(): W2.mul_(0.5)                          # W2 is read by the rule for the hidden layer's gradient
    with pytest.raises(RuntimeError, match=MSG): y.backward()


def test_optimizer_step_between_two_backwards():          # the GAN / multi-loss pattern
    lin = bp.nn.Linear(3, 3); head = bp.nn.Linear(3, 1)
    h = lin(bp.randn(4, 3)).tanh()
    out = head(h).sum()
    opt = bp.optim.SGD(head.parameters(), lr=0.1)
    out.backward(retain_graph=True)
    opt.step()                                            # modifies head.weight, which the graph saved
    with pytest.raises(RuntimeError, match=MSG): out.backward()


def test_saved_output_modified_in_place():
    x = tensor([0.5, 1.0], requires_grad=True)
    y = x.exp(); z = (y * 1).sum()
    with no_grad(): y.mul_(2)                             # exp's rule reads its output
    with pytest.raises(RuntimeError, match=MSG) as e: z.backward()
    assert 'output 0 of <ExpBackward>' in str(e.value)


def test_setitem_on_saved_input():
    w, x = tensor([1., 2., 3.], requires_grad=True), tensor([3., 4., 5.])
    y = (w * x).sum()
    x[1] = 100.
    with pytest.raises(RuntimeError, match=MSG): y.backward()


def test_write_through_detach_and_data():
    w, x = tensor([1., 2.], requires_grad=True), tensor([3., 4.])
    y = (w * x).sum(); x.detach().mul_(10)
    with pytest.raises(RuntimeError, match=MSG): y.backward()
    w2 = tensor([1., 2.], requires_grad=True); x2 = tensor([3., 4.], requires_grad=True)
    y = (w2 * x2).sum(); w2.data.mul_(10)                 # stricter than PyTorch, which silently gives 10x too much
    with pytest.raises(RuntimeError, match=MSG): y.backward()


def test_harmless_modifications_are_allowed():
    a, c = tensor([1., 2.], requires_grad=True), tensor([5., 5.])
    y = (a + c).sum(); c.add_(1); y.backward()            # Add reads no values
    np.testing.assert_array_equal(a.grad.array, [1., 1.])
    w, x = tensor([1., 2.], requires_grad=True), tensor([3., 4.])
    y = (w * x).sum()
    with no_grad(): w.mul_(3)                             # w is not read: only x's... x needs no grad
    y.backward(); np.testing.assert_array_equal(w.grad.array, [3., 4.])


def test_anomaly_mode_names_the_line():
    w, x = tensor([1., 2.], requires_grad=True), tensor([3., 4.])
    with bp.autograd.detect_anomaly():
        y = (w * x).sum()   # THE-LINE
        x.add_(1)
        with pytest.raises(RuntimeError, match=MSG) as e: y.backward()
    assert 'THE-LINE' in str(e.value) and 'test_trust_inplace.py' in str(e.value)


def test_leaf_requiring_grad_in_place_under_grad_mode():
    w = tensor([1., 2.], requires_grad=True)
    for f in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.zero_()):
        with pytest.raises(RuntimeError, match='a leaf Variable that requires grad is being used in an in-place operation'): f()
    with pytest.raises(RuntimeError, match='leaf Variable'):
        w += 1


def test_inplace_operators_keep_identity_and_train():
    bp.manual_seed(0)
    model = bp.nn.Linear(3, 1)
    X = bp.randn(64, 3); Y = X @ tensor([[1.], [-2.], [0.5]]) + 0.3
    params = list(model.parameters()); ids = [id(p) for p in params]
    def loss(): return ((model(X) - Y) ** 2).mean()
    first = loss().item()
    for _ in range(200):
        model.zero_grad(); loss().backward()
        with no_grad():
            for p in model.parameters(): p -= 0.1 * p.grad
    assert [id(p) for p in model.parameters()] == ids and all(p.is_leaf for p in model.parameters())
    assert loss().item() < first * 1e-3


def test_data_idioms():
    p = tensor([1., 2.], requires_grad=True); g = tensor([0.5, 0.5])
    p.data.add_(g, alpha=-2); np.testing.assert_array_equal(p.array, [0., 1.])
    p.data -= 1 * g; np.testing.assert_array_equal(p.array, [-0.5, 0.5])
    p.data.copy_(tensor([7., 8.])); np.testing.assert_array_equal(p.array, [7., 8.])
    p.data *= 2; p.data /= 4; np.testing.assert_array_equal(p.array, [3.5, 4.])
    assert p.is_leaf and p.requires_grad and p._version == 5


def test_inplace_dtype_rule():
    n = bp.arange(3)
    with pytest.raises(RuntimeError, match="can't be cast"): n += 0.5
    with pytest.raises(RuntimeError, match="can't be cast"): n /= 2
    n *= 2; np.testing.assert_array_equal(n.array, [0, 2, 4]); assert n.dtype == np.int64


def grads_bp(build):
    x = tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True); w = tensor(np.array([1.5, 0.5, -2.0]), requires_grad=True)
    build(bp, x, w).sum().backward()
    return x.grad.array, w.grad.array

def grads_torch(build):
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([1.5, 0.5, -2.0], dtype=torch.float64, requires_grad=True)
    build(torch, x, w).sum().backward()
    return x.grad.numpy(), w.grad.numpy()

def _h1(m, x, w): h = x * 2; h += w; h *= w; return h
def _h2(m, x, w): h = x * 1; h.mul_(h * 1); h.sub_(w, alpha=2); return h
def _h3(m, x, w): h = x + 0; h /= w; h.add_(3); return h * x
def _h4(m, x, w): h = m.zeros(3, dtype=x.dtype); h[1] = w[0] * 3; h[0:2] = x[:2]; return h * w
def _h5(m, x, w): h = x * w; h.relu_(); return h
def _h6(m, x, w): h = (x * 1).clone(); h.copy_(w * w); return h + x
def _h7(m, x, w): a = x * w; b = a * 2; a.add_(1); return a + b     # b's node routes to a's old history
def _h8(m, x, w): h = m.zeros(3, dtype=x.dtype); h.copy_(x); h.mul_(w); return h

@needs_torch
@pytest.mark.parametrize('build', [_h1, _h2, _h3, _h4, _h5, _h6, _h7, _h8])
def test_recorded_inplace_matches_torch(build):
    for got, want in zip(grads_bp(build), grads_torch(build)): np.testing.assert_allclose(got, want, rtol=1e-12)


def _e1(m, x, w): h = x.exp(); h.add_(1); return h          # exp's rule reads the output
def _e2(m, x, w): h = x * 1; y = h * w; h.mul_(2); return y   # Mul read h for w's gradient
def _e3(m, x, w): h = x.sigmoid(); h[0] = 0.; return h

@needs_torch
@pytest.mark.parametrize('build', [_e1, _e2, _e3])
def test_recorded_inplace_errors_like_torch(build):
    with pytest.raises(RuntimeError, match=MSG): grads_torch(build)
    with pytest.raises(RuntimeError, match=MSG): grads_bp(build)


def test_inplace_on_shared_storage_refused_in_graph():
    x = tensor([1., 2., 3., 4.], requires_grad=True)
    h = x * 1; v = h.reshape(2, 2)
    with pytest.raises(RuntimeError, match='shared with another tensor'): v.mul_(2)
    with no_grad(): v.mul_(2)                             # untracked, but bumps the shared counter
    assert h._version == v._version == 1


def test_bump_is_seen():
    w, x = tensor([1., 2.], requires_grad=True), tensor([3., 4.])
    y = (w * x).sum(); x.array[0] = 9; _bump(x)
    with pytest.raises(RuntimeError, match=MSG): y.backward()


def test_detached_alias_does_not_block_recording_on_its_base():
    x = tensor([1., -2., 3.], requires_grad=True); w = tensor([2., 2., 2.], requires_grad=True)
    h = x * 1; d = h.detach()                             # e.g. a diagnostics hook keeping the activation
    h += w; h.relu_()                                     # recorded on the base: fine
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [1., 0., 1.])
    np.testing.assert_array_equal(d.array, [3., 0., 5.])  # the alias sees the writes (same storage)
    with pytest.raises(RuntimeError, match='shared with another tensor'): d.add_(w)   # the alias itself can't record
