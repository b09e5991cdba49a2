"PyTorch oracle for GroupNorm and for half-precision normalisation (statistics accumulated in float32)."
import numpy as np
import pytest
from hypothesis import given, settings, assume, strategies as st

torch = pytest.importorskip("torch")
import torch.nn.functional as TF
import backprop.nn as nn
import backprop.nn.functional as F
from backprop.core import tensor, manual_seed

pytestmark = pytest.mark.torch
TOL = {np.float64: dict(rtol=1e-9, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-4)}   # float32: tiny groups cancel


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), g=st.integers(1, 4), cpg=st.integers(1, 3), spatial=st.lists(st.integers(1, 4), max_size=2).map(tuple),
       affine=st.booleans(), bias=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 99))
def test_group_norm_matches_torch(n, g, cpg, spatial, affine, bias, dtype, seed):
    C = g * cpg
    assume(cpg * int(np.prod(spatial)) > 1)                       # a group of one value has variance 0: both give 0·rsqrt(eps)
    rng = np.random.default_rng(seed)
    ours, theirs = nn.GroupNorm(g, C, affine=affine, bias=bias), torch.nn.GroupNorm(g, C, affine=affine, bias=bias)
    assert repr(ours) == repr(theirs)
    if affine:
        with torch.no_grad():
            for p in theirs.parameters(): p.normal_()
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    if dtype == np.float64: ours.double(); theirs.double()
    x = (rng.standard_normal((n, C) + spatial) * 3 + 1).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    xb, xt = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yb, yt = ours(xb), theirs(xt)
    yb.backward(tensor(gy)); yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(yb.array, yt.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(xb.grad.array, xt.grad.numpy(), **TOL[dtype])
    for p, q in zip(ours.parameters(), theirs.parameters()): np.testing.assert_allclose(p.grad.array, q.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(F.group_norm(tensor(x), g).array, TF.group_norm(torch.tensor(x), g).numpy(), **TOL[dtype])


@pytest.mark.parametrize("make", [lambda lib: lib.BatchNorm2d(3), lambda lib: lib.GroupNorm(3, 3), lambda lib: lib.LayerNorm((3, 32, 32))],
                         ids=['BatchNorm2d', 'GroupNorm', 'LayerNorm'])
def test_half_precision_norms_match_torch(make):
    "float16 input of 32·3·32·32 values, far from 0: finite, and as PyTorch's float16 result (which accumulates in float32)."
    x = (np.random.default_rng(0).standard_normal((32, 3, 32, 32)) * 40 + 300).astype(np.float16)
    ours, theirs = make(nn).half(), make(torch.nn).half()
    xb, xt = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yb, yt = ours(xb), theirs(xt)
    assert yb.dtype == np.float16 and np.isfinite(yb.array).all()
    np.testing.assert_allclose(yb.array.astype(np.float32), yt.detach().numpy().astype(np.float32), atol=4e-3, rtol=4e-3)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float16)
    yb.backward(tensor(g)); yt.backward(torch.tensor(g))
    assert xb.grad.dtype == np.float16 and np.isfinite(xb.grad.array).all()
    np.testing.assert_allclose(xb.grad.array.astype(np.float32), xt.grad.numpy().astype(np.float32), atol=2e-3, rtol=2e-2)
    if isinstance(ours, nn.BatchNorm2d):
        np.testing.assert_allclose(ours.running_mean.array.astype(np.float32), theirs.running_mean.numpy().astype(np.float32), rtol=1e-3)


def test_norm_layers_take_device_like_cpu_only_torch():
    for make in (lambda d: nn.BatchNorm1d(3, device=d), lambda d: nn.LayerNorm(3, device=d), lambda d: nn.GroupNorm(1, 3, device=d)):
        make('cpu')
        with pytest.raises(RuntimeError, match='Torch not compiled with CUDA enabled'): make('cuda')


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), hw=st.tuples(st.integers(2, 4), st.integers(1, 4)), affine=st.booleans(), batched=st.booleans(),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 99))
def test_instance_norm2d_matches_torch(n, c, hw, affine, batched, dtype, seed):
    ours, theirs = nn.InstanceNorm2d(c, affine=affine), torch.nn.InstanceNorm2d(c, affine=affine)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(seed)
    if affine:
        with torch.no_grad():
            for p in theirs.parameters(): p.normal_()
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    if dtype == np.float64: ours.double(); theirs.double()
    x = (rng.standard_normal(((n,) if batched else ()) + (c,) + hw) * 2 + 1).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    xb, xt = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yb, yt = ours(xb), theirs(xt)
    yb.backward(tensor(g)); yt.backward(torch.tensor(g))
    np.testing.assert_allclose(yb.array, yt.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(xb.grad.array, xt.grad.numpy(), **TOL[dtype])
    for p, q in zip(ours.parameters(), theirs.parameters()): np.testing.assert_allclose(p.grad.array, q.grad.numpy(), **TOL[dtype])
