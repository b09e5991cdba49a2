"PyTorch oracle for the later optimisers (Adadelta, Adamax, NAdam, RAdam, Rprop, LBFGS): same trajectory from shared weights, param groups, state dicts (layout, resume, across libraries), options' errors."
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from backprop import optim
from backprop.core import tensor
from backprop.nn.module import Sequential
from backprop.nn.layers import Linear, Tanh
from backprop.serialization import save, load

pytestmark = pytest.mark.torch
TOL = {np.float64: dict(rtol=1e-9, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-5)}
STEPS = 30
CONFIGS = {
    'Adadelta': [dict(), dict(lr=0.5, rho=0.8, eps=1e-5), dict(weight_decay=0.1, maximize=True)],
    'Adamax': [dict(), dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.05), dict(lr=1e-2, maximize=True, eps=1e-6)],
    'NAdam': [dict(), dict(lr=1e-2, momentum_decay=0.01), dict(lr=1e-2, weight_decay=0.05),
              dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)],
    'RAdam': [dict(), dict(lr=1e-2, betas=(0.8, 0.99)), dict(lr=1e-2, weight_decay=0.05),
              dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)],
    'Rprop': [dict(), dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-4, 0.1)), dict(lr=0.02, maximize=True)],
}
CASES = [(n, kw) for n, kws in CONFIGS.items() for kw in kws]
GROUP_OPTS = {'Adadelta': dict(rho=0.5), 'Adamax': dict(betas=(0.5, 0.9)), 'NAdam': dict(momentum_decay=0.1),
              'RAdam': dict(betas=(0.5, 0.9)), 'Rprop': dict(etas=(0.4, 1.1))}


def make_models(dtype=np.float64, seed=0):
    "A torch MLP and a backprop copy with identical weights, plus regression data."
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).to(torch.float64 if dtype == np.float64 else torch.float32)
    bm = Sequential(Linear(3, 5), Tanh(), Linear(5, 2))
    if dtype == np.float64: bm = bm.double()
    bm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(seed)
    return tm, bm, rng.standard_normal((16, 3)).astype(dtype), rng.standard_normal((16, 2)).astype(dtype)


def spec(model, name, kw, groups):
    ps = list(model.parameters())
    if not groups: return ps
    return [{'params': ps[:2], 'lr': kw.get('lr', 1e-2) / 3}, {'params': ps[2:], **GROUP_OPTS[name]}]


def loss_of(model, X, Y, sign): return sign * ((model(X) - Y) ** 2).mean()


class Pair:
    "The same training run in torch and in backprop."
    def __init__(self, name, kw, groups=False, dtype=np.float64, seed=0):
        self.name, self.kw, self.dtype, self.sign = name, kw, dtype, (-1. if kw.get('maximize') else 1.)
        self.tm, self.bm, X, Y = make_models(dtype, seed)
        self.tX, self.tY, self.bX, self.bY = torch.tensor(X), torch.tensor(Y), tensor(X), tensor(Y)
        self.topt = getattr(torch.optim, name)(spec(self.tm, name, kw, groups), **kw)
        self.bopt = getattr(optim, name)(spec(self.bm, name, kw, groups), **kw)
    def step_torch(self, model=None, opt=None):
        model, opt = model or self.tm, opt or self.topt
        opt.zero_grad(); loss_of(model, self.tX, self.tY, self.sign).backward(); opt.step()
    def step_bp(self, model=None, opt=None):
        model, opt = model or self.bm, opt or self.bopt
        opt.zero_grad(); loss_of(model, self.bX, self.bY, self.sign).backward(); opt.step()
    def check(self, model=None, tmodel=None):
        for t, b in zip((tmodel or self.tm).parameters(), (model or self.bm).parameters()):
            np.testing.assert_allclose(b.array, t.detach().numpy(), **TOL[self.dtype], err_msg=f'{self.name} {self.kw}')


def np_of(v): return np.array(v.array if hasattr(v, 'array') else v)


