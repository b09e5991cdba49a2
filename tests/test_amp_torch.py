"PyTorch oracle for bp.amp.GradScaler: on scripted sequences of overflowing and normal steps it gives torch.amp.GradScaler's scales, skipped steps, parameters and state dicts; the Learner callback matches a torch AMP loop."
import warnings
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import backprop as bp
from backprop import nn, optim
from backprop.amp import GradScaler, MixedPrecision
from backprop.data import TensorDataset, DataLoader
from backprop.learner import Learner, GradientClip

pytestmark = pytest.mark.torch
inf, nan = float('inf'), float('nan')
GRADS = [[1., 2., 3.], [inf, 1., 1.], [1., 1., 1.], [0.5, 0.1, 1e-3], [1., 1., 1.], [nan, 0., 0.], [1., -1., 2.],
         [1e-6, 1e-7, 3.], [2., 2., 2.], [-inf, 1., 1.], [1., 1., 1.], [1., 1., 1.], [1., 1., 1.], [0., 0., 0.]]
CONFIGS = [dict(growth_interval=2), dict(growth_interval=3, init_scale=2.**20, growth_factor=4., backoff_factor=0.25),
           dict(), dict(init_scale=3.5, growth_interval=1, growth_factor=1.5, backoff_factor=0.3)]


def scripted(lib, kw, opt_name, mode, grads=GRADS):
    "Each step: scale() (a stand-in loss), set the gradient of S·loss by hand, then step/update; record everything."
    T = torch if lib == 'torch' else bp
    S = torch.amp.GradScaler('cpu', **kw) if lib == 'torch' else GradScaler('cpu', **kw)
    p = T.tensor(np.ones(3, np.float32), requires_grad=True)
    q = T.tensor(np.full((2, 2), 0.5, np.float32), requires_grad=True)
    opt = (getattr(torch.optim, opt_name) if lib == 'torch' else getattr(optim, opt_name))([p, q], lr=0.1)
    out = []
    for i, g in enumerate(grads):
        S.scale(T.tensor(np.float32(1.)))
        s = np.float32(S.get_scale())
        p.grad = T.tensor((np.asarray(g, np.float32) * s).astype(np.float32))
        q.grad = T.tensor((np.full((2, 2), 0.25 * (i + 1), np.float32) * s).astype(np.float32))
        if mode == 'unscale_clip':
            S.unscale_(opt)
            (torch.nn.utils if lib == 'torch' else bp.nn.utils).clip_grad_norm_([p, q], 1.0)
        S.step(opt)
        if mode == 'new_scale' and i == 6: S.update(1024.)
        else: S.update()
        arr = lambda t: np.array(t.detach().numpy() if lib == 'torch' else t.array)
        out.append((S.get_scale(), S.state_dict(), arr(p), arr(q)))
    return out


@pytest.mark.parametrize('kw', CONFIGS)
@pytest.mark.parametrize('opt_name', ['SGD', 'Adam'])
@pytest.mark.parametrize('mode', ['plain', 'unscale_clip', 'new_scale'])
def test_scripted_sequence_matches_torch(kw, opt_name, mode):
    with np.errstate(invalid='ignore', over='ignore'):
        a, b = scripted('torch', kw, opt_name, mode), scripted('bp', kw, opt_name, mode)
    for i, ((sa, da, pa, qa), (sb, db, pb, qb)) in enumerate(zip(a, b)):
        assert sa == sb and da == db, (i, sa, sb, da, db)                       # same scale, same growth tracker
        np.testing.assert_allclose(pb, pa, rtol=1e-6, atol=1e-6, err_msg=str(i))
        np.testing.assert_allclose(qb, qa, rtol=1e-6, atol=1e-6, err_msg=str(i))
        if i and np.isfinite(GRADS[i]).all() is np.False_: assert np.array_equal(pb, b[i - 1][2])   # skipped


