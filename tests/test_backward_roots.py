"""Regression: a tensor passed twice as a root of one backward (as `gradgradcheck` does when a VJP returns the
same gradient object for two inputs, e.g. through `a + b`) is one node, not two: its inputs still get gradients."""
import numpy as np
import backprop as bp
from backprop.core import run_backward


def test_repeated_root_gets_gradients():
    a = bp.tensor(np.full(2, 0.3), requires_grad=True); b = bp.tensor(np.full(2, 0.2), requires_grad=True)
    ga, gb = run_backward([(a + b).tanh()], [bp.ones(2, dtype=np.float64)], retain_graph=True, create_graph=True, inputs=[a, b])
    assert ga is gb                                  # Add's VJP hands the same tensor to both inputs
    w0, w1 = bp.tensor([1., 2.], dtype=np.float64), bp.tensor([0.5, 1.], dtype=np.float64)
    da, db = run_backward([ga, gb], [w0, w1], inputs=[a, b])
    t = np.tanh(0.5)
    expected = (w0.array + w1.array) * -2 * t * (1 - t * t)    # d/dx of tanh'(x) = -2 tanh (1 - tanh²)
    np.testing.assert_allclose(da.array, expected, rtol=1e-12)
    np.testing.assert_allclose(db.array, expected, rtol=1e-12)


def test_gradgradcheck_through_add():
    a = bp.tensor(np.full(3, 0.3), requires_grad=True); b = bp.tensor(np.full(3, 0.2), requires_grad=True)
    assert bp.gradgradcheck(lambda a, b: (a + b) ** 3, (a, b))
    assert bp.gradgradcheck(lambda a, b: (a + b).tanh(), (a, b))
