"PyTorch oracle for backprop.nn.layers: forward, input gradients and parameter gradients agree, over random configurations."
import math
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F
import backprop as bp
from backprop.core import tensor, manual_seed, ShapeError
from backprop.autograd import grad as bp_grad
from backprop.nn import layers as L

pytestmark = pytest.mark.torch
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def to_torch(sd): return {k: torch.tensor(v.numpy()) for k, v in sd.items()}


def run(module_or_fn, x, g, params=()):
    "Forward, then backward with cotangent g; return output and the gradients of x and of params (ours)."
    xt = tensor(x, requires_grad=True)
    y = module_or_fn(xt)
    y.backward(tensor(g.astype(y.dtype)))
    return y.array, xt.grad.array, [p.grad.array for p in params]


def run_torch(module_or_fn, x, g, params=()):
    xt = torch.tensor(x, requires_grad=True)
    y = module_or_fn(xt)
    y.backward(torch.tensor(g.astype(x.dtype)))
    return y.detach().numpy(), xt.grad.numpy(), [p.grad.numpy() for p in params]


def close(a, b, dtype=np.float64):
    np.testing.assert_allclose(a, b, **TOL[dtype])


def check_same(ours, theirs, dtype=np.float64):
    (y1, gx1, gp1), (y2, gx2, gp2) = ours, theirs
    close(y1, y2, dtype); close(gx1, gx2, dtype)
    assert len(gp1) == len(gp2)
    for a, b in zip(gp1, gp2): close(a, b, dtype)


# ---------------------------------------------------------------- Linear
@pytest.mark.parametrize("seed", range(12))
def test_linear_matches_torch(seed):
    rng = np.random.default_rng(seed)
    n_in, n_out, bias = int(rng.integers(1, 9)), int(rng.integers(1, 9)), bool(rng.integers(0, 2))
    lead = tuple(int(s) for s in rng.integers(1, 4, rng.integers(0, 4)))       # 0..3 leading dims (1-D input allowed)
    dtype = [np.float64, np.float32][seed % 2]
    manual_seed(seed)
    ours = L.Linear(n_in, n_out, bias=bias)
    theirs = torch.nn.Linear(n_in, n_out, bias=bias, dtype=torch.float32)
    theirs.load_state_dict(to_torch(ours.state_dict()))                        # ours -> torch
    if dtype == np.float64: ours.double(); theirs.double()
    assert repr(ours) == repr(theirs)
    x = rng.standard_normal(lead + (n_in,)).astype(dtype)
    g = rng.standard_normal(lead + (n_out,)).astype(dtype)
    check_same(run(ours, x, g, list(ours.parameters())), run_torch(theirs, x, g, list(theirs.parameters())), dtype)


def test_linear_state_dict_from_torch_and_eval_mode():
    theirs = torch.nn.Linear(5, 3).double()
    ours = L.Linear(5, 3).double()
    ours.load_state_dict(theirs.state_dict())                                  # torch -> ours
    ours.eval(); theirs.eval()
    x = np.random.default_rng(0).standard_normal((4, 5))
    close(ours(tensor(x)).array, theirs(torch.tensor(x)).detach().numpy())


def test_linear_second_order_matches_torch():
    rng = np.random.default_rng(1)
    x, W, b, v = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2), rng.standard_normal((3, 2))
    xs = [tensor(a, requires_grad=True) for a in (x, W, b)]
    y = L.linear(*xs)
    gx, gW = bp_grad((y * tensor(v) * y).sum(), xs[:2], create_graph=True)
    h = bp_grad((gx * gx).sum() + (gW * gW).sum(), xs)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, W, b)]
    yt = F.linear(*ts)
    tgx, tgW = torch.autograd.grad((yt * torch.tensor(v) * yt).sum(), ts[:2], create_graph=True)
    th = torch.autograd.grad((tgx * tgx).sum() + (tgW * tgW).sum(), ts)
    for a, c in zip(h, th): close(a.array, c.numpy())


