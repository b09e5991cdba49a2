"""Tests of `backprop.diagnostics.ActivationStats`: recorded values equal hand computations on tiny models
(forward statistics, histograms, gradient norms, update ratios in both modes), no hook is left after a `with`
block, an exception, or a `Learner.fit`, the Learner-callback mode, and that every plot returns a Figure."""
import functools
import matplotlib
matplotlib.use('Agg')
import matplotlib.figure
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from hypothesis.extra import numpy as hnp

diagnostics = pytest.importorskip("backprop.diagnostics")
import backprop as bp  # noqa: E402
import backprop.optim  # noqa: E402,F401
from backprop import nn  # noqa: E402
from backprop.diagnostics import ActivationStats, LayerStats, _describe  # noqa: E402
from backprop.data import TensorDataset, DataLoader  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def no_hooks(model):
    "True when no module or parameter of `model` carries a hook."
    return (all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks and not m._backward_pre_hooks
                for m in model.modules()) and all(not p._hooks for p in model.parameters()))


def fixed_linear():
    lin = nn.Linear(2, 3)
    with bp.no_grad():
        lin.weight.array[...] = [[1., -1.], [0.5, 2.], [0., 0.]]
        lin.bias.array[...] = [0.1, -0.2, 0.]
    return lin


X = bp.tensor([[1., 2.], [3., -1.], [0., 0.5], [-2., 1.]])

# ---------------------------------------------------------------- forward statistics


@SETTINGS
@given(a=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6),
                    elements=st.floats(-20, 20, width=32)),
       thr=st.sampled_from([1e-3, 1e-2, 0.5]), signed=st.booleans())
def test_describe_matches_direct_computation(a, thr, signed):
    rng = (-10., 10.) if signed else (0., 10.)
    m, s, nz, dead, h = _describe(a, 7, rng, thr)
    flat = a.astype(np.float64).ravel()
    assert np.isclose(m, flat.mean()) and np.isclose(s, flat.std())
    assert nz == pytest.approx(np.mean([abs(v) < thr for v in a.ravel()]))   # compared in the layer's dtype, as the library does
    units = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)
    expect_dead = np.mean([all(abs(v) < thr for v in units[:, j]) for j in range(units.shape[1])]) if a.ndim > 1 \
        else float(all(abs(v) < thr for v in flat))
    assert dead == pytest.approx(expect_dead)
    vals = a.ravel() if signed else np.abs(a.ravel())
    edges = np.linspace(*rng, 8)
    expect_h = [sum(1 for v in vals if (lo <= v < hi) or (j == 6 and v == hi))
                for j, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
    assert list(h) == expect_h


def test_tiny_model_hand_computed():
    lin = fixed_linear()
    W0, b0 = lin.weight.array.astype(np.float64), lin.bias.array.astype(np.float64)
    opt = bp.optim.SGD(lin.parameters(), lr=0.1)
    with ActivationStats(lin, bins=5, hist_range=(0., 5.), dead_threshold=1e-2) as st_:
        y = lin(X)
        loss = (y * y).sum() / 2                     # dL/dy = y
        opt.zero_grad(); loss.backward(); opt.step()
    Y = X.array.astype(np.float64) @ W0.T + b0
    gW, gb = Y.T @ X.array, Y.sum(0)
    r = st_[0]
    assert isinstance(r, LayerStats) and st_[lin] is r and st_[''] is r
    np.testing.assert_allclose(r.mean, [Y.mean()], rtol=1e-6)
    np.testing.assert_allclose(r.std, [Y.std()], rtol=1e-6)
    np.testing.assert_allclose(r.near_zero, [1 / 3])   # the third column is exactly zero, no other value is small
    np.testing.assert_allclose(r.dead, [1 / 3])
    assert r.hist.shape == (1, 5) and (r.hist[0] == np.histogram(np.abs(Y), 5, (0, 5))[0]).all()
    np.testing.assert_allclose(r.grad_out_norm, [np.linalg.norm(Y)], rtol=1e-6)
    gnorm = np.sqrt((gW ** 2).sum() + (gb ** 2).sum())
    np.testing.assert_allclose(r.grad_norm, [gnorm], rtol=1e-6)
    np.testing.assert_allclose(r.update_ratio, [0.1 * gnorm / np.sqrt((W0 ** 2).sum() + (b0 ** 2).sum())], rtol=1e-5)
    assert no_hooks(lin)


def test_two_layer_gradients_match_autograd():
    bp.manual_seed(3)
    net = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    x = bp.randn(6, 5)
    # reference: retain the intermediate outputs' gradients
    h0 = net[0](x); h0.retain_grad(); h2 = net[2](net[1](h0)); h2.retain_grad()
    (h2 ** 2).mean().backward()
    ref = {'0': (h0.grad.array, [net[0].weight.grad.array, net[0].bias.grad.array]),
           '2': (h2.grad.array, [net[2].weight.grad.array, net[2].bias.grad.array])}
    net.zero_grad()
    with ActivationStats(net, updates=False) as st_:
        (net(x) ** 2).mean().backward()
    assert st_.names == ['0', '2']
    for name, (gout, gps) in ref.items():
        np.testing.assert_allclose(st_[name].grad_out_norm, [np.linalg.norm(gout)], rtol=1e-5)
        np.testing.assert_allclose(st_[name].grad_norm, [np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in gps))], rtol=1e-5)
        assert len(st_[name].update_ratio) == 0
    assert no_hooks(net)


