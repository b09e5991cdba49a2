"PyTorch oracle for backprop.nn.utils: total norms, norm and value clipping, and parameter vectors equal torch.nn.utils'."
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn import utils as TU
from backprop.nn import utils as BU
from backprop.core import tensor

pytestmark = pytest.mark.torch
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-6, atol=1e-7)}
SHAPES = [(3, 4), (4,), (), (2, 1, 5)]


def params(dtype, seed, scale=1.0, with_none=True, special=None):
    "The same parameters-with-gradients in torch and backprop (the last one without a gradient)."
    rng = np.random.default_rng(seed)
    gs = [(rng.standard_normal(s) * scale).astype(dtype) for s in SHAPES]
    if special is not None: gs[0].flat[1] = special
    tp, bp_ = [], []
    for g in gs:
        t = torch.zeros(g.shape, dtype=torch.float64 if dtype == np.float64 else torch.float32, requires_grad=True)
        t.grad = torch.tensor(g.copy())
        b = tensor(np.zeros(g.shape, dtype), requires_grad=True); b.grad = tensor(g.copy())
        tp.append(t); bp_.append(b)
    if with_none:
        tp.append(torch.zeros(2, requires_grad=True)); bp_.append(tensor(np.zeros(2, dtype), requires_grad=True))
    return tp, bp_


def same_grads(tp, bp_, dtype):
    for t, b in zip(tp, bp_):
        assert (t.grad is None) == (b.grad is None)
        if t.grad is not None:
            assert b.grad.dtype == dtype
            np.testing.assert_allclose(b.grad.array, t.grad.numpy(), **TOL[dtype], equal_nan=True)


@pytest.mark.parametrize('dtype', [np.float64, np.float32])
@pytest.mark.parametrize('norm_type', [2.0, 1.0, float('inf'), 'inf', 3.5, 0.5, 0])
@pytest.mark.parametrize('max_norm', [0.1, 1.0, 1e3])
def test_clip_grad_norm(dtype, norm_type, max_norm):
    for seed in range(3):
        tp, bp_ = params(dtype, seed, scale=[0.01, 1., 10.][seed])
        tn, bn = TU.clip_grad_norm_(tp, max_norm, norm_type), BU.clip_grad_norm_(bp_, max_norm, norm_type)
        assert bn.shape == () and bn.dtype == dtype
        np.testing.assert_allclose(bn.item(), tn.item(), **TOL[dtype])
        same_grads(tp, bp_, dtype)


@pytest.mark.parametrize('dtype', [np.float64, np.float32])
@pytest.mark.parametrize('norm_type', [2.0, 1.0, float('inf')])
def test_total_norm_and_clip_with_norm(dtype, norm_type):
    tp, bp_ = params(dtype, 5)
    tn = TU.get_total_norm([p.grad for p in tp if p.grad is not None], norm_type)
    bn = BU.get_total_norm([p.grad for p in bp_ if p.grad is not None], norm_type)
    np.testing.assert_allclose(bn.item(), tn.item(), **TOL[dtype])
    TU.clip_grads_with_norm_(tp, 0.5, tn); BU.clip_grads_with_norm_(bp_, 0.5, bn)
    same_grads(tp, bp_, dtype)


@pytest.mark.parametrize('special', [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize('norm_type', [2.0, float('inf')])
def test_nonfinite(special, norm_type):
    tp, bp_ = params(np.float64, 1, special=special)
    with pytest.raises(RuntimeError, match='non-finite'): TU.clip_grad_norm_(tp, 1.0, norm_type, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match='non-finite'): BU.clip_grad_norm_(bp_, 1.0, norm_type, error_if_nonfinite=True)
    same_grads(tp, bp_, np.float64)                                   # an error leaves the gradients alone
    tn, bn = TU.clip_grad_norm_(tp, 1.0, norm_type), BU.clip_grad_norm_(bp_, 1.0, norm_type)
    np.testing.assert_equal(bn.item(), tn.item())
    same_grads(tp, bp_, np.float64)                                   # scaled by the non-finite norm, as torch


def test_single_tensor_and_empty():
    t = torch.zeros(3, requires_grad=True); t.grad = torch.tensor([3., 4., 12.])
    b = tensor([0., 0., 0.], requires_grad=True); b.grad = tensor([3., 4., 12.])
    np.testing.assert_allclose(BU.clip_grad_norm_(b, 1.).item(), TU.clip_grad_norm_(t, 1.).item())
    np.testing.assert_allclose(b.grad.array, t.grad.numpy(), rtol=1e-6)
    tn, bn = TU.clip_grad_norm_([torch.zeros(1, requires_grad=True)], 1.), BU.clip_grad_norm_([tensor([0.], requires_grad=True)], 1.)
    assert bn.item() == tn.item() == 0. and bn.dtype == np.float32
    tz, bz = params(np.float64, 0)
    for p in tz: p.grad = None if p.grad is None else torch.zeros_like(p.grad)
    for p in bz: p.grad = None if p.grad is None else tensor(np.zeros(p.shape))
    TU.clip_grad_norm_(tz, 1.); BU.clip_grad_norm_(bz, 1.)              # zero gradients: no 0/0
    same_grads(tz, bz, np.float64)


@pytest.mark.parametrize('dtype', [np.float64, np.float32])
@pytest.mark.parametrize('clip_value', [0.01, 0.5, 100.])
def test_clip_grad_value(dtype, clip_value):
    tp, bp_ = params(dtype, 3, special=np.nan)
    assert TU.clip_grad_value_(tp, clip_value) is None and BU.clip_grad_value_(bp_, clip_value) is None
    same_grads(tp, bp_, dtype)


def test_parameters_vector_round_trip():
    tp, bp_ = params(np.float64, 4, with_none=False)
    with torch.no_grad():
        for t, b in zip(tp, bp_): t.copy_(torch.tensor(np.random.default_rng(7).standard_normal(t.shape))); b.array[...] = t.numpy()
    tv, bv = TU.parameters_to_vector(tp), BU.parameters_to_vector(bp_)
    np.testing.assert_array_equal(bv.array, tv.detach().numpy())
    w = np.arange(bv.numel(), dtype=np.float64)
    (bv * tensor(w)).sum().backward(); (tv * torch.tensor(w)).sum().backward()
    for t, b in zip(tp, bp_): np.testing.assert_allclose(b.grad.array, t.grad.numpy())
    new = np.random.default_rng(9).standard_normal(bv.numel())
    TU.vector_to_parameters(torch.tensor(new), tp); BU.vector_to_parameters(tensor(new), bp_)
    for t, b in zip(tp, bp_): np.testing.assert_array_equal(b.array, t.detach().numpy())
