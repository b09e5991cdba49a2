"""Issue 10 items 4-5 (core parts) and issue 9's small divergences: integer shapes, int64 overflow, dtypes kept,
np.asarray of a 0-d tensor, float16 sums accumulated in float32 — each against PyTorch where installed."""
import numpy as np
import pytest
import backprop as bp
from backprop.core import tensor, as_tensor, zeros

try: import torch
except ImportError: torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch (the oracle) is not installed")


@pytest.mark.parametrize('shape', [(3.7, 2), (2.0, 3), ('2', 3)])
def test_shapes_must_be_integers(shape):
    with pytest.raises(TypeError): zeros(6).reshape(*shape)
    if torch is not None:
        with pytest.raises(TypeError): torch.zeros(6).reshape(*shape)

def test_integer_like_shapes_accepted():
    assert zeros(6).reshape(np.int64(2), tensor(3)).shape == (2, 3)
    assert zeros(6).reshape(-1, 2).shape == (3, 2)
    with pytest.raises(TypeError): zeros(2.5)
    with pytest.raises(TypeError): zeros(2, 3).expand(2.0, 3)

@pytest.mark.parametrize('v', [2**63, 2**64, -2**63 - 1, [1, 2**70]])
def test_int64_overflow_names_the_value(v):
    with pytest.raises(OverflowError, match=str(v if isinstance(v, int) else v[1])): tensor(v)
    with pytest.raises(OverflowError): as_tensor(v)

def test_int64_limits_fit():
    assert tensor(2**63 - 1).dtype == np.int64 and tensor(-2**63).item() == -2**63

@pytest.mark.parametrize('dt', [np.int32, np.int16, np.uint8, np.float16, np.float64])
def test_arrays_keep_their_dtype(dt):
    a = np.arange(3).astype(dt)
    assert tensor(a).dtype == dt and as_tensor(a).dtype == dt
    if torch is not None: assert torch.tensor(a).dtype == getattr(torch, np.dtype(dt).name)

def test_python_ints_are_int64():
    assert tensor([1, 2]).dtype == np.int64 and tensor(3).dtype == np.int64

def test_asarray_of_0d_tensor():
    t = tensor([1., 2.], requires_grad=True).sum()
    a = np.asarray(t.detach()); assert a.shape == () and a == 3
    assert np.asarray(tensor(2.5)).shape == ()
    assert float(np.asarray(tensor([1., 2.]).sum(), dtype=np.float64)) == 3.0

@needs_torch
def test_float16_sum_accumulates_in_float32():
    x = np.full(60_000, 1.0, np.float16)                 # float16 alone cannot count past 2048 by ones
    s = tensor(x).sum()
    assert s.dtype == np.float16
    assert float(s.item()) == float(torch.tensor(x).sum().item()) and float(s.item()) == 60000
    y = np.random.default_rng(0).standard_normal((64, 50)).astype(np.float16)
    np.testing.assert_array_equal(tensor(y).sum(1).array, torch.tensor(y).sum(1).numpy())
    t = tensor(y, requires_grad=True); t.sum().backward()
    assert t.grad.dtype == np.float16 and np.all(t.grad.array == 1)

def test_float64_stays_float64():
    x = tensor(np.ones(5), requires_grad=True)
    y = x.sum(); y.backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float64
