"PyTorch oracle for Conv1d, ConvTranspose2d, MaxPool1d, AdaptiveMaxPool2d, unfold/fold, pad, interpolate/Upsample: outputs, input and parameter gradients from shared weights over hypothesis-chosen shapes."
import numpy as np
import pytest
from hypothesis import given, settings, assume, strategies as st

torch = pytest.importorskip("torch")
import torch.nn.functional as TF
import backprop.nn as nn
import backprop.nn.functional as F
from backprop.core import tensor, manual_seed

pytestmark = pytest.mark.torch
TOL = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=1e-4, atol=1e-5)}
dtypes = st.sampled_from([np.float64, np.float32])


def compare(f_bp, f_t, arrays, dtype, params=((), ())):
    "Same inputs and cotangent through both libraries; compare output, input grads and parameter grads."
    xb = [tensor(a, requires_grad=True) for a in arrays]
    xt = [torch.tensor(a, requires_grad=True) for a in arrays]
    yb, yt = f_bp(*xb), f_t(*xt)
    assert tuple(yb.shape) == tuple(yt.shape)
    g = np.random.default_rng(0).standard_normal(yb.shape).astype(dtype)
    yb.backward(tensor(g)); yt.backward(torch.tensor(g))
    np.testing.assert_allclose(yb.array, yt.detach().numpy(), **TOL[dtype])
    for a, b in zip(xb, xt): np.testing.assert_allclose(a.grad.array, b.grad.numpy(), **TOL[dtype])
    for p, q in zip(*params): np.testing.assert_allclose(p.grad.array, q.grad.numpy(), **TOL[dtype])


def shared(ours, theirs, dtype):
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    if dtype == np.float64: ours.double(); theirs.double()
    return list(ours.parameters()), list(theirs.parameters())


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), cin=st.integers(1, 4), cout=st.integers(1, 4), L=st.integers(1, 12), k=st.integers(1, 4),
       s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2), bias=st.booleans(), batched=st.booleans(), dtype=dtypes, seed=st.integers(0, 99))
def test_conv1d_matches_torch(n, cin, cout, L, k, s, p, d, bias, batched, dtype, seed):
    assume(L + 2 * p >= d * (k - 1) + 1)
    manual_seed(seed)
    ours, theirs = nn.Conv1d(cin, cout, k, s, p, d, bias=bias), torch.nn.Conv1d(cin, cout, k, s, p, d, bias=bias)
    assert repr(ours) == repr(theirs)
    params = shared(ours, theirs, dtype)
    x = np.random.default_rng(seed).standard_normal((n, cin, L) if batched else (cin, L)).astype(dtype)
    compare(ours, theirs, [x], dtype, params)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), cin=st.integers(1, 3), cout=st.integers(1, 3), hw=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       p=st.tuples(st.integers(0, 2), st.integers(0, 2)), d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       op=st.tuples(st.integers(0, 2), st.integers(0, 2)), bias=st.booleans(), dtype=dtypes, seed=st.integers(0, 99))
def test_conv_transpose2d_matches_torch(n, cin, cout, hw, k, s, p, d, op, bias, dtype, seed):
    op = tuple(min(o, max(si, di) - 1) for o, si, di in zip(op, s, d))
    out = [(L - 1) * si - 2 * pi + di * (ki - 1) + oi + 1 for L, si, pi, di, ki, oi in zip(hw, s, p, d, k, op)]
    assume(min(out) > 0)
    manual_seed(seed)
    ours = nn.ConvTranspose2d(cin, cout, k, s, p, op, bias=bias, dilation=d)
    theirs = torch.nn.ConvTranspose2d(cin, cout, k, s, p, op, bias=bias, dilation=d)
    assert repr(ours) == repr(theirs)
    params = shared(ours, theirs, dtype)
    x = np.random.default_rng(seed).standard_normal((n, cin) + hw).astype(dtype)
    compare(ours, theirs, [x], dtype, params)


def test_conv_transpose2d_output_size_and_init_match_torch():
    manual_seed(0); torch.manual_seed(0)
    ours, theirs = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float32)
    params = shared(ours, theirs, np.float32)
    for size in [(7, 7), (8, 8), (7, 8)]:
        assert ours(tensor(x), output_size=size).shape == tuple(theirs(torch.tensor(x), output_size=size).shape)
    big_o, big_t = nn.ConvTranspose2d(16, 8, 3), torch.nn.ConvTranspose2d(16, 8, 3)     # fan_in = out_channels·k·k, as PyTorch
    np.testing.assert_allclose(big_o.weight.array.std(), big_t.weight.detach().numpy().std(), rtol=0.1)
    assert np.abs(big_o.weight.array).max() <= 1 / np.sqrt(8 * 9)


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 12)), k=st.integers(1, 4), s=st.integers(1, 3),
       p=st.integers(0, 2), d=st.integers(1, 2), ceil=st.booleans(), dtype=dtypes, seed=st.integers(0, 99))
