"""PyTorch as the oracle for `backprop.nn.rnn.RNN`: over randomised configurations (1-3 layers, tanh/relu, with and
without bias, batch-first or not, bidirectional or not, unbatched inputs, sequence lengths 1-20, given or default
initial state, float64 and float32, train and eval mode) the output, h_n and the gradients of the input, the
initial state and every parameter equal torch.nn.RNN's, with weights copied across via state_dict both ways.
Also: parameter names/shapes/order, repr, the initialisation bound, dropout placement, double backward, and
that bad shapes raise ShapeError naming the layer where PyTorch raises."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from backprop.core import tensor, ShapeError, manual_seed  # noqa: E402
from backprop.autograd import grad  # noqa: E402
from backprop.nn.rnn import RNN, rnn  # noqa: E402

pytestmark = [pytest.mark.torch]
torch.set_num_threads(1)

TOL = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}
TDT = {np.float64: torch.float64, np.float32: torch.float32}


def random_config(seed):
    "One randomised configuration; `seed` also fixes the data."
    rng = np.random.default_rng(seed)
    num_layers = int(rng.integers(1, 4))
    cfg = dict(input_size=int(rng.integers(1, 6)), hidden_size=int(rng.integers(1, 7)), num_layers=num_layers,
               nonlinearity=str(rng.choice(['tanh', 'relu'])), bias=bool(rng.random() < 0.7),
               batch_first=bool(rng.random() < 0.5), bidirectional=bool(rng.random() < 0.4),
               dropout=float(rng.choice([0.0, 0.3])) if num_layers > 1 else 0.0)
    run = dict(L=int(rng.integers(1, 21)), N=int(rng.integers(1, 5)), unbatched=bool(rng.random() < 0.25),
               with_hx=bool(rng.random() < 0.6), dtype=np.float64 if rng.random() < 0.75 else np.float32,
               copy='torch->bp' if seed % 2 else 'bp->torch',
               train=cfg['dropout'] == 0 and bool(rng.random() < 0.7))
    return cfg, run


def make_pair(cfg, dtype, copy, seed):
    "A torch RNN and a backprop RNN holding the same weights."
    torch.manual_seed(seed); manual_seed(seed)
    tm, bm = torch.nn.RNN(**cfg).to(TDT[dtype]), RNN(**cfg).to(dtype)
    if copy == 'torch->bp': bm.load_state_dict(tm.state_dict())
    else: tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in bm.state_dict().items()})
    for (nb, pb), (nt, pt) in zip(bm.named_parameters(), tm.named_parameters()):
        assert nb == nt and pb.shape == tuple(pt.shape)
        np.testing.assert_array_equal(pb.array, pt.detach().numpy())
    return tm, bm


def close(a, b, what, dtype, scale=1.0):
    a = a.array if hasattr(a, 'data') and isinstance(a.array, np.ndarray) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    tol = TOL[dtype]
    np.testing.assert_allclose(a, b, rtol=tol['rtol'], atol=tol['atol'] * scale, err_msg=what)


def run_both(tm, bm, x, hx, go, gh, dtype):
    "Forward both, backward both with the same upstream gradients; return the results for comparison."
    res = {}
    for lib, m in (('bp', bm), ('torch', tm)):
        mk = (lambda a: tensor(a.astype(dtype), requires_grad=True)) if lib == 'bp' else \
             (lambda a: torch.tensor(a.astype(dtype), requires_grad=True))
        xi, hi = mk(x), (None if hx is None else mk(hx))
        out, h_n = m(xi, hi)
        up = (lambda a: tensor(a.astype(dtype))) if lib == 'bp' else (lambda a: torch.tensor(a.astype(dtype)))
        loss = (out * up(go)).sum() + (h_n * up(gh)).sum()
        loss.backward()
        res[lib] = dict(out=out, h_n=h_n, x=xi.grad, hx=None if hi is None else hi.grad,
                        params={n: p.grad for n, p in m.named_parameters()})
    return res['bp'], res['torch']


@pytest.mark.parametrize('seed', range(60))
def test_matches_torch(seed):
    cfg, run = random_config(seed)
    dtype = run['dtype']
    tm, bm = make_pair(cfg, dtype, run['copy'], seed)
    tm.train(run['train']); bm.train(run['train'])
    rng = np.random.default_rng([seed, 1])
    L, N, I, H = run['L'], run['N'], cfg['input_size'], cfg['hidden_size']
    S = cfg['num_layers'] * (2 if cfg['bidirectional'] else 1)
    if run['unbatched']: xshape, hshape = (L, I), (S, H)
    else: xshape, hshape = ((N, L, I) if cfg['batch_first'] else (L, N, I)), (S, N, H)
    x = rng.standard_normal(xshape)
    hx = rng.standard_normal(hshape) * 0.5 if run['with_hx'] else None
    D = 2 if cfg['bidirectional'] else 1
    oshape = xshape[:-1] + (D * H,)
    go, gh = rng.standard_normal(oshape), rng.standard_normal(hshape)
    b, t = run_both(tm, bm, x, hx, go, gh, dtype)
    what = f"{cfg} {run}"
    close(b['out'], t['out'], f"output {what}", dtype)
    close(b['h_n'], t['h_n'], f"h_n {what}", dtype)
    assert b['out'].dtype == dtype and b['h_n'].dtype == dtype
    scale = max(1.0, float(np.abs(t['x'].numpy()).max()))
    close(b['x'], t['x'], f"input grad {what}", dtype, scale)
    if hx is not None: close(b['hx'], t['hx'], f"hx grad {what}", dtype, scale)
    for name, gt in t['params'].items():
        gb = b['params'][name]
        assert gb is not None, f"{name} got no gradient {what}"
        close(gb, gt, f"{name} grad {what}", dtype, max(1.0, float(gt.abs().max())))


@pytest.mark.parametrize('cfg', [dict(num_layers=2), dict(num_layers=3, bidirectional=True, nonlinearity='relu'),
                                 dict(num_layers=2, bias=False, batch_first=True)])
def test_dropout_one_in_training(cfg):
    "With dropout=1 every inter-layer activation is zeroed: deterministic, so torch and backprop must agree exactly."
    cfg = dict(input_size=3, hidden_size=4, dropout=1.0, **cfg)
    tm, bm = make_pair(cfg, np.float64, 'torch->bp', 0)
    rng = np.random.default_rng(5)
    xshape = (2, 6, 3) if cfg.get('batch_first') else (6, 2, 3)
    S, D = cfg['num_layers'] * (2 if cfg.get('bidirectional') else 1), (2 if cfg.get('bidirectional') else 1)
    oshape = xshape[:-1] + (D * 4,)
    b, t = run_both(tm, bm, rng.standard_normal(xshape), rng.standard_normal((S, 2, 4)),
                    rng.standard_normal(oshape), rng.standard_normal((S, 2, 4)), np.float64)
    for k in ('out', 'h_n', 'x', 'hx'): close(b[k], t[k], k, np.float64)
    for name, gt in t['params'].items(): close(b['params'][name], gt, name, np.float64)


def test_names_shapes_repr_and_init():
    for cfg in [dict(input_size=3, hidden_size=5), dict(input_size=3, hidden_size=5, num_layers=3, bidirectional=True),
                dict(input_size=2, hidden_size=4, num_layers=2, nonlinearity='relu', bias=False, batch_first=True,
                     dropout=0.25)]:
        tm, bm = torch.nn.RNN(**cfg), RNN(**cfg)
        assert repr(bm) == repr(tm)
        assert [(n, p.shape) for n, p in bm.named_parameters()] == [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
        assert list(bm.state_dict()) == list(tm.state_dict())
        assert [len(w) for w in bm.all_weights] == [len(w) for w in tm.all_weights]
        assert all(p.dtype == np.float32 for p in bm.parameters())
    manual_seed(0)
    m = RNN(7, 256, num_layers=2)
    w = np.concatenate([p.array.ravel() for p in m.parameters()])
    bound = 1 / 16
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
    np.testing.assert_allclose(w.var(), bound ** 2 / 3, rtol=0.02)
    np.testing.assert_allclose(w.mean(), 0, atol=bound * 0.01)


def test_double_backward_matches_torch():
    "Second derivatives: d/dW_hh of ‖∂L/∂x‖² through the recurrence."
    cfg = dict(input_size=3, hidden_size=4, num_layers=2, nonlinearity='tanh')
    tm, bm = make_pair(cfg, np.float64, 'torch->bp', 3)
    rng = np.random.default_rng(0)
    x, hx = rng.standard_normal((5, 2, 3)), rng.standard_normal((2, 2, 4))
    xb, hb = tensor(x, requires_grad=True), tensor(hx, requires_grad=True)
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(hx, requires_grad=True)
    ob, nb = bm(xb, hb)
    ot, nt = tm(xt, ht)
    (gxb,) = grad((ob ** 2).sum() + nb.sum(), xb, create_graph=True)
    (gxt,) = torch.autograd.grad((ot ** 2).sum() + nt.sum(), xt, create_graph=True)
    close(gxb, gxt, 'first derivative', np.float64)
    wb = [bm.weight_hh_l0, bm.weight_ih_l1, hb]
    wt = [tm.weight_hh_l0, tm.weight_ih_l1, ht]
    gb = grad((gxb ** 2).sum(), wb)
    gt = torch.autograd.grad((gxt ** 2).sum(), wt)
    for a, b, n in zip(gb, gt, ['weight_hh_l0', 'weight_ih_l1', 'hx']): close(a, b, f'second derivative wrt {n}', np.float64)


def test_functional_matches_module():
    manual_seed(1)
    m = RNN(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    x = tensor(np.random.default_rng(0).standard_normal((2, 5, 3)))
    o1, h1 = m(x)
    o2, h2 = rnn(x, None, m.all_weights, bidirectional=True, batch_first=True)
    np.testing.assert_array_equal(o1.array, o2.array); np.testing.assert_array_equal(h1.array, h2.array)


BAD = [  # (input shape, hx shape or None, what the message must contain)
    ((7, 3, 5), None, 'expected input with last dim (input_size) 4, got shape (7, 3, 5)'),
    ((7, 5), None, 'expected input with last dim (input_size) 4, got shape (7, 5)'),
    ((4,), None, 'expected a 3-D input (L, N, input_size) or an unbatched 2-D input (L, input_size), got shape (4,)'),
    ((2, 7, 3, 4), None, 'got shape (2, 7, 3, 4)'),
    ((7, 3, 4), (1, 3, 6), 'expected hx of shape (2, 3, 6), got (1, 3, 6)'),
    ((7, 3, 4), (2, 2, 6), 'expected hx of shape (2, 3, 6), got (2, 2, 6)'),
    ((7, 3, 4), (2, 3, 5), 'expected hx of shape (2, 3, 6), got (2, 3, 5)'),
    ((7, 3, 4), (2, 6), 'expected hx of shape (2, 3, 6), got (2, 6)'),
    ((7, 4), (2, 1, 6), 'for unbatched 2-D input of shape (7, 4) expected hx of shape (2, 6), got (2, 1, 6)'),
    ((0, 3, 4), None, 'sequence length > 0'),
]


@pytest.mark.parametrize('xshape,hshape,msg', BAD)
def test_bad_shapes_raise_where_torch_does(xshape, hshape, msg):
    cfg = dict(input_size=4, hidden_size=6, num_layers=2)
    tm, bm = torch.nn.RNN(**cfg), RNN(**cfg)
    x = np.zeros(xshape, np.float32)
    hx = None if hshape is None else np.zeros(hshape, np.float32)
    with pytest.raises((RuntimeError, ValueError)):
        tm(torch.tensor(x), None if hx is None else torch.tensor(hx))
    with pytest.raises(ShapeError) as e:
        bm(tensor(x), None if hx is None else tensor(hx))
    assert str(e.value).startswith('RNN(4, 6, num_layers=2): ') and msg in str(e.value), str(e.value)


def test_dtype_mismatch_raises_where_torch_does():
    tm, bm = torch.nn.RNN(4, 6), RNN(4, 6)
    x = np.zeros((3, 2, 4))
    with pytest.raises(ValueError): tm(torch.tensor(x))
    with pytest.raises(ShapeError, match=r"RNN\(4, 6\): input dtype float64 does not match the weights' dtype float32"):
        bm(tensor(x))