SCALARS = ('step', 'mu_product')
def torch_sd_to_np(sd):
    conv = lambda k, v: float(v.item()) if k in SCALARS else v.detach().numpy().copy() if torch.is_tensor(v) else v
    return {'state': {i: {k: conv(k, v) for k, v in s.items()} for i, s in sd['state'].items()},
            'param_groups': [dict(g) for g in sd['param_groups']]}


def np_sd_to_torch(sd):
    conv = lambda k, v: torch.tensor(float(v)) if k in SCALARS else torch.tensor(v) if isinstance(v, np.ndarray) else v
    return {'state': {i: {k: conv(k, v) for k, v in s.items()} for i, s in sd['state'].items()},
            'param_groups': [dict(g) for g in sd['param_groups']]}


@pytest.mark.parametrize('name,kw', CASES, ids=[f'{n}-{kw}' for n, kw in CASES])
def test_trajectory_float64(name, kw):
    pair = Pair(name, kw)
    for _ in range(STEPS): pair.step_torch(); pair.step_bp()
    pair.check()


@pytest.mark.parametrize('name', list(CONFIGS))
def test_param_groups_and_float32(name):
    pair = Pair(name, CONFIGS[name][1], groups=True, seed=1)
    assert [g['lr'] for g in pair.bopt.param_groups] == [g['lr'] for g in pair.topt.param_groups]
    for _ in range(STEPS): pair.step_torch(); pair.step_bp()
    pair.check()
    pair = Pair(name, CONFIGS[name][-1], dtype=np.float32, seed=2)
    for _ in range(STEPS): pair.step_torch(); pair.step_bp()
    pair.check()
    for s in pair.bopt.state.values():
        for v in s.values():
            if isinstance(v, np.ndarray): assert v.dtype == np.float32


@pytest.mark.parametrize('name', list(CONFIGS))
def test_state_dict_layout_matches_torch(name):
    pair = Pair(name, CONFIGS[name][-1], groups=True)
    for _ in range(3): pair.step_torch(); pair.step_bp()
    tsd, bsd = torch_sd_to_np(pair.topt.state_dict()), pair.bopt.state_dict()
    assert sorted(tsd['state']) == sorted(bsd['state'])
    for i in tsd['state']:
        assert set(tsd['state'][i]) == set(bsd['state'][i])
        for k, v in tsd['state'][i].items(): np.testing.assert_allclose(bsd['state'][i][k], v, rtol=1e-6)
    for tg, bg in zip(tsd['param_groups'], bsd['param_groups']):
        assert set(bg) <= set(tg), set(bg) - set(tg)
        norm = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v
        assert {k: norm(bg[k]) for k in bg} == {k: norm(tg[k]) for k in bg}


@pytest.mark.parametrize('name', list(CONFIGS))
def test_state_dict_resume_and_across_libraries(name, tmp_path):
    "Save mid-run through bp.save and resume; load torch's state into backprop and backprop's into torch: all continue on torch's path."
    kw = CONFIGS[name][-1]
    pair = Pair(name, kw, groups=True)
    for _ in range(10): pair.step_torch(); pair.step_bp()
    save(pair.bopt.state_dict(), tmp_path / 'opt.npz')
    _, bm2, _, _ = make_models(); bm2.load_state_dict(pair.bm.state_dict())
    opt2 = getattr(optim, name)(spec(bm2, name, kw, True), **kw); opt2.load_state_dict(load(tmp_path / 'opt.npz'))
    _, bm3, _, _ = make_models(); bm3.load_state_dict({k: v.detach().numpy().copy() for k, v in pair.tm.state_dict().items()})
    opt3 = getattr(optim, name)(spec(bm3, name, kw, True), **kw); opt3.load_state_dict(torch_sd_to_np(pair.topt.state_dict()))
    tm4, _, _, _ = make_models(); tm4.load_state_dict({k: torch.tensor(np_of(v)) for k, v in pair.bm.state_dict().items()})
    topt4 = getattr(torch.optim, name)(spec(tm4, name, kw, True), **kw); topt4.load_state_dict(np_sd_to_torch(pair.bopt.state_dict()))
    for _ in range(10):
        pair.step_torch(); pair.step_bp(); pair.step_bp(bm2, opt2); pair.step_bp(bm3, opt3); pair.step_torch(tm4, topt4)
    for a, b in zip(pair.bm.parameters(), bm2.parameters()): np.testing.assert_array_equal(a.array, b.array)
    pair.check(bm2); pair.check(bm3); pair.check(tmodel=tm4)