def test_linear_init_statistics_match_torch():
    manual_seed(0); torch.manual_seed(0)
    ours, theirs = L.Linear(256, 512), torch.nn.Linear(256, 512)
    bound = 1 / math.sqrt(256)
    for p, q in [(ours.weight, theirs.weight), (ours.bias, theirs.bias)]:
        assert p.dtype == np.float32 and p.shape == tuple(q.shape)
        assert np.abs(p.array).max() <= bound and np.abs(q.detach().numpy()).max() <= bound
    np.testing.assert_allclose(ours.weight.array.std(), theirs.weight.detach().numpy().std(), rtol=0.02)


def test_linear_errors():
    with pytest.raises(ShapeError, match=r"Linear\(in_features=3, out_features=4, bias=True\): expected input with last dim 3, got shape \(2, 5\)"):
        L.Linear(3, 4)(bp.randn(2, 5))
    with pytest.raises(ShapeError, match=r"linear: input shape \(2, 3\) does not fit weight shape \(4, 5\)"):
        L.linear(bp.randn(2, 3), bp.randn(4, 5))


# ---------------------------------------------------------------- Flatten and activations
@pytest.mark.parametrize("shape,start,end", [((2, 3, 4, 5), 1, -1), ((2, 3, 4), 0, 1), ((2, 3, 4, 5), 1, 2), ((3,), 0, -1), ((2, 3), -1, -1)])
def test_flatten_matches_torch(shape, start, end):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    ours, theirs = L.Flatten(start, end), torch.nn.Flatten(start, end)
    assert repr(ours) == repr(theirs)
    g = rng.standard_normal(theirs(torch.tensor(x)).shape)
    check_same(run(ours, x, g), run_torch(theirs, x, g))


ACTIVATIONS = [
    (lambda: L.ReLU(), lambda: torch.nn.ReLU()),
    (lambda: L.ReLU(inplace=True), lambda: torch.nn.ReLU(inplace=True)),
    (lambda: L.LeakyReLU(), lambda: torch.nn.LeakyReLU()),
    (lambda: L.LeakyReLU(0.3), lambda: torch.nn.LeakyReLU(0.3)),
    (lambda: L.GELU(), lambda: torch.nn.GELU()),
    (lambda: L.GELU('tanh'), lambda: torch.nn.GELU('tanh')),
    (lambda: L.Tanh(), lambda: torch.nn.Tanh()),
    (lambda: L.Sigmoid(), lambda: torch.nn.Sigmoid()),
    (lambda: L.Softmax(1), lambda: torch.nn.Softmax(1)),
    (lambda: L.Softmax(-1), lambda: torch.nn.Softmax(-1)),
    (lambda: L.LogSoftmax(0), lambda: torch.nn.LogSoftmax(0)),
    (lambda: L.LogSoftmax(2), lambda: torch.nn.LogSoftmax(2)),
]