def test_context_manager_update_ratio_is_actual_step_any_optimizer():
    lin = fixed_linear()
    opt = bp.optim.Adam(lin.parameters(), lr=0.05)
    flat = lambda: np.concatenate([lin.weight.array.ravel(), lin.bias.array]).astype(np.float64)
    ws = [flat()]
    with ActivationStats(lin) as st_:
        for _ in range(4):
            loss = (lin(X) ** 2).sum()
            opt.zero_grad(); loss.backward(); opt.step()
            ws.append(flat())
            with bp.no_grad(): lin(X)                # evaluation forward: not recorded
    ws = np.array(ws)
    expect = np.linalg.norm(np.diff(ws, axis=0), axis=1) / np.linalg.norm(ws[:-1], axis=1)
    np.testing.assert_allclose(st_[0].update_ratio, expect, rtol=1e-5)   # the last step is measured on exit
    assert len(st_[0].mean) == 4 and len(st_[0].grad_norm) == 4


def test_no_grad_forward_not_recorded_and_fresh_records_per_block():
    lin = fixed_linear()
    stats = ActivationStats(lin)
    with stats:
        with bp.no_grad(): lin(X)
    assert len(stats[0].mean) == 0
    with stats: lin(X)
    with stats: lin(X); lin(X)
    assert len(stats[0].mean) == 2                   # a new block starts fresh records


def test_hooks_removed_after_exception():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with pytest.raises(ZeroDivisionError):
        with ActivationStats(net):
            net(X).sum().backward()
            1 / 0
    assert no_hooks(net)


def test_user_hooks_survive():
    lin = fixed_linear()
    seen = []
    h = lin.register_forward_hook(lambda m, a, o: seen.append(1))
    with ActivationStats(lin): lin(X)
    lin(X)
    assert seen == [1, 1] and len(lin._forward_hooks) == 1
    h.remove()


def test_module_selection_and_errors():
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Sequential(nn.Linear(8, 8), nn.ReLU()), nn.Linear(8, 2))
    with ActivationStats(net) as s: assert s.names == ['0', '1', '3.0', '4']
    with ActivationStats(nn.ReLU, model=net) as s: assert s.names == ['2', '3.1']
    with ActivationStats((nn.ReLU, nn.BatchNorm1d), model=net) as s: assert s.names == ['1', '2', '3.1']
    with ActivationStats([net[4], net[0]], model=net) as s: assert s.names == ['4', '0']
    with pytest.raises(ValueError, match='pass model='): ActivationStats(nn.ReLU).hook()
    with pytest.raises(ValueError, match='no model'): ActivationStats().hook()
    with pytest.raises(ValueError, match='found no modules of type'): ActivationStats(nn.Tanh, model=net).hook()
    with pytest.raises(TypeError, match='must all be Modules'): ActivationStats([net[0], 3]).hook()
    with pytest.raises(TypeError, match='modules must be None'): ActivationStats('0')
    with pytest.raises(ValueError, match='bins'): ActivationStats(net, bins=0)
    with pytest.raises(ValueError, match='hist_range'): ActivationStats(net, hist_range=(2, 2))
    with pytest.raises(KeyError, match='no hooked layer'):
        with ActivationStats(net) as s: s['nope']
    assert no_hooks(net)


def test_conv_and_rnn_outputs():
    bp.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with ActivationStats(conv) as s: conv(bp.randn(3, 1, 5, 5)).sum().backward()
    assert s[0].hist.shape == (1, 40) and s[0].hist.sum() <= 3 * 2 * 3 * 3 and len(s[0].grad_norm) == 1
    rnn = nn.RNN(3, 4, batch_first=True)
    with ActivationStats(rnn) as s: rnn(bp.randn(2, 5, 3))[0].sum().backward()   # (output, h): the output is recorded
    assert s[0].hist.sum() == 2 * 5 * 4 and len(s[0].grad_norm) == 1
    assert no_hooks(conv) and no_hooks(rnn)