@pytest.mark.parametrize('name,kw,msg', [
    ('Adadelta', dict(rho=1.5), 'Invalid rho value'), ('Adadelta', dict(lr=-1.), 'Invalid learning rate'),
    ('Adamax', dict(betas=(1.0, 0.9)), 'Invalid beta parameter at index 0'), ('Adamax', dict(eps=-1.), 'Invalid epsilon'),
    ('NAdam', dict(momentum_decay=-1.), 'Invalid momentum_decay'), ('NAdam', dict(betas=(0.9, 1.0)), 'Invalid beta parameter at index 1'),
    ('RAdam', dict(weight_decay=-1.), 'Invalid weight_decay'), ('Rprop', dict(etas=(1.5, 1.2)), 'Invalid eta values'),
    ('LBFGS', dict(lr=-1.), 'Invalid learning rate'),
])
def test_invalid_options_raise_like_torch(name, kw, msg):
    with pytest.raises(ValueError, match=msg): getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=msg): getattr(optim, name)([tensor([0.], requires_grad=True)], **kw)


def test_defaults_match_torch():
    for name in list(CONFIGS) + ['LBFGS']:
        t = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)]).defaults
        b = getattr(optim, name)([tensor([0.], requires_grad=True)]).defaults
        for k, v in b.items(): assert (tuple(t[k]) if isinstance(t[k], (list, tuple)) else t[k]) == v, (name, k)


# ------------------------------------------------------------------ L-BFGS, with a closure

def lbfgs_pair(kw, dtype=np.float64, seed=0):
    tm, bm, X, Y = make_models(dtype, seed)
    tX, tY, bX, bY = torch.tensor(X), torch.tensor(Y), tensor(X), tensor(Y)
    topt, bopt = torch.optim.LBFGS(tm.parameters(), **kw), optim.LBFGS(list(bm.parameters()), **kw)
    def tclosure():
        topt.zero_grad(); loss = ((tm(tX) - tY) ** 2).mean(); loss.backward(); return loss
    def bclosure():
        bopt.zero_grad(); loss = ((bm(bX) - bY) ** 2).mean(); loss.backward(); return loss
    return tm, bm, topt, bopt, tclosure, bclosure


@pytest.mark.parametrize('kw', [dict(), dict(lr=0.5, max_iter=5, history_size=3), dict(line_search_fn='strong_wolfe'),
                                dict(line_search_fn='strong_wolfe', max_iter=7, history_size=2, max_eval=9)])
def test_lbfgs_matches_torch(kw):
    tm, bm, topt, bopt, tclosure, bclosure = lbfgs_pair(kw)
    for _ in range(4):
        lt, lb = topt.step(tclosure), bopt.step(bclosure)
        np.testing.assert_allclose(float(lb.item()), float(lt.item()), rtol=1e-9)
    for t, b in zip(tm.parameters(), bm.parameters()): np.testing.assert_allclose(b.array, t.detach().numpy(), rtol=1e-7, atol=1e-9)
    ts, bs = topt.state[next(iter(tm.parameters()))], bopt.state[next(iter(bm.parameters()))]
    assert (ts['n_iter'], ts['func_evals']) == (bs['n_iter'], bs['func_evals'])
    assert len(ts['old_dirs']) == len(bs['old_dirs'])
    np.testing.assert_allclose(bs['d'], ts['d'].numpy(), rtol=1e-6, atol=1e-7 * np.abs(bs['d']).max())