def test_two_optimizers_share_one_scaler():
    "An inf in one optimiser's gradients skips only that optimiser's step, but backs off the shared scale."
    def run(lib):
        T, O = (torch, torch.optim) if lib == 'torch' else (bp, optim)
        S = torch.amp.GradScaler('cpu', growth_interval=2) if lib == 'torch' else GradScaler('cpu', growth_interval=2)
        a, b = T.tensor(np.ones(2, np.float32), requires_grad=True), T.tensor(np.ones(2, np.float32), requires_grad=True)
        oa, ob = O.SGD([a], lr=0.1), O.Adam([b], lr=0.1)
        rec = []
        for ga, gb in [(1., 1.), (inf, 1.), (1., 1.), (1., nan), (1., 1.), (1., 1.)]:
            S.scale(T.tensor(np.float32(1.))); s = S.get_scale()
            a.grad = T.tensor(np.full(2, ga * s, np.float32)); b.grad = T.tensor(np.full(2, gb * s, np.float32))
            S.step(oa); S.step(ob); S.update()
            rec.append((S.get_scale(), [float(x) for x in (a.detach() if lib == 'torch' else a).tolist()],
                        [float(x) for x in (b.detach() if lib == 'torch' else b).tolist()]))
        return rec
    with np.errstate(invalid='ignore'):
        ta, ba = run('torch'), run('bp')
    for (s1, a1, b1), (s2, a2, b2) in zip(ta, ba):
        assert s1 == s2
        np.testing.assert_allclose(a2, a1, rtol=1e-6); np.testing.assert_allclose(b2, b1, rtol=1e-6)


def mlp_pair(seed=0):
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    bm = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    bm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return tm, bm


