"""nn.LSTM, nn.GRU and the cells against PyTorch from shared weights: outputs, final states, and the gradients of the
input, the initial states and every parameter, over hypothesis-chosen shapes and every option; state_dicts both ways."""
import numpy as np, pytest
torch = pytest.importorskip('torch')
from hypothesis import given, settings, strategies as st
from backprop.core import tensor, no_grad
import backprop.nn as nn

SET = settings(max_examples=30, deadline=None)

def copy_torch_to_bp(bm, tm):
    for n, p in tm.named_parameters(): getattr(bm, n).array[...] = p.detach().numpy()

def close(b, t, tol=1e-10):
    a, e = np.asarray(b.array), t.detach().numpy()
    assert a.shape == e.shape, (a.shape, e.shape)
    np.testing.assert_allclose(a, e, rtol=tol, atol=tol)

def run_both(mode, kw, shape, state_shapes, seed, given_states, train=False):
    "Build a torch layer and a backprop one with the same float64 weights, run both, backprop random cotangents."
    torch.manual_seed(seed)
    tm = getattr(torch.nn, mode)(**kw).double()
    bm = getattr(nn, mode)(**kw, dtype=np.float64)
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in bm.named_parameters()]
    copy_torch_to_bp(bm, tm)
    if not train: tm.eval(); bm.eval()
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_normal(shape), requires_grad=True)
    bx = tensor(x.detach().numpy().copy(), requires_grad=True)
    ts = [torch.tensor(rng.standard_normal(s), requires_grad=True) for s in state_shapes] if given_states else []
    bs = [tensor(t.detach().numpy().copy(), requires_grad=True) for t in ts]
    if mode == 'LSTM':
        o, (h, c) = tm(x, tuple(ts) if ts else None); bo, (bh, bc) = bm(bx, tuple(bs) if bs else None)
        outs, bouts = [o, h, c], [bo, bh, bc]
    else:
        o, h = tm(x, ts[0] if ts else None); bo, bh = bm(bx, bs[0] if bs else None)
        outs, bouts = [o, h], [bo, bh]
    cots = [rng.standard_normal(tuple(t.shape)) for t in outs]
    sum((t * torch.tensor(g)).sum() for t, g in zip(outs, cots)).backward()
    sum((b * tensor(g)).sum() for b, g in zip(bouts, cots)).backward()
    return tm, bm, (x, bx), list(zip(ts, bs)), list(zip(bouts, outs))

@st.composite
def configs(draw, mode):
    H = draw(st.integers(1, 5))
    kw = dict(input_size=draw(st.integers(1, 4)), hidden_size=H, num_layers=draw(st.integers(1, 3)),
              bias=draw(st.booleans()), batch_first=draw(st.booleans()), bidirectional=draw(st.booleans()))
    if mode == 'LSTM' and H > 1 and draw(st.booleans()): kw['proj_size'] = draw(st.integers(1, H - 1))
    L, N, unbatched = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.booleans())
    return kw, L, N, unbatched, draw(st.booleans()), draw(st.integers(0, 2**16))

def shapes(mode, kw, L, N, unbatched):
    D, H = (2 if kw['bidirectional'] else 1), kw['hidden_size']
    P = kw.get('proj_size', 0) or H
    x = (L, kw['input_size']) if unbatched else ((N, L, kw['input_size']) if kw['batch_first'] else (L, N, kw['input_size']))
    lead = (kw['num_layers'] * D,) if unbatched else (kw['num_layers'] * D, N)
    return x, ([lead + (P,), lead + (H,)] if mode == 'LSTM' else [lead + (H,)])

@pytest.mark.parametrize('mode', ['LSTM', 'GRU'])
@SET
@given(data=st.data())
def test_layer_matches_torch(mode, data):
    kw, L, N, unbatched, given_states, seed = data.draw(configs(mode))
    xs, ss = shapes(mode, kw, L, N, unbatched)
    tm, bm, (x, bx), states, outs = run_both(mode, kw, xs, ss, seed, given_states)
    for b, t in outs: close(b, t)                                   # output, h_n (, c_n)
    close(bx.grad, x.grad)
    for t, b in states: close(b.grad, t.grad)
    for n, p in tm.named_parameters(): close(getattr(bm, n).grad, p.grad)

@pytest.mark.parametrize('cls', ['LSTMCell', 'GRUCell', 'RNNCell'])
@SET
@given(I=st.integers(1, 4), H=st.integers(1, 5), N=st.integers(1, 3), bias=st.booleans(), unbatched=st.booleans(),
       given_states=st.booleans(), relu=st.booleans(), seed=st.integers(0, 2**16))