# ---------------------------------------------------------------- Learner callback


def _dls(n=40, bs=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    ds = TensorDataset(bp.tensor(x), bp.tensor(y))
    return DataLoader(ds, batch_size=bs, shuffle=True, seed=seed), DataLoader(ds, batch_size=n)


def test_learner_callback_exact_sgd_ratio_and_cleanup():
    learner = pytest.importorskip("backprop.learner")
    bp.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    norms = []

    class Norms(learner.Callback):
        def before_step(self):
            norms.append([np.sqrt(sum((p.array.astype(np.float64) ** 2).sum() for p in m.parameters())) for m in (net[0], net[2])])

    stats = ActivationStats()
    learn = learner.Learner(net, _dls(), nn.CrossEntropyLoss(), opt_func=bp.optim.SGD, lr=0.1, cbs=[stats, Norms()], progress=False)
    learn.fit(2)
    steps = 2 * len(learn.train_dl)
    assert stats.names == ['0', '2'] and learn.activation_stats is stats
    for r in stats:                                  # validation forwards are not recorded
        assert len(r.mean) == len(r.grad_norm) == len(r.grad_out_norm) == len(r.update_ratio) == steps
    ratios = np.stack([r.update_ratio for r in stats], 1)
    grads = np.stack([r.grad_norm for r in stats], 1)
    np.testing.assert_allclose(ratios, 0.1 * grads / np.array(norms), rtol=1e-4)
    assert no_hooks(net)
    learn.fit(1)                                     # a second fit records afresh
    assert len(stats[0].mean) == len(learn.train_dl) and no_hooks(net)


def test_learner_callback_with_momentum_and_type_filter():
    learner = pytest.importorskip("backprop.learner")
    bp.manual_seed(2)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    snaps = []

    class Snap(learner.Callback):
        order = 100
        def after_step(self): snaps.append(np.concatenate([net[0].weight.array.ravel(), net[0].bias.array]).astype(np.float64))

    acts, grads = ActivationStats(nn.ReLU), ActivationStats()
    w_start = np.concatenate([net[0].weight.array.ravel(), net[0].bias.array]).astype(np.float64)
    learn = learner.Learner(net, _dls(), nn.CrossEntropyLoss(), opt_func=functools.partial(bp.optim.SGD, momentum=0.9),
                            lr=0.05, cbs=[acts, grads, Snap()], progress=False)
    learn.fit(1)
    ws = np.array([w_start] + snaps)
    expect = np.linalg.norm(np.diff(ws, axis=0), axis=1) / np.linalg.norm(ws[:-1], axis=1)
    np.testing.assert_allclose(grads['0'].update_ratio, expect, rtol=1e-5)
    assert acts.names == ['1'] and len(acts[0].grad_norm) == 0 and len(acts[0].grad_out_norm) == len(learn.train_dl)
    assert no_hooks(net)


def test_learner_cancelled_fit_removes_hooks():
    learner = pytest.importorskip("backprop.learner")

    class Stop(learner.Callback):
        def after_batch(self): raise learner.CancelFit()

    net = nn.Sequential(nn.Linear(4, 2))
    stats = ActivationStats()
    learner.Learner(net, _dls(), nn.CrossEntropyLoss(), cbs=[stats, Stop()], progress=False).fit(3)
    assert len(stats[0].mean) == 1 and no_hooks(net)

# ---------------------------------------------------------------- plots


def test_plots_return_figures():
    bp.manual_seed(0)
    net = nn.Sequential(*[l for _ in range(12) for l in (nn.Linear(4, 4), nn.ReLU())])   # > 10 layers: no legend
    opt = bp.optim.SGD(net.parameters(), lr=0.1)
    with ActivationStats(net) as s, ActivationStats(nn.ReLU, model=net, hist_range=(-3., 3.)) as a:
        for _ in range(3):
            loss = (net(bp.randn(5, 4)) ** 2).mean(); opt.zero_grad(); loss.backward(); opt.step()
    figs = [s.plot_stats(), s.plot_stats(layers=[0, '2'], log_std=False), s.color_dim(), s.color_dim(layers=['0'], ncols=1),
            s.plot_grad_flow(), s.plot_grad_flow(over_time=True), s.plot_grad_flow(last=2), a.color_dim(), a.plot_grad_flow(),
            a.plot_stats()]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
    assert len(s.color_dim().axes) == 12                 # a 3 x 4 grid
    out = s.summary(last=2, show=False)
    assert set(out) == set(s.names) and np.isclose(out['0']['std'], s['0'].std[-2:].mean())
    with pytest.raises(ValueError, match='nothing recorded'): ActivationStats(net).color_dim()