def test_max_pool1d_matches_torch(shape, k, s, p, d, ceil, dtype, seed):
    assume(p <= k // 2 and shape[-1] + 2 * p >= d * (k - 1) + 1)
    out = TF.max_pool1d(torch.zeros(1, 1, shape[-1]), k, s, p, d, ceil).shape[-1]
    assume(all(any(0 <= i * s - p + j * d < shape[-1] for j in range(k)) for i in range(out)))   # an all-padding window crashes PyTorch's backward
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    x = np.round(x * 2) / 2                                                           # many ties
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    compare(nn.MaxPool1d(**kw), torch.nn.MaxPool1d(**kw), [x], dtype)
    (_, i1), (_, i2) = F.max_pool1d(tensor(x), return_indices=True, **kw), TF.max_pool1d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(i1.array, i2.numpy())
    assert repr(nn.MaxPool1d(**kw)) == repr(torch.nn.MaxPool1d(**kw))


@settings(max_examples=30, deadline=None)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
       out=st.tuples(st.integers(1, 10), st.one_of(st.none(), st.integers(1, 10))), batched=st.booleans(), dtype=dtypes, seed=st.integers(0, 99))
def test_adaptive_max_pool2d_matches_torch(shape, out, batched, dtype, seed):
    x = np.random.default_rng(seed).standard_normal(shape if batched else shape[1:]).astype(dtype)
    compare(nn.AdaptiveMaxPool2d(out), torch.nn.AdaptiveMaxPool2d(out), [x], dtype)
    np.testing.assert_array_equal(F.adaptive_max_pool2d(tensor(x), out, True)[1].array, TF.adaptive_max_pool2d(torch.tensor(x), out, True)[1].numpy())


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 7), st.integers(1, 7)),
       k=st.tuples(st.integers(1, 3), st.integers(1, 3)), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       p=st.tuples(st.integers(0, 1), st.integers(0, 1)), d=st.tuples(st.integers(1, 2), st.integers(1, 2)), dtype=dtypes, seed=st.integers(0, 99))
def test_unfold_fold_match_torch(shape, k, s, p, d, dtype, seed):
    assume(all(L + 2 * pi >= di * (ki - 1) + 1 for L, pi, di, ki in zip(shape[2:], p, d, k)))
    kw = dict(kernel_size=k, dilation=d, padding=p, stride=s)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    compare(lambda t: F.unfold(t, **kw), lambda t: TF.unfold(t, **kw), [x], dtype)
    c = np.random.default_rng(seed + 1).standard_normal(TF.unfold(torch.tensor(x), **kw).shape).astype(dtype)
    compare(lambda t: F.fold(t, shape[2:], **kw), lambda t: TF.fold(t, shape[2:], **kw), [c], dtype)


@settings(max_examples=40, deadline=None)
@given(mode=st.sampled_from(['constant', 'reflect', 'replicate', 'circular']), nd=st.integers(1, 3), batched=st.booleans(),
       pads=st.lists(st.integers(-1, 3), min_size=6, max_size=6), value=st.sampled_from([0., 1.5]), dtype=dtypes, seed=st.integers(0, 99))