def test_cell_matches_torch(cls, I, H, N, bias, unbatched, given_states, relu, seed):
    kw = dict(input_size=I, hidden_size=H, bias=bias)
    if cls == 'RNNCell' and relu: kw['nonlinearity'] = 'relu'
    torch.manual_seed(seed)
    tm, bm = getattr(torch.nn, cls)(**kw).double(), getattr(nn, cls)(**kw, dtype=np.float64)
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in bm.named_parameters()] and repr(tm) == repr(bm)
    copy_torch_to_bp(bm, tm)
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_normal((I,) if unbatched else (N, I)), requires_grad=True)
    bx = tensor(x.detach().numpy().copy(), requires_grad=True)
    n_states = 2 if cls == 'LSTMCell' else 1
    ts = [torch.tensor(rng.standard_normal((H,) if unbatched else (N, H)), requires_grad=True) for _ in range(n_states)] if given_states else []
    bs = [tensor(t.detach().numpy().copy(), requires_grad=True) for t in ts]
    arg = lambda s: (tuple(s) if n_states == 2 else s[0]) if s else None
    o, bo = tm(x, arg(ts)), bm(bx, arg(bs))
    outs, bouts = (list(o), list(bo)) if n_states == 2 else ([o], [bo])
    cots = [rng.standard_normal(tuple(t.shape)) for t in outs]
    sum((t * torch.tensor(g)).sum() for t, g in zip(outs, cots)).backward()
    sum((b * tensor(g)).sum() for b, g in zip(bouts, cots)).backward()
    for b, t in zip(bouts, outs): close(b, t)
    close(bx.grad, x.grad)
    for t, b in zip(ts, bs): close(b.grad, t.grad)
    for n, p in tm.named_parameters(): close(getattr(bm, n).grad, p.grad)

@pytest.mark.parametrize('mode,kw', [('LSTM', dict(num_layers=2, bidirectional=True, proj_size=3)),
                                     ('GRU', dict(num_layers=2, bidirectional=True, bias=False)),
                                     ('LSTMCell', {}), ('GRUCell', {}), ('RNNCell', dict(nonlinearity='relu'))])
def test_state_dict_both_ways(mode, kw):
    "bp -> torch and torch -> bp: keys, shapes and the outputs of the loaded layer."
    torch.manual_seed(0)
    bm, tm = getattr(nn, mode)(4, 5, **kw), getattr(torch.nn, mode)(4, 5, **kw)
    tm.load_state_dict({k: torch.from_numpy(np.array(v.array)) for k, v in bm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((6, 2, 4) if 'Cell' not in mode else (2, 4)).astype(np.float32)
    first = lambda o: o[0] if isinstance(o, tuple) else o
    with no_grad(), torch.no_grad():
        np.testing.assert_allclose(first(bm(tensor(x))).array, first(tm(torch.from_numpy(x))).numpy(), rtol=1e-5, atol=1e-6)
        tm2 = getattr(torch.nn, mode)(4, 5, **kw); bm2 = getattr(nn, mode)(4, 5, **kw)
        bm2.load_state_dict({k: tensor(v.numpy()) for k, v in tm2.state_dict().items()})
        np.testing.assert_allclose(first(bm2(tensor(x))).array, first(tm2(torch.from_numpy(x))).numpy(), rtol=1e-5, atol=1e-6)

@pytest.mark.parametrize('mode', ['LSTM', 'GRU'])
def test_dropout(mode):
    "dropout > 0: eval mode equals torch; train mode with p = 1 zeroes the inputs of upper layers in both; p = 0.5 leaves layer 0's state alone."
    kw = dict(input_size=3, hidden_size=4, num_layers=3, dropout=1.0)
    xs, ss = shapes(mode, dict(kw, bias=True, batch_first=False, bidirectional=False), 5, 2, False)
    for train in (False, True):
        tm, bm, (x, bx), _, outs = run_both(mode, kw, xs, ss, 0, False, train=train)
        for b, t in outs: close(b, t)
        close(bx.grad, x.grad)
        for n, p in tm.named_parameters(): close(getattr(bm, n).grad, p.grad)
    m = getattr(nn, mode)(3, 4, num_layers=2, dropout=0.5)
    xb = tensor(np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32))
    with no_grad():
        runs = [m(xb) for _ in range(20)]
        m.eval(); ref = m(xb); m.train()
    h = lambda o: o[1][0] if mode == 'LSTM' else o[1]
    for o in runs: np.testing.assert_allclose(h(o).array[0], h(ref).array[0], rtol=1e-6)      # layer 0: no dropout
    assert sum(not np.allclose(o[0].array, ref[0].array) for o in runs) >= 19

def test_float32_and_long_sequence():
    "float32 defaults match torch; a 1,000-step sequence backpropagates (no recursion) and matches too."
    torch.manual_seed(0)
    tm, bm = torch.nn.LSTM(8, 16), nn.LSTM(8, 16)
    copy_torch_to_bp(bm, tm)
    x = np.random.default_rng(0).standard_normal((1000, 2, 8)).astype(np.float32)
    xt, xb = torch.tensor(x, requires_grad=True), tensor(x, requires_grad=True)
    o, (h, c) = tm(xt); bo, (bh, bc) = bm(xb)
    (o.sum() + c.sum()).backward(); (bo.sum() + bc.sum()).backward()
    np.testing.assert_allclose(bo.array, o.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xb.grad.array, xt.grad.numpy(), rtol=1e-3, atol=1e-5)
    for n, p in tm.named_parameters(): np.testing.assert_allclose(getattr(bm, n).grad.array, p.grad.numpy(), rtol=1e-3, atol=1e-3)
    g = nn.GRU(8, 16); out, _ = g(xb); out.sum().backward()
    assert np.isfinite(g.weight_hh_l0.grad.array).all()

def test_double_backward_refused():
    m = nn.LSTM(3, 4).double()
    x = tensor(np.ones((3, 2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match='create_graph=True'): m(x)[0].sum().backward(create_graph=True)
