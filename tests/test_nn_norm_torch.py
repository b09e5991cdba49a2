"""PyTorch as the oracle for `backprop.nn.norm`: BatchNorm1d/2d and LayerNorm (and their functional forms) over
randomised shapes and options (float64, and float32 compared against torch in float64) — forward values, input gradient, weight/bias gradients, running statistics and
`num_batches_tracked` after several training steps, then evaluation mode. State is copied torch -> backprop with
`load_state_dict` before the run and backprop -> torch after it."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from backprop.core import tensor, ShapeError  # noqa: E402
from backprop.nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm, batch_norm, layer_norm  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TOL = {np.float64: dict(rtol=1e-9, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-5)}
BP = {'BatchNorm1d': BatchNorm1d, 'BatchNorm2d': BatchNorm2d}


def close(actual, expected, what, dtype):
    # float64: tight. float32 (against torch in float64): a sanity pass whose absolute tolerance grows with the values'
    # scale, because a group of few, nearly equal values is ill-conditioned (the backward cancels to a small difference).
    if isinstance(expected, torch.Tensor): expected = expected.detach().numpy()
    tol = dict(TOL[dtype])
    if dtype == np.float32 and np.size(expected): tol['atol'] += 1e-3 * float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, err_msg=what, **tol)


def bn_configs(n, seed=0):
    "Random (layer, shape, affine, track_running_stats, momentum, eps, dtype) combinations."
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        name = ['BatchNorm1d', 'BatchNorm2d'][i % 2]
        C = int(rng.integers(1, 5))
        N = int(rng.integers(1, 6))
        if name == 'BatchNorm1d':
            shape = (max(N, 2), C) if rng.random() < 0.5 else (N, C, int(rng.integers(1, 6)))
        else:
            shape = (N, C, int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        if shape[0] * int(np.prod(shape[2:])) == 1: shape = (2,) + shape[1:]
        out.append(dict(seed=i, name=name, shape=shape, affine=bool(rng.random() < 0.7), bias=bool(rng.random() < 0.8),
                        track=bool(rng.random() < 0.7),
                        momentum=[None, 0.1, 0.3][i % 3], eps=float(rng.choice([1e-5, 1e-3, 0.1])),
                        dtype=np.float64 if i % 4 else np.float32))
    return out


def _randomise_torch_state(tm, rng, dtype):
    with torch.no_grad():
        C = tm.num_features
        if tm.affine:
            tm.weight.copy_(torch.tensor(rng.uniform(0.5, 2, C)))
            if tm.bias is not None: tm.bias.copy_(torch.tensor(rng.standard_normal(C)))
        if tm.track_running_stats:
            tm.running_mean.copy_(torch.tensor(rng.standard_normal(C)))
            tm.running_var.copy_(torch.tensor(rng.uniform(0.5, 2, C)))
            tm.num_batches_tracked.fill_(int(rng.integers(0, 4)))


@pytest.mark.parametrize("cfg", bn_configs(48), ids=lambda c: f"{c['name']}{c['shape']}-aff{int(c['affine'])}-b{int(c['bias'])}-trk{int(c['track'])}"
                                                          f"-m{c['momentum']}-{np.dtype(c['dtype']).name}")
def test_batchnorm_matches_torch(cfg):
    dtype, shape, C = cfg['dtype'], cfg['shape'], cfg['shape'][1]
    tdt = torch.float64                   # the oracle always runs in float64; float32 runs are compared to it
    rng = np.random.default_rng(cfg['seed'])
    kw = dict(eps=cfg['eps'], momentum=cfg['momentum'], affine=cfg['affine'], track_running_stats=cfg['track'], bias=cfg['bias'])
    tm = getattr(torch.nn, cfg['name'])(C, **kw).to(tdt)
    bm = BP[cfg['name']](C, **kw).to(dtype)
    _randomise_torch_state(tm, rng, dtype)
    bm.load_state_dict(tm.state_dict())
    assert list(bm.state_dict()) == list(tm.state_dict())
    assert repr(bm) == repr(tm)

    for step in range(4):
        training = step < 3                                # three training steps, then evaluation
        tm.train(training); bm.train(training)
        x = (rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        tx = torch.tensor(x, dtype=tdt, requires_grad=True)
        bx = tensor(x, requires_grad=True)
        ty, by = tm(tx), bm(bx)
        what = f"{cfg} step {step} ({'train' if training else 'eval'})"
        close(by.array, ty, f"forward {what}", dtype)
        tm.zero_grad(); bm.zero_grad()
        ty.backward(torch.tensor(g, dtype=tdt)); by.backward(g)
        close(bx.grad.array, tx.grad, f"input grad {what}", dtype)
        assert [n for n, _ in bm.named_parameters()] == [n for n, _ in tm.named_parameters()]
        for (n, tp), bp_ in zip(tm.named_parameters(), bm.parameters()):
            close(bp_.grad.array, tp.grad, f"{n} grad {what}", dtype)
        for k, v in tm.state_dict().items():
            assert bm.state_dict()[k].dtype == (np.int64 if k == 'num_batches_tracked' else dtype), f"{k} dtype {what}"
            close(bm.state_dict()[k], v, f"{k} {what}", dtype)

    # and back: backprop's state loads into a fresh torch module and reproduces its evaluation output
    tm2 = getattr(torch.nn, cfg['name'])(C, **kw).to(tdt).eval()
    tm2.load_state_dict({k: torch.tensor(v.numpy()) for k, v in bm.state_dict().items()})
    x = rng.standard_normal(shape).astype(dtype)
    close(bm(tensor(x)).array, tm2(torch.tensor(x, dtype=tdt)), f"eval after state transfer back {cfg}", dtype)


def ln_configs(n, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ns = tuple(int(s) for s in rng.integers(1, 5, int(rng.integers(1, 4))))
        lead = tuple(int(s) for s in rng.integers(1, 4, int(rng.integers(0, 3))))
        out.append(dict(seed=100 + i, ns=ns, shape=lead + ns, affine=bool(rng.random() < 0.7), bias=bool(rng.random() < 0.7),
                        eps=float(rng.choice([1e-5, 1e-3, 0.1])), dtype=np.float64 if i % 4 else np.float32))
    return out


@pytest.mark.parametrize("cfg", ln_configs(32), ids=lambda c: f"LN{c['ns']}-in{c['shape']}-aff{int(c['affine'])}"
                                                        f"-b{int(c['bias'])}-{np.dtype(c['dtype']).name}")
def test_layernorm_matches_torch(cfg):
    dtype, shape = cfg['dtype'], cfg['shape']
    tdt = torch.float64                   # the oracle always runs in float64; float32 runs are compared to it
    rng = np.random.default_rng(cfg['seed'])
    kw = dict(eps=cfg['eps'], elementwise_affine=cfg['affine'], bias=cfg['bias'])
    tm, bm = torch.nn.LayerNorm(cfg['ns'], **kw).to(tdt), LayerNorm(cfg['ns'], **kw).to(dtype)
    with torch.no_grad():
        for p in tm.parameters(): p.copy_(torch.tensor(rng.uniform(0.5, 2, p.shape)))
    bm.load_state_dict(tm.state_dict())
    assert repr(bm) == repr(tm) and list(bm.state_dict()) == list(tm.state_dict())
    for training in (True, False):
        tm.train(training); bm.train(training)
        x = (rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        tx, bx = torch.tensor(x, dtype=tdt, requires_grad=True), tensor(x, requires_grad=True)
        ty, by = tm(tx), bm(bx)
        close(by.array, ty, f"forward {cfg}", dtype)
        tm.zero_grad(); bm.zero_grad()
        ty.backward(torch.tensor(g, dtype=tdt)); by.backward(g)
        close(bx.grad.array, tx.grad, f"input grad {cfg}", dtype)
        for (n, tp), bp_ in zip(tm.named_parameters(), bm.parameters()):
            close(bp_.grad.array, tp.grad, f"{n} grad {cfg}", dtype)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("momentum", [0.1, 0.5])
@pytest.mark.parametrize("affine", [True, False])
def test_functional_batch_norm_matches_torch(training, momentum, affine):
    rng = np.random.default_rng(int(training) * 4 + int(momentum * 10) + int(affine))
    x, g = rng.standard_normal((3, 4, 5)) * 2 + 1, rng.standard_normal((3, 4, 5))
    w, b = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    T = lambda a, rg=False: torch.tensor(a, requires_grad=rg)
    B = lambda a, rg=False: tensor(a, requires_grad=rg)
    outs = []
    for L, lib in ((T, torch.nn.functional), (B, None)):
        xs, ws, bs, rms, rvs = L(x, True), L(w, True), L(b, True), L(rm), L(rv)
        f = lib.batch_norm if lib else batch_norm
        y = f(xs, rms, rvs, ws if affine else None, bs if affine else None, training, momentum, 1e-3)
        y.backward(L(g))
        grads = [xs.grad] + ([ws.grad, bs.grad] if affine else [])
        outs.append([np.asarray(t.detach().numpy() if isinstance(t, torch.Tensor) else t.array) for t in [y, *grads, rms, rvs]])
    for k, (a, e) in enumerate(zip(outs[1], outs[0])): close(a, e, f"output {k}", np.float64)


def test_functional_layer_norm_matches_torch():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    ty = torch.nn.functional.layer_norm(torch.tensor(x), (3, 4), torch.tensor(w), torch.tensor(b), 1e-3)
    close(layer_norm(tensor(x), (3, 4), tensor(w), tensor(b), 1e-3).array, ty, "layer_norm", np.float64)
    ty = torch.nn.functional.layer_norm(torch.tensor(x), [4])
    close(layer_norm(tensor(x), [4]).array, ty, "layer_norm without affine", np.float64)


def test_errors_agree_with_torch():
    # batch of one value per channel in training: ValueError in both, same message
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch.nn.BatchNorm1d(3)(torch.randn(1, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        BatchNorm1d(3)(tensor(np.ones((1, 3), np.float32)))
    # wrong number of dims: ValueError in torch; ShapeError (a ValueError) naming the layer here
    with pytest.raises(ValueError): torch.nn.BatchNorm2d(3)(torch.randn(2, 3, 4))
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(3, .*\): expected input of shape \(N, 3, H, W\), got shape \(2, 3, 4\)"):
        BatchNorm2d(3)(tensor(np.ones((2, 3, 4), np.float32)))
    # wrong channel count: torch raises RuntimeError from deep inside; here a ShapeError naming the layer
    with pytest.raises(RuntimeError): torch.nn.BatchNorm2d(3)(torch.randn(2, 4, 5, 5))
    with pytest.raises(ShapeError, match=r"expected input of shape \(N, 3, H, W\), got shape \(2, 4, 5, 5\)"):
        BatchNorm2d(3)(tensor(np.ones((2, 4, 5, 5), np.float32)))
    with pytest.raises(RuntimeError): torch.nn.LayerNorm(5)(torch.randn(2, 4))
    with pytest.raises(ShapeError, match=r"LayerNorm\(\(5,\), .*\): expected input of shape \(\*, 5\), got shape \(2, 4\)"):
        LayerNorm(5)(tensor(np.ones((2, 4), np.float32)))