def test_pad_matches_torch(mode, nd, batched, pads, value, dtype, seed):
    rng = np.random.default_rng(seed)
    spatial = tuple(int(v) for v in rng.integers(2, 6, nd))
    shape = ((2, 3) if batched else (3,)) + spatial
    pad = tuple(pads[:2 * nd])
    if mode != 'constant':
        pad = tuple(max(0, min(q, spatial[::-1][i // 2] - 1)) for i, q in enumerate(pad))    # reflect needs pad < size
        value = 0.
    x = rng.standard_normal(shape).astype(dtype)
    kw = dict(mode=mode) if mode != 'constant' else dict(value=value)
    compare(lambda t: F.pad(t, pad, **kw), lambda t: TF.pad(t, pad, **kw), [x], dtype)


size = st.integers(1, 9)
@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from(['nearest', 'bilinear', 'linear', 'trilinear']), how=st.sampled_from(['size', 'scale', 'recompute']),
       align=st.sampled_from([None, False, True]), data=st.data(), dtype=dtypes, seed=st.integers(0, 99))
def test_interpolate_matches_torch(mode, how, align, data, dtype, seed):
    nsp = {'linear': 1, 'bilinear': 2, 'trilinear': 3}.get(mode) or data.draw(st.integers(1, 3))
    spatial = tuple(data.draw(size) for _ in range(nsp))
    if mode == 'nearest': align = None
    kw = dict(mode=mode, align_corners=align)
    if how == 'size': kw['size'] = tuple(data.draw(size) for _ in range(nsp))
    else:
        kw['scale_factor'] = tuple(data.draw(st.sampled_from([0.5, 0.7, 1., 1.3, 1.7, 2., 2.5, 3.])) for _ in range(nsp))
        assume(all(int(l * f) >= 1 for l, f in zip(spatial, kw['scale_factor'])))
        if how == 'recompute': kw['recompute_scale_factor'] = True
    x = np.random.default_rng(seed).standard_normal((2, 2) + spatial).astype(dtype)
    compare(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x], dtype)
    if nsp == 2 or mode == 'nearest':
        up_kw = {k: v for k, v in kw.items() if k != 'recompute_scale_factor'}
        ours, theirs = nn.Upsample(**up_kw), torch.nn.Upsample(**up_kw)
        compare(ours, theirs, [x], dtype)
        if how == 'size' or len(set(kw['scale_factor'])) == 1: assert repr(ours) == repr(theirs)


def test_upsample_scalar_factor_repr_and_errors_match_torch():
    assert repr(nn.Upsample(scale_factor=2)) == repr(torch.nn.Upsample(scale_factor=2))
    assert repr(nn.Upsample(size=(3, 4), mode='bilinear', align_corners=True)) == repr(torch.nn.Upsample(size=(3, 4), mode='bilinear', align_corners=True))
    x = np.zeros((1, 1, 3, 3), np.float32)
    for kw in [dict(scale_factor=2, align_corners=True), dict(size=2, scale_factor=2), dict()]:
        with pytest.raises(ValueError): F.interpolate(tensor(x), **kw)
        with pytest.raises(ValueError): TF.interpolate(torch.tensor(x), **kw)


def test_device_arguments_like_cpu_only_torch():
    for make in (lambda dev: nn.Conv1d(2, 3, 3, device=dev), lambda dev: nn.ConvTranspose2d(2, 3, 3, device=dev),
                 lambda dev: nn.Conv2d(2, 3, 3, device=dev), lambda dev: nn.Linear(2, 3, device=dev)):
        make('cpu'); make(None)
        with pytest.raises(RuntimeError, match='Torch not compiled with CUDA enabled'): make('cuda')


def test_unfold_fold_modules_match_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5))
    ours, theirs = nn.Unfold((2, 3), padding=1, stride=(2, 1)), torch.nn.Unfold((2, 3), padding=1, stride=(2, 1))
    assert repr(ours) == repr(theirs)
    compare(ours, theirs, [x], np.float64)
    c = np.random.default_rng(1).standard_normal(theirs(torch.tensor(x)).shape)
    ours, theirs = nn.Fold((6, 5), (2, 3), padding=1, stride=(2, 1)), torch.nn.Fold((6, 5), (2, 3), padding=1, stride=(2, 1))
    assert repr(ours) == repr(theirs)
    compare(ours, theirs, [c], np.float64)


@settings(max_examples=20, deadline=None)
@given(lead=st.lists(st.integers(1, 3), max_size=2).map(tuple), c=st.integers(1, 3), r=st.integers(1, 3), hw=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       dtype=dtypes, seed=st.integers(0, 99))
def test_pixel_shuffle_and_adaptive_avg_pool1d_match_torch(lead, c, r, hw, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(lead + (c * r * r,) + hw).astype(dtype)
    compare(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), [x], dtype)
    y = rng.standard_normal(lead + (c, hw[0] * r, hw[1] * r)).astype(dtype)
    compare(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), [y], dtype)
    z = rng.standard_normal((2, c, hw[0] * 3)).astype(dtype)
    for o in (1, hw[1], hw[0] * 3 + 1):
        compare(nn.AdaptiveAvgPool1d(o), torch.nn.AdaptiveAvgPool1d(o), [z], dtype)
        assert repr(nn.AdaptiveAvgPool1d(o)) == repr(torch.nn.AdaptiveAvgPool1d(o))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 2), cin=st.integers(1, 3), cout=st.integers(1, 3), L=st.integers(1, 6), k=st.integers(1, 4), s=st.integers(1, 3),
       p=st.integers(0, 2), d=st.integers(1, 2), op=st.integers(0, 2), bias=st.booleans(), dtype=dtypes, seed=st.integers(0, 99))
def test_conv_transpose1d_matches_torch(n, cin, cout, L, k, s, p, d, op, bias, dtype, seed):
    op = min(op, max(s, d) - 1)
    assume((L - 1) * s - 2 * p + d * (k - 1) + op + 1 > 0)
    manual_seed(seed)
    ours = nn.ConvTranspose1d(cin, cout, k, s, p, op, bias=bias, dilation=d)
    theirs = torch.nn.ConvTranspose1d(cin, cout, k, s, p, op, bias=bias, dilation=d)
    assert repr(ours) == repr(theirs)
    params = shared(ours, theirs, dtype)
    compare(ours, theirs, [np.random.default_rng(seed).standard_normal((n, cin, L)).astype(dtype)], dtype, params)