def test_lbfgs_float32_and_resume(tmp_path):
    tm, bm, topt, bopt, tclosure, bclosure = lbfgs_pair(dict(line_search_fn='strong_wolfe', max_iter=5), np.float32, seed=3)
    for _ in range(2): topt.step(tclosure); bopt.step(bclosure)
    for t, b in zip(tm.parameters(), bm.parameters()): np.testing.assert_allclose(b.array, t.detach().numpy(), rtol=1e-3, atol=1e-4)
    # state dict through a file: a copy continues exactly as the original
    tm2, bm2, _, bopt2, _, bclosure2 = lbfgs_pair(dict(line_search_fn='strong_wolfe', max_iter=5), np.float32, seed=3)
    bm2.load_state_dict(bm.state_dict())
    save(bopt.state_dict(), tmp_path / 'lbfgs.npz'); bopt2.load_state_dict(load(tmp_path / 'lbfgs.npz'))
    for _ in range(2): bopt.step(bclosure); bopt2.step(bclosure2)
    for a, b in zip(bm.parameters(), bm2.parameters()): np.testing.assert_array_equal(a.array, b.array)


def test_lbfgs_rejects_groups_like_torch():
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"): torch.optim.LBFGS([{'params': [a]}, {'params': [b]}])
    x, y = tensor([0.], requires_grad=True), tensor([0.], requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"): optim.LBFGS([{'params': [x]}, {'params': [y]}])
    with pytest.raises(ValueError, match="only 'strong_wolfe'"): optim.LBFGS([x], line_search_fn='armijo')


# ------------------------------------------------------------------ the later schedulers: same lr (and momentum) sequences as torch

import warnings
from torch.optim import lr_scheduler as TL
from backprop.optim import lr_scheduler as BL


def sched_opts(name='SGD', lrs=(0.1, 0.03), **kw):
    t = getattr(torch.optim, name)([{'params': [torch.zeros(2, requires_grad=True)], 'lr': lr} for lr in lrs], **kw)
    b = getattr(optim, name)([{'params': [tensor([0., 0.], requires_grad=True)], 'lr': lr} for lr in lrs], **kw)
    return t, b


def snap(s):
    gs = s.optimizer.param_groups
    return (list(map(float, s.get_last_lr())), [float(g['lr']) for g in gs],
            [float(g['momentum']) if 'momentum' in g else float(g['betas'][0]) for g in gs])


def trace(s, n, metrics=None):
    out = [snap(s)]
    for i in range(n):
        s.optimizer.step()
        s.step() if metrics is None else s.step(metrics[i])
        out.append(snap(s))
    return out


class Mul:
    "A callable object (its __dict__ is saved in the state dict, as PyTorch does)."
    def __init__(self, f): self.f = f
    def __call__(self, e): return self.f if e % 2 else 1.


SCHEDS = {
    'MultiStepLR': (lambda L, o: L.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.5), 14),
    'ConstantLR': (lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=4), 8),
    'ConstantLR-default': (lambda L, o: L.ConstantLR(o), 8),
    'PolynomialLR': (lambda L, o: L.PolynomialLR(o, total_iters=6, power=2.), 9),
    'PolynomialLR-default': (lambda L, o: L.PolynomialLR(o), 7),
    'MultiplicativeLR': (lambda L, o: L.MultiplicativeLR(o, lambda e: 0.9 if e % 2 else 0.95), 8),
    'MultiplicativeLR-obj': (lambda L, o: L.MultiplicativeLR(o, [Mul(0.9), Mul(0.5)]), 8),
    'CAWR': (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001), 25),
    'CAWR-1': (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=4), 13),
    'CyclicLR': (lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=2), 20),
    'CyclicLR-2': (lambda L, o: L.CyclicLR(o, [0.01, 0.02], 0.1, step_size_up=2, mode='triangular2', base_momentum=[0.7, 0.8]), 20),
    'CyclicLR-exp': (lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=2, mode='exp_range', gamma=0.9, cycle_momentum=False), 20),
    'CyclicLR-fn': (lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=2, scale_fn=lambda x: 1 / (1 + x), scale_mode='iterations'), 12),
    'Chained': (lambda L, o: L.ChainedScheduler([L.ConstantLR(o, factor=0.5, total_iters=3), L.ExponentialLR(o, gamma=0.9)]), 10),
    'Chained-three': (lambda L, o: L.ChainedScheduler([L.MultiStepLR(o, [3, 6]), L.PolynomialLR(o, 8), L.ConstantLR(o, 0.5, 2)]), 10),
    'Sequential-multistep': (lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.1, 4), L.MultiStepLR(o, [3, 5])], milestones=[4]), 12),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize('key', list(SCHEDS))
