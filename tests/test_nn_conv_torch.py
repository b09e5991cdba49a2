"PyTorch oracle for backprop.nn.conv: forward, input gradient and parameter gradients agree over random configurations."
import math
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF
from backprop.core import tensor, manual_seed, ShapeError
from backprop.autograd import grad as bp_grad
from backprop.nn import conv as C

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    "Many tiny ops: torch's threads only add overhead (and much noise on a shared machine). Restored afterwards."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}


def to_torch(sd): return {k: torch.tensor(v.numpy()) for k, v in sd.items()}


def close(a, b, dtype, msg=''):
    np.testing.assert_allclose(np.asarray(a), b.detach().numpy() if isinstance(b, torch.Tensor) else b,
                               err_msg=msg, **TOL[dtype])


def run_both(ours, theirs, x, g, params=(), tparams=()):
    "Forward both, backward with cotangent g; compare output, input grad and param grads."
    xb, xt = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yb, yt = ours(xb), theirs(xt)
    assert yb.shape == tuple(yt.shape), (yb.shape, tuple(yt.shape))
    assert yb.dtype == x.dtype
    yb.backward(tensor(g.astype(x.dtype)))
    yt.backward(torch.tensor(g.astype(x.dtype)))
    return (yb.array, xb.grad.array, [p.grad.array for p in params]), (yt, xt.grad, [p.grad for p in tparams])


def conv_config(rng):
    "A random valid convolution configuration (kernel 1-5, stride 1-3, padding 0-2, dilation 1-2, non-square)."
    while True:
        kh, kw = rng.integers(1, 6, 2)
        sh, sw = rng.integers(1, 4, 2)
        ph, pw = rng.integers(0, 3, 2)
        dh, dw = rng.integers(1, 3, 2)
        H = int(dh * (kh - 1) + 1 - 2 * ph + rng.integers(0, 9))
        W = int(dw * (kw - 1) + 1 - 2 * pw + rng.integers(0, 9))
        if H >= 1 and W >= 1:
            return dict(kernel_size=(int(kh), int(kw)), stride=(int(sh), int(sw)), padding=(int(ph), int(pw)),
                        dilation=(int(dh), int(dw))), (H, W)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_module_matches_torch(dtype):
    rng = np.random.default_rng(0)
    for trial in range(120 if dtype == np.float64 else 40):
        cfg, (H, W) = conv_config(rng)
        N, Cin, Cout = (int(v) for v in rng.integers(1, 4, 3))
        bias = bool(rng.integers(0, 2)) or trial < 5
        ours = C.Conv2d(Cin, Cout, bias=bias, **cfg).to(dtype)
        theirs = torch.nn.Conv2d(Cin, Cout, bias=bias, **cfg).to(torch.float64 if dtype == np.float64 else torch.float32)
        theirs.load_state_dict(to_torch(ours.state_dict()))
        if trial % 2: ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})  # both ways
        if trial % 3 == 0: ours.eval(); theirs.eval()
        x = rng.standard_normal((N, Cin, H, W)).astype(dtype)
        ho = (H + 2 * cfg['padding'][0] - cfg['dilation'][0] * (cfg['kernel_size'][0] - 1) - 1) // cfg['stride'][0] + 1
        wo = (W + 2 * cfg['padding'][1] - cfg['dilation'][1] * (cfg['kernel_size'][1] - 1) - 1) // cfg['stride'][1] + 1
        g = rng.standard_normal((N, Cout, ho, wo))
        (y, gx, gp), (yt, gxt, gpt) = run_both(ours, theirs, x, g, list(ours.parameters()), list(theirs.parameters()))
        msg = f"trial {trial}: {cfg} N={N} Cin={Cin} Cout={Cout} HW={(H, W)}"
        close(y, yt, dtype, msg)
        close(gx, gxt, dtype, msg)
        for a, b in zip(gp, gpt): close(a, b, dtype, msg)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_functional_padding_modes_and_unbatched():
    rng = np.random.default_rng(1)
    for trial in range(30):
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        dh, dw = (int(v) for v in rng.integers(1, 3, 2))
        x = rng.standard_normal((int(rng.integers(1, 4)), int(rng.integers(9, 14)), int(rng.integers(9, 14))))
        w = rng.standard_normal((2, x.shape[0], kh, kw))
        pad = ['same', 'valid'][trial % 2]
        xb, wb = tensor(x, requires_grad=True), tensor(w, requires_grad=True)
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        yb, yt = C.conv2d(xb, wb, padding=pad, dilation=(dh, dw)), TF.conv2d(xt, wt, padding=pad, dilation=(dh, dw))
        close(yb.array, yt, np.float64)
        g = rng.standard_normal(yb.shape)
        yb.backward(g); yt.backward(torch.tensor(g))
        close(xb.grad.array, xt.grad, np.float64); close(wb.grad.array, wt.grad, np.float64)


