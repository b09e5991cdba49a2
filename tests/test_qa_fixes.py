"""Fixes of the QA findings in core: PyTorch's legacy `Tensor(2, 3)` constructor (was read as requires_grad=3),
`Tensor.backward(inputs=...)`, the bare `@no_grad` decorator, `item()`'s error type, and in-place shape changes."""
import numpy as np, pytest
import backprop as bp


def test_legacy_tensor_constructor_takes_sizes():
    assert bp.Tensor(2, 3).shape == (2, 3) and bp.Tensor(2, 3).dtype == np.float32
    assert bp.nn.Parameter(bp.Tensor(4, 3)).shape == (4, 3)
    assert bp.Tensor().shape == (0,)
    np.testing.assert_array_equal(bp.Tensor([1, 2]).array, np.array([1., 2.], np.float32))
    with pytest.raises(TypeError, match='requires_grad by keyword'): bp.Tensor([1.], True)


def test_backward_inputs_accumulates_only_there():
    x = bp.tensor([1., 2.], requires_grad=True); w = bp.tensor([3., 4.], requires_grad=True)
    (x * w).sum().backward(inputs=[x])
    np.testing.assert_array_equal(x.grad.array, [3., 4.]); assert w.grad is None


def test_bare_no_grad_decorator():
    @bp.no_grad
    def f(): return bp.is_grad_enabled()
    @bp.enable_grad
    def g(): return bp.is_grad_enabled()
    assert f() is False and bp.is_grad_enabled()
    with bp.no_grad(): assert g() is True


def test_item_error_is_runtime_error():
    with pytest.raises(RuntimeError, match='cannot be converted'): bp.zeros(3).item()


def test_squeeze_unsqueeze_t_in_place():
    x = bp.tensor([[1., 2., 3.]]); a = x.array
    assert x.squeeze_() is x and x.shape == (3,) and np.shares_memory(x.array, a)
    assert x.unsqueeze_(-1).shape == (3, 1) and x.t_().shape == (1, 3)
    w = bp.tensor([[1., 2.], [3., 4.]], dtype=np.float64, requires_grad=True)
    y = w * 2; y.unsqueeze_(0); (y * y).sum().backward()
    np.testing.assert_allclose(w.grad.array, 8 * w.array)
    with pytest.raises(RuntimeError, match='leaf Variable'): w.unsqueeze_(0)


def test_jvp_through_chained_ops_without_rules():
    "Forward mode falls back on the transposed VJP for an op with no JVP rule; two in a row must not free the graph."
    from backprop.core import Function
    class MyTanh(Function):
        def forward(self, x): return np.tanh(x)
        def backward(self, g): return g * (1 - self.out() ** 2),
    f = lambda x: MyTanh.apply(MyTanh.apply(x * 2)) * 3
    x, dx = bp.tensor([0.1, 0.2], dtype=np.float64), bp.tensor([1., -0.5], dtype=np.float64)
    _, t = bp.func.jvp(f, (x,), (dx,))
    e = 1e-6
    np.testing.assert_allclose(t.array, (f(x + e * dx) - f(x - e * dx)).array / (2 * e), rtol=1e-7)
