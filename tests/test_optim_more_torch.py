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
    tm4, _, _, _ = make_models(); tm4.load_state_dict({k: torch.tensor(v) for k, v in pair.bm.state_dict().items()})
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