def test_conv2d_double_backward_matches_torch():
    rng = np.random.default_rng(2)
    for trial in range(15):
        cfg, (H, W) = conv_config(rng)
        x, w, b = rng.standard_normal((2, 2, H, W)), rng.standard_normal((3, 2, *cfg['kernel_size'])), rng.standard_normal(3)
        xb, wb, bb = (tensor(a, requires_grad=True) for a in (x, w, b))
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        yb, yt = C.conv2d(xb, wb, bb, **{k: v for k, v in cfg.items() if k != 'kernel_size'}), \
                 TF.conv2d(xt, wt, bt, **{k: v for k, v in cfg.items() if k != 'kernel_size'})
        g = rng.standard_normal(yb.shape)
        gs_b = bp_grad((yb * tensor(g)).sum(), [xb, wb], create_graph=True)
        gs_t = torch.autograd.grad((yt * torch.tensor(g)).sum(), [xt, wt], create_graph=True)
        u, v = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
        sb = (gs_b[0] * tensor(u)).sum() + (gs_b[1] * gs_b[1] * tensor(v)).sum()
        st = (gs_t[0] * torch.tensor(u)).sum() + (gs_t[1] * gs_t[1] * torch.tensor(v)).sum()
        for a, t in zip(bp_grad(sb, [xb, wb]), torch.autograd.grad(st, [xt, wt])):
            close(a.array, t, np.float64, f"trial {trial}: {cfg}")


def pool_windows_all_real(L, k, s, p, d, out):
    "Does every window contain at least one real (non-padding) tap? (PyTorch's gradient is undefined otherwise.)"
    starts = np.arange(out) * s - p
    taps = starts[:, None] + np.arange(k) * d
    return bool(((taps >= 0) & (taps < L)).any(1).all())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool2d_matches_torch(dtype):
    rng = np.random.default_rng(3)
    n, trials = 0, 400 if dtype == np.float64 else 150
    for trial in range(trials):
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        dh, dw = (int(v) for v in rng.integers(1, 3, 2))
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        cm = bool(rng.integers(0, 2))
        H = int(dh * (kh - 1) + 1 - 2 * ph + rng.integers(0, 9))
        W = int(dw * (kw - 1) + 1 - 2 * pw + rng.integers(0, 9))
        if H < 1 or W < 1: continue
        N, Ch = (int(v) for v in rng.integers(1, 4, 2))
        x = rng.standard_normal((N, Ch, H, W)).astype(dtype)
        if trial % 3 == 0: x = np.maximum(x, 0)                       # many ties, as after a ReLU
        if trial % 7 == 0: x = np.round(x * 2) / 2                    # more ties, not only zeros
        args = dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), ceil_mode=cm)
        theirs = torch.nn.MaxPool2d(**args, return_indices=True)
        yt, it = theirs(torch.tensor(x))
        Ho, Wo = yt.shape[2:]
        if not (pool_windows_all_real(H, kh, sh, ph, dh, Ho) and pool_windows_all_real(W, kw, sw, pw, dw, Wo)): continue
        ours = C.MaxPool2d(**args)
        g = rng.standard_normal(yt.shape)
        (y, gx, _), (yt, gxt, _) = run_both(ours, lambda t: theirs(t)[0], x, g)
        msg = f"trial {trial}: {args} N={N} C={Ch} HW={(H, W)}"
        np.testing.assert_array_equal(y, yt.detach().numpy(), err_msg=msg)
        close(gx, gxt, dtype, msg)
        _, ib = C.max_pool2d(tensor(x), **args, return_indices=True)
        np.testing.assert_array_equal(ib.array, it.numpy(), err_msg=msg)
        n += 1
    assert n > trials // 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_avg_pool2d_matches_torch(dtype):
    rng = np.random.default_rng(4)
    n, trials = 0, 300 if dtype == np.float64 else 100
    for trial in range(trials):
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        H, W = int(kh - 2 * ph + rng.integers(0, 9)), int(kw - 2 * pw + rng.integers(0, 9))
        if H < 1 or W < 1: continue
        args = dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw), ceil_mode=bool(rng.integers(0, 2)),
                    count_include_pad=bool(rng.integers(0, 2)), divisor_override=[None, None, 3][trial % 3])
        N, Ch = (int(v) for v in rng.integers(1, 4, 2))
        x = rng.standard_normal((N, Ch, H, W)).astype(dtype)
        theirs, ours = torch.nn.AvgPool2d(**args), C.AvgPool2d(**args)
        Ho, Wo = theirs(torch.tensor(x)).shape[2:]
        g = rng.standard_normal((N, Ch, Ho, Wo))
        (y, gx, _), (yt, gxt, _) = run_both(ours, theirs, x, g)
        msg = f"trial {trial}: {args} N={N} C={Ch} HW={(H, W)}"
        close(y, yt, dtype, msg); close(gx, gxt, dtype, msg)
        n += 1
    assert n > trials // 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adaptive_avg_pool2d_matches_torch(dtype):
    rng = np.random.default_rng(5)
    for trial in range(100):
        H, W = (int(v) for v in rng.integers(1, 13, 2))
        out = [1, (int(rng.integers(1, H + 3)), int(rng.integers(1, W + 3))), (None, int(rng.integers(1, W + 1))),
               int(rng.integers(1, 8))][trial % 4]
        N, Ch = (int(v) for v in rng.integers(1, 4, 2))
        shape = (N, Ch, H, W) if trial % 5 else (Ch, H, W)            # unbatched too
        x = rng.standard_normal(shape).astype(dtype)
        theirs, ours = torch.nn.AdaptiveAvgPool2d(out), C.AdaptiveAvgPool2d(out)
        g = rng.standard_normal(tuple(theirs(torch.tensor(x)).shape))
        (y, gx, _), (yt, gxt, _) = run_both(ours, theirs, x, g)
        msg = f"trial {trial}: output_size={out} shape={shape}"
        close(y, yt, dtype, msg); close(gx, gxt, dtype, msg)