@pytest.mark.parametrize("k", range(len(ACTIVATIONS)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_matches_torch(k, dtype):
    make_ours, make_theirs = ACTIVATIONS[k]
    ours, theirs = make_ours(), make_theirs()
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(k)
    for shape in [(3, 4, 5), (2, 7, 3)]:
        x = (rng.standard_normal(shape) * 4).astype(dtype)
        x.flat[:3] = [0., 7.5, -9.]                                  # the kink at 0 and the tails
        g = rng.standard_normal(shape).astype(dtype)
        # ReLU(inplace=True) would overwrite torch's leaf; clone first
        tfn = (lambda t: theirs(t.clone())) if getattr(theirs, 'inplace', False) else theirs
        check_same(run(ours, x, g), run_torch(tfn, x, g), dtype)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_second_derivative_matches_torch(approximate):
    x = np.linspace(-6, 6, 41)
    xt = tensor(x, requires_grad=True)
    (g1,) = bp_grad(L.gelu(xt, approximate).sum(), xt, create_graph=True)
    (g2,) = bp_grad(g1.sum(), xt)
    tt = torch.tensor(x, requires_grad=True)
    (h1,) = torch.autograd.grad(F.gelu(tt, approximate=approximate).sum(), tt, create_graph=True)
    (h2,) = torch.autograd.grad(h1.sum(), tt)
    close(g1.array, h1.detach().numpy()); close(g2.array, h2.numpy())


def test_erf_matches_torch():
    x = np.concatenate([np.linspace(-10, 10, 100001), np.random.default_rng(0).standard_normal(10000) * 3])
    np.testing.assert_allclose(L.erf_np(x), torch.erf(torch.tensor(x)).numpy(), rtol=0, atol=4.5e-16)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(L.erf_np(x32), torch.erf(torch.tensor(x32)).numpy(), rtol=0, atol=2.5e-7)


# ---------------------------------------------------------------- Dropout
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_match_torch(p):
    manual_seed(0); torch.manual_seed(0)
    x = np.ones((400, 500))
    ours, theirs = L.Dropout(p), torch.nn.Dropout(p)
    assert repr(ours) == repr(theirs)
    xt = tensor(x, requires_grad=True)
    y = ours(xt); y.backward(tensor(np.full(x.shape, 3.)))
    yt = theirs(torch.tensor(x))
    zero_ours, zero_theirs = (y.array == 0).mean(), (yt.numpy() == 0).mean()
    assert abs(zero_ours - p) < 0.01 and abs(zero_theirs - p) < 0.01
    np.testing.assert_allclose(np.unique(y.array), np.unique(yt.numpy()))  # {0, 1/(1-p)} in both
    np.testing.assert_allclose(y.array.mean(), 1, atol=0.02)
    np.testing.assert_array_equal(xt.grad.array, 3 * y.array)                # same mask in the backward
    ours.eval(); theirs.eval()
    x2 = np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_array_equal(ours(tensor(x2)).array, theirs(torch.tensor(x2)).numpy())   # eval: identity


def test_dropout_edge_cases():
    x = tensor(np.ones((3, 4)), requires_grad=True)
    np.testing.assert_array_equal(L.dropout(x, 1.0).array, F.dropout(torch.ones(3, 4), 1.0).numpy())
    assert L.dropout(x, 0.0) is x and L.dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match="between 0 and 1"): L.Dropout(-0.1)


# ---------------------------------------------------------------- Embedding
@pytest.mark.parametrize("seed", range(8))
def test_embedding_matches_torch(seed):
    rng = np.random.default_rng(seed)
    V, D = int(rng.integers(2, 12)), int(rng.integers(1, 6))
    pad = [None, 0, int(rng.integers(0, V)), -1][seed % 4]
    idx_shape = tuple(int(s) for s in rng.integers(1, 5, rng.integers(1, 4)))
    idx = rng.integers(0, V, idx_shape)                                    # with repeats
    manual_seed(seed)
    ours = L.Embedding(V, D, padding_idx=pad)
    theirs = torch.nn.Embedding(V, D, padding_idx=pad)
    assert repr(ours) == repr(theirs)
    if pad is not None: assert not ours.weight.array[pad].any()
    ours.double(); theirs.double()
    theirs.load_state_dict(to_torch(ours.state_dict()))
    g = rng.standard_normal(idx_shape + (D,))
    y = ours(tensor(idx)); y.backward(tensor(g))
    yt = theirs(torch.tensor(idx)); yt.backward(torch.tensor(g))
    close(y.array, yt.detach().numpy()); close(ours.weight.grad.array, theirs.weight.grad.numpy())


def test_embedding_from_pretrained_and_errors():
    w = np.random.default_rng(0).standard_normal((4, 3))
    ours, theirs = L.Embedding.from_pretrained(tensor(w)), torch.nn.Embedding.from_pretrained(torch.tensor(w))
    assert ours.weight.requires_grad == theirs.weight.requires_grad == False
    close(ours(tensor([3, 0])).array, theirs(torch.tensor([3, 0])).numpy())
    assert L.Embedding.from_pretrained(tensor(w), freeze=False).weight.requires_grad
    with pytest.raises(IndexError, match="index 4 is out of range for 4 embeddings"): ours(tensor([4]))
    with pytest.raises(TypeError, match="integer tensor, got float"): ours(tensor([1.]))


def test_embedding_init_statistics():
    manual_seed(0)
    w = L.Embedding(2000, 64).weight.array
    assert w.dtype == np.float32 and abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01