@pytest.mark.parametrize('opt_name,opt_kw', [('SGD', dict(momentum=0.9)), ('Adam', {})])
def test_scheduler_sequence_matches_torch(key, opt_name, opt_kw):
    make, n = SCHEDS[key]
    to, bo = sched_opts(opt_name, **opt_kw)
    assert trace(make(BL, bo), n) == trace(make(TL, to), n)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize('key', list(SCHEDS))
def test_scheduler_state_dict_resume(key, tmp_path):
    "Save scheduler and optimiser state (through bp.save), rebuild, load: the rest equals the uninterrupted run and torch's."
    make, n = SCHEDS[key]
    to, bo = sched_opts(momentum=0.9)
    ts, bs = make(TL, to), make(BL, bo)
    at = n // 2
    trace(ts, at); trace(bs, at)
    save({'s': bs.state_dict(), 'o': bo.state_dict()}, tmp_path / 'ck.npz'); ck = load(tmp_path / 'ck.npz')
    _, bo2 = sched_opts(momentum=0.9); bs2 = make(BL, bo2)
    bs2.load_state_dict(ck['s']); bo2.load_state_dict(ck['o'])
    rest, rest2, trest = trace(bs, n - at), trace(bs2, n - at), trace(ts, n - at)
    assert rest2 == rest == trest
    # torch's own state dict resumes a backprop scheduler too
    _, bo3 = sched_opts(momentum=0.9); bs3 = make(BL, bo3)
    to_, bo_ = sched_opts(momentum=0.9); ts_ = make(TL, to_); trace(ts_, at)
    bs3.load_state_dict(ts_.state_dict())
    bo3.load_state_dict({'state': {}, 'param_groups': [dict(g) for g in to_.state_dict()['param_groups']]})
    assert trace(bs3, n - at) == trace(ts_, n - at)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_scheduler_state_dict_keys_match_torch():
    for key, (make, _) in SCHEDS.items():
        to, bo = sched_opts(momentum=0.9)
        tk = set(make(TL, to).state_dict()) - {'_get_lr_called_within_step'}
        assert set(make(BL, bo).state_dict()) == tk, key


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize('key', ['MultiStepLR', 'ConstantLR', 'PolynomialLR'])
def test_scheduler_step_with_epoch_uses_closed_form_like_torch(key):
    make, _ = SCHEDS[key]
    to, bo = sched_opts()
    ts, bs = make(TL, to), make(BL, bo)
    for e in (3, 5, 2, 11, 1):
        ts.step(e); bs.step(e); assert snap(bs) == snap(ts)
    for _ in range(3): ts.step(); bs.step(); assert snap(bs) == snap(ts)


def test_cawr_fractional_epochs_like_torch():
    to, bo = sched_opts()
    ts, bs = TL.CosineAnnealingWarmRestarts(to, T_0=3, T_mult=2, eta_min=0.01), BL.CosineAnnealingWarmRestarts(bo, T_0=3, T_mult=2, eta_min=0.01)
    for e in np.arange(0, 25, 0.3).tolist() + [4, 2.5, 30.]:
        ts.step(e); bs.step(e); assert snap(bs) == snap(ts)
    for _ in range(5): ts.step(); bs.step(); assert snap(bs) == snap(ts)
    with pytest.raises(ValueError, match='Expected non-negative epoch'): bs.step(-1)


METRICS = [5, 4, 4.1, 4.0, 3.9996, 3, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 2.9, 3., 3., 3., 3., 3.]
@pytest.mark.parametrize('kw', [dict(), dict(factor=0.5, patience=2), dict(mode='max', patience=0, cooldown=2),
                                dict(patience=1, threshold=0.1, threshold_mode='abs', min_lr=[0.02, 0.001]),
                                dict(mode='max', threshold_mode='abs', patience=1, factor=0.3, eps=0.02)])