def test_too_small_inputs_raise_like_torch():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
    cases = [(lambda t: torch.nn.Conv2d(2, 3, (4, 2))(t), lambda t: C.Conv2d(2, 3, (4, 2))(t)),
             (lambda t: torch.nn.Conv2d(2, 3, 3, dilation=2)(t), lambda t: C.Conv2d(2, 3, 3, dilation=2)(t)),
             (lambda t: TF.max_pool2d(t, 4), lambda t: C.max_pool2d(t, 4)),
             (lambda t: TF.avg_pool2d(t, (4, 5)), lambda t: C.avg_pool2d(t, (4, 5)))]
    for theirs, ours in cases:
        with pytest.raises(RuntimeError): theirs(torch.tensor(x))
        with pytest.raises(ShapeError, match="output size would be"): ours(tensor(x))
    with pytest.raises(RuntimeError): torch.nn.Conv2d(3, 3, 1)(torch.tensor(x))
    with pytest.raises(ShapeError, match=r"Conv2d\(3, 3, kernel_size=\(1, 1\), stride=\(1, 1\)\): expected input of shape \(N, 3, H, W\)"):
        C.Conv2d(3, 3, 1)(tensor(x))


def test_reprs_match_torch():
    for ours, theirs in [(C.Conv2d(1, 8, 3), torch.nn.Conv2d(1, 8, 3)),
                         (C.Conv2d(2, 4, (3, 5), stride=2, padding=(1, 2), dilation=(2, 1), bias=False),
                          torch.nn.Conv2d(2, 4, (3, 5), stride=2, padding=(1, 2), dilation=(2, 1), bias=False)),
                         (C.Conv2d(2, 4, 3, padding='same'), torch.nn.Conv2d(2, 4, 3, padding='same')),
                         (C.MaxPool2d(2), torch.nn.MaxPool2d(2)),
                         (C.MaxPool2d((3, 2), 1, 1, ceil_mode=True), torch.nn.MaxPool2d((3, 2), 1, 1, ceil_mode=True)),
                         (C.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)),
                         (C.AdaptiveAvgPool2d((5, None)), torch.nn.AdaptiveAvgPool2d((5, None)))]:
        assert repr(ours) == repr(theirs)


def test_default_init_distribution_matches_torch():
    manual_seed(0); torch.manual_seed(0)
    ours, theirs = C.Conv2d(16, 32, 3), torch.nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)
    for p, q in [(ours.weight.array, theirs.weight.detach().numpy()), (ours.bias.array, theirs.bias.detach().numpy())]:
        assert p.dtype == q.dtype == np.float32 and p.shape == q.shape
        assert np.abs(p).max() <= bound and np.abs(q).max() <= bound
    np.testing.assert_allclose(ours.weight.array.std(), theirs.weight.detach().numpy().std(), rtol=0.05)