def test_end_to_end_with_overflow_in_float32():
    "A scale at float32's limit: growth would give inf and is refused, a corrupt batch is skipped and backs off — as torch."
    tm, bm = mlp_pair()
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((12, 16, 3)).astype(np.float32), rng.standard_normal((12, 16, 2)).astype(np.float32)
    X[7, 3, 1] = np.inf                                                             # a corrupt batch
    ts, bs = torch.amp.GradScaler('cpu', init_scale=2.**127, growth_interval=3), GradScaler('cpu', init_scale=2.**127, growth_interval=3)
    to, bo = torch.optim.AdamW(tm.parameters(), lr=1e-2), optim.AdamW(bm.parameters(), lr=1e-2)
    scales = ([], [])
    with np.errstate(over='ignore', invalid='ignore'):
        for x, y in zip(X, Y):
            to.zero_grad(); ts.scale(((tm(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()).backward(); ts.step(to); ts.update()
            bo.zero_grad(); bs.scale(((bm(bp.tensor(x)) - bp.tensor(y)) ** 2).mean()).backward(); bs.step(bo); bs.update()
            scales[0].append(ts.get_scale()); scales[1].append(bs.get_scale())
    assert scales[0] == scales[1]
    assert scales[0][7] == scales[0][6] / 2 and max(scales[0]) == 2.**127          # the bad batch backs off; 2**128 = inf is never reached
    for (k, t), b in zip(tm.state_dict().items(), bm.state_dict().values()):
        np.testing.assert_allclose(np.asarray(b.array if hasattr(b, 'array') else b), t.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_state_dict_across_libraries():
    ts = torch.amp.GradScaler('cpu', init_scale=2.**10, growth_interval=5)
    ts.scale(torch.tensor(1.))
    p = torch.zeros(1, requires_grad=True); o = torch.optim.SGD([p], lr=0.1)
    for _ in range(3): p.grad = torch.ones(1); ts.step(o); ts.update()
    bs = GradScaler('cpu'); bs.load_state_dict(ts.state_dict())
    assert bs.state_dict() == ts.state_dict()
    t2 = torch.amp.GradScaler('cpu'); t2.load_state_dict(bs.state_dict()); assert t2.state_dict() == ts.state_dict()
    # both continue the same way: two more clean steps reach the growth interval
    q = bp.zeros(1, requires_grad=True); oq = optim.SGD([q], lr=0.1)
    bs.scale(bp.tensor(1.))
    for _ in range(2):
        p.grad = torch.ones(1); ts.step(o); ts.update()
        q.grad = bp.ones(1); bs.step(oq); bs.update()
    assert bs.state_dict() == ts.state_dict() and bs.get_scale() == 2.**11


def test_errors_and_disabled_like_torch():
    for lib in ('torch', 'bp'):
        T, O = (torch, torch.optim) if lib == 'torch' else (bp, optim)
        mk = (lambda **kw: torch.amp.GradScaler('cpu', **kw)) if lib == 'torch' else (lambda **kw: GradScaler('cpu', **kw))
        p = T.zeros(2, requires_grad=True); o = O.SGD([p], lr=0.1)
        S = mk()
        with pytest.raises(AssertionError, match='did not use scaler.scale'): S.step(o)
        S.scale(T.ones(1)); p.grad = T.ones(2)
        S.unscale_(o)
        with pytest.raises(RuntimeError, match='unscale_\\(\\) has already been called'): S.unscale_(o)
        S.step(o)
        with pytest.raises(RuntimeError, match='step\\(\\) has already been called'): S.step(o)
        with pytest.raises(RuntimeError, match='unscale_\\(\\) is being called after step'): S.unscale_(o)
        with pytest.raises(RuntimeError, match='Closure use is not currently supported'): S.step(o, closure=lambda: 0)
        S.update()
        with pytest.raises(AssertionError, match='No inf checks were recorded prior to update'): S.update()
        with pytest.raises(AssertionError, match='growth factor must be > 1.0'): mk(growth_factor=1.)
        with pytest.raises(AssertionError, match='backoff factor must be < 1.0'): mk(backoff_factor=1.)
        with pytest.raises(RuntimeError, match='source state dict is empty'): mk().load_state_dict({})
        off = mk(enabled=False)
        assert (off.is_enabled(), off.get_scale(), off.state_dict()) == (False, 1.0, {})
        x = T.ones(1); assert off.scale(x) is x
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            d = torch.amp.GradScaler() if lib == 'torch' else GradScaler()
        assert not d.is_enabled() and any('CUDA is not available' in str(m.message) for m in w)
    tl = torch.amp.GradScaler('cpu').scale([torch.ones(1), (torch.ones(2) * 2,)])
    bl = GradScaler('cpu').scale([bp.ones(1), (bp.ones(2) * 2,)])
    assert type(bl) is list and type(bl[1]) is tuple
    np.testing.assert_array_equal(bl[1][0].array, tl[1][0].numpy())


def test_mixed_precision_callback_matches_torch_loop():
    "Learner + MixedPrecision (+ GradientClip) = a PyTorch AMP loop with unscale_ and clip_grad_norm_, on batches with overflows."
    tm, bm = mlp_pair(1)
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((96, 3)).astype(np.float32), rng.standard_normal((96, 2)).astype(np.float32)
    X[40, 0] = np.inf                                                               # batch 2 overflows
    kw = dict(init_scale=2.**126, growth_interval=4)
    mp = MixedPrecision(GradScaler('cpu', **kw))
    dl = DataLoader(TensorDataset(bp.tensor(X), bp.tensor(Y)), batch_size=16)
    learn = Learner(bm, (dl, None), nn.MSELoss(), opt_func=optim.Adam, lr=1e-2, cbs=[mp, GradientClip(1.)], progress=False)
    ts, to = torch.amp.GradScaler('cpu', **kw), torch.optim.Adam(tm.parameters(), lr=1e-2)
    tscales, tskip = [], []
    with np.errstate(over='ignore', invalid='ignore'):
        learn.fit(2)
        for _ in range(2):
            for i in range(0, 96, 16):
                to.zero_grad()
                ts.scale(torch.nn.functional.mse_loss(tm(torch.tensor(X[i:i + 16])), torch.tensor(Y[i:i + 16]))).backward()
                ts.unscale_(to); torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.)
                tskip.append(bool(sum(v.item() for v in ts._found_inf_per_device(to).values())))
                ts.step(to); ts.update(); tscales.append(ts.get_scale())
    assert mp.scales == tscales and mp.skipped == tskip and sum(tskip) == 2          # the bad batch, once per epoch
    for (k, t), b in zip(tm.state_dict().items(), bm.state_dict().values()):
        np.testing.assert_allclose(np.asarray(b.array if hasattr(b, 'array') else b), t.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_mixed_precision_state_in_learner_checkpoint(tmp_path):
    "The scaler's state goes into Learner checkpoints, so a resumed run continues with the same scale."
    def make():
        bp.manual_seed(0)
        dl = DataLoader(TensorDataset(bp.randn(64, 3), bp.randn(64, 2)), batch_size=16, shuffle=True, seed=0)
        mp = MixedPrecision(GradScaler('cpu', init_scale=2.**126, growth_interval=2))
        return Learner(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), (dl, None), nn.MSELoss(), cbs=[mp], progress=False), mp
    with np.errstate(over='ignore', invalid='ignore'):
        a, ma = make(); a.fit(4)
        b, mb = make(); b.fit(2); b.save(tmp_path / 'ck.npz')
        assert bp.load(tmp_path / 'ck.npz')['callbacks']['mixed_precision'] == mb.scaler.state_dict()
        c, mc = make(); c.load(tmp_path / 'ck.npz'); c.fit(4, start_epoch=c.epoch)
    assert mc.scales == ma.scales[-len(mc.scales):]
    for x, y in zip(a.model.parameters(), c.model.parameters()): assert np.array_equal(x.array, y.array)