def test_reduce_on_plateau_matches_torch(kw, tmp_path):
    to, bo = sched_opts(momentum=0.9)
    ts, bs = TL.ReduceLROnPlateau(to, **kw), BL.ReduceLROnPlateau(bo, **kw)
    m = METRICS if kw.get('mode') != 'max' else [-x for x in METRICS]
    assert trace(bs, 10, m) == trace(ts, 10, m)
    save(bs.state_dict(), tmp_path / 's.npz')
    _, bo2 = sched_opts(momentum=0.9); bo2.load_state_dict(bo.state_dict())
    bs2 = BL.ReduceLROnPlateau(bo2, **kw); bs2.load_state_dict(load(tmp_path / 's.npz'))
    rest = trace(bs, len(m) - 10, m[10:])
    assert trace(bs2, len(m) - 10, m[10:]) == rest == trace(ts, len(m) - 10, m[10:])
    assert set(bs.state_dict()) == set(ts.state_dict()) - {'_get_lr_called_within_step'}


def test_scheduler_errors_like_torch():
    to, bo = sched_opts()
    for L, o in ((TL, to), (BL, bo)):
        with pytest.raises(ValueError, match='Factor should be < 1.0'): L.ReduceLROnPlateau(o, factor=1.)
        with pytest.raises(ValueError, match='unknown'): L.ReduceLROnPlateau(o, mode='maximum')
        with pytest.raises(ValueError, match='Constant multiplicative factor expected to be between 0 and 1'): L.ConstantLR(o, factor=1.5)
        with pytest.raises(ValueError, match='Expected positive integer T_0'): L.CosineAnnealingWarmRestarts(o, T_0=0)
        with pytest.raises(ValueError, match='Expected integer T_mult >= 1'): L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0)
        with pytest.raises(ValueError, match='mode is invalid and scale_fn is None'): L.CyclicLR(o, 0.1, 1., mode='saw', cycle_momentum=False)
        with pytest.raises(ValueError, match='does not support `ReduceLROnPlateau`'): L.ChainedScheduler([L.ReduceLROnPlateau(o)])
        with pytest.raises(TypeError, match='lr_lambda should be a function'): L.MultiplicativeLR(o, 0.9)
    ta, ba = sched_opts('Adagrad')
    for L, o in ((TL, ta), (BL, ba)):
        with pytest.raises(ValueError, match='optimizer must support momentum'): L.CyclicLR(o, 0.1, 1.)


# ------------------------------------------------------------------ in-place updates bump the version counter (issue: GAN / multi-loss pattern)

ALL_OPTS = ['SGD', 'Adam', 'AdamW', 'RMSprop', 'Adagrad'] + list(CONFIGS)


@pytest.mark.parametrize('name', ALL_OPTS)
def test_step_between_forward_and_backward_raises_like_torch(name):
    "optimizer.step() between a forward and its backward modifies a saved input: both libraries refuse the backward."
    for lib in ('torch', 'bp'):
        T, O = (torch, torch.optim) if lib == 'torch' else (__import__('backprop'), optim)
        w = T.tensor(np.ones(3), requires_grad=True); x = T.tensor(np.full(3, 2.), requires_grad=True)
        y = (w * x).sum()
        o = getattr(O, name)([w], lr=0.1); w.grad = T.ones(3, dtype=w.dtype); o.step()
        with pytest.raises(RuntimeError, match='modified by an inplace operation'): y.backward()


def test_lbfgs_and_nn_utils_bump_versions():
    import backprop as bp
    from backprop.nn.utils import vector_to_parameters, clip_grad_norm_, clip_grad_value_
    w = bp.tensor(np.ones(3), requires_grad=True)
    o = optim.LBFGS([w], max_iter=2)
    def closure():
        o.zero_grad(); l = ((w - 3.) ** 2).sum(); l.backward(); return l
    v = w._version; o.step(closure); assert w._version > v
    v = w._version; vector_to_parameters(bp.tensor(np.zeros(3)), [w]); assert w._version > v and (w.array == 0).all()
    w.grad = bp.tensor(np.full(3, 10.))
    g = w.grad; v = g._version; clip_grad_norm_([w], 1.); assert g._version > v
    v = g._version; clip_grad_value_([w], 0.1); assert g._version > v
