"PyTorch oracle for backprop.optim: every optimiser and option follows torch.optim's trajectory on the same MLP, and state dicts resume (also across libraries)."
import os, tempfile, warnings
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import backprop as bp
from backprop import optim
from backprop.core import tensor
from backprop.nn.module import Sequential
from backprop.nn.layers import Linear, Tanh
from backprop.serialization import save, load

pytestmark = pytest.mark.torch
TOL = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}
STEPS = 50

CONFIGS = {
    'SGD': [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
            dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.1, weight_decay=0.05),
            dict(lr=0.05, momentum=0.5, maximize=True), dict(lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.1)],
    'RMSprop': [dict(), dict(lr=3e-3, centered=True), dict(lr=1e-3, momentum=0.9), dict(lr=2e-3, alpha=0.9, eps=1e-6),
                dict(lr=1e-3, centered=True, momentum=0.5, weight_decay=0.01), dict(lr=1e-3, maximize=True)],
    'Adagrad': [dict(lr=0.1), dict(lr=0.1, lr_decay=0.05), dict(lr=0.1, initial_accumulator_value=0.3),
                dict(lr=0.05, weight_decay=0.02, eps=1e-6), dict(lr=0.05, maximize=True)],
    'Adam': [dict(lr=1e-2), dict(lr=1e-2, amsgrad=True), dict(lr=1e-2, weight_decay=0.05), dict(lr=1e-2, betas=(0.8, 0.99)),
             dict(lr=1e-2, maximize=True), dict(lr=5e-3, amsgrad=True, weight_decay=0.1, eps=1e-6),
             dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)],
    'AdamW': [dict(), dict(lr=1e-2, weight_decay=0.1), dict(lr=1e-2, amsgrad=True), dict(lr=1e-2, maximize=True, betas=(0.85, 0.95))],
}
CASES = [(name, kw) for name, kws in CONFIGS.items() for kw in kws]
GROUP_OPTS = {'SGD': dict(momentum=0.5), 'RMSprop': dict(centered=True), 'Adagrad': dict(lr_decay=0.1),
              'Adam': dict(betas=(0.5, 0.9)), 'AdamW': dict(weight_decay=0.3)}


def make_models(dtype=np.float64, seed=0):
    "A torch MLP and a backprop copy with identical weights, plus regression data."
    torch.manual_seed(seed)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).to(tdt)
    bm = Sequential(Linear(3, 5), Tanh(), Linear(5, 2))
    if dtype == np.float64: bm = bm.double()
    bm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((16, 3)).astype(dtype), rng.standard_normal((16, 2)).astype(dtype)
    return tm, bm, X, Y


def param_spec(model, name, kw, groups):
    "All parameters, or two groups (first layer at a smaller lr; second layer with other options)."
    ps = list(model.parameters())
    if not groups: return ps
    lr = kw.get('lr', 1e-2)
    return [{'params': ps[:2], 'lr': lr / 3}, {'params': ps[2:], **GROUP_OPTS[name]}]


class Pair:
    "The same training run in torch and in backprop."
    def __init__(self, name, kw, groups=False, dtype=np.float64, seed=0):
        self.name, self.kw, self.dtype = name, kw, dtype
        self.tm, self.bm, X, Y = make_models(dtype, seed)
        self.sign = -1. if kw.get('maximize') else 1.
        self.tX, self.tY, self.bX, self.bY = torch.tensor(X), torch.tensor(Y), tensor(X), tensor(Y)
        self.topt = getattr(torch.optim, name)(param_spec(self.tm, name, kw, groups), **kw)
        self.bopt = getattr(optim, name)(param_spec(self.bm, name, kw, groups), **kw)

    def step_torch(self):
        self.topt.zero_grad()
        (self.sign * ((self.tm(self.tX) - self.tY) ** 2).mean()).backward()
        self.topt.step()

    def step_bp(self, model=None, opt=None):
        model, opt = model or self.bm, opt or self.bopt
        opt.zero_grad()
        (self.sign * ((model(self.bX) - self.bY) ** 2).mean()).backward()
        opt.step()

    def check(self, model=None):
        for (k, t), b in zip(self.tm.named_parameters(), (model or self.bm).parameters()):
            np.testing.assert_allclose(b.array, t.detach().numpy(), **TOL[self.dtype], err_msg=f'{self.name} {self.kw} {k}')


def torch_sd_to_np(sd):
    "A torch optimiser state dict with numpy arrays / floats instead of tensors."
    conv = lambda k, v: float(v.item()) if k == 'step' else v.detach().numpy().copy() if torch.is_tensor(v) else v
    return {'state': {i: {k: conv(k, v) for k, v in s.items()} for i, s in sd['state'].items()},
            'param_groups': [dict(g) for g in sd['param_groups']]}


def np_sd_to_torch(sd):
    conv = lambda k, v: torch.tensor(float(v)) if k == 'step' else torch.tensor(v) if isinstance(v, np.ndarray) else v
    return {'state': {i: {k: conv(k, v) for k, v in s.items()} for i, s in sd['state'].items()},
            'param_groups': [dict(g) for g in sd['param_groups']]}


@pytest.mark.parametrize('name,kw', CASES, ids=[f'{n}-{kw}' for n, kw in CASES])
def test_trajectory_float64(name, kw):
    pair = Pair(name, kw)
    for i in range(STEPS):
        pair.step_torch(); pair.step_bp()
        if i % 10 == 9 or i == 0: pair.check()
    pair.check()


@pytest.mark.parametrize('name', list(CONFIGS))
def test_param_groups(name):
    kw = CONFIGS[name][1]
    pair = Pair(name, kw, groups=True, seed=1)
    assert [g['lr'] for g in pair.bopt.param_groups] == [g['lr'] for g in pair.topt.param_groups]
    for _ in range(STEPS): pair.step_torch(); pair.step_bp()
    pair.check()


@pytest.mark.parametrize('name', list(CONFIGS))
def test_trajectory_float32(name):
    pair = Pair(name, CONFIGS[name][-1], dtype=np.float32, seed=2)
    for _ in range(STEPS): pair.step_torch(); pair.step_bp()
    pair.check()
    for b in pair.bm.parameters(): assert b.dtype == np.float32
    for s in pair.bopt.state.values():
        for v in s.values():
            if isinstance(v, np.ndarray): assert v.dtype == np.float32


@pytest.mark.parametrize('name', list(CONFIGS))
def test_state_dict_layout_matches_torch(name):
    kw = CONFIGS[name][-1]
    pair = Pair(name, kw, groups=True)
    for _ in range(3): pair.step_torch(); pair.step_bp()
    tsd, bsd = torch_sd_to_np(pair.topt.state_dict()), pair.bopt.state_dict()
    assert sorted(tsd['state']) == sorted(bsd['state'])
    for i in tsd['state']:
        assert set(tsd['state'][i]) == set(bsd['state'][i]), (i, set(tsd['state'][i]), set(bsd['state'][i]))
        for k, v in tsd['state'][i].items():
            np.testing.assert_allclose(bsd['state'][i][k], v, **TOL[np.float64])
    for tg, bg in zip(tsd['param_groups'], bsd['param_groups']):
        assert set(bg) <= set(tg), set(bg) - set(tg)
        assert {k: bg[k] for k in bg} == {k: tg[k] for k in bg}


def test_adagrad_state_exists_before_first_step():
    pair = Pair('Adagrad', dict(initial_accumulator_value=0.25))
    tsd, bsd = torch_sd_to_np(pair.topt.state_dict()), pair.bopt.state_dict()
    assert sorted(tsd['state']) == sorted(bsd['state'])
    for i in tsd['state']:
        assert bsd['state'][i]['step'] == tsd['state'][i]['step'] == 0.
        np.testing.assert_array_equal(bsd['state'][i]['sum'], tsd['state'][i]['sum'])


@pytest.mark.parametrize('name,kw', [(n, CONFIGS[n][i]) for n in CONFIGS for i in (1, -1)])
def test_state_dict_resume(name, kw, tmp_path):
    "Save mid-run (through bp.save), load into a fresh optimiser on copied parameters: it continues exactly like the original and like torch."
    pair = Pair(name, kw, groups=True)
    for _ in range(STEPS // 2): pair.step_torch(); pair.step_bp()
    save(pair.bopt.state_dict(), tmp_path / 'opt.npz')
    _, bm2, _, _ = make_models()
    bm2.load_state_dict(pair.bm.state_dict())
    opt2 = getattr(optim, name)(param_spec(bm2, name, {**kw, 'lr': 123.}, True), **{**kw, 'lr': 123.})
    opt2.load_state_dict(load(tmp_path / 'opt.npz'))
    assert [g['lr'] for g in opt2.param_groups] == [g['lr'] for g in pair.bopt.param_groups]
    for _ in range(STEPS // 2):
        pair.step_torch(); pair.step_bp(); pair.step_bp(bm2, opt2)
    for a, b in zip(pair.bm.parameters(), bm2.parameters()): np.testing.assert_array_equal(a.array, b.array)
    pair.check(bm2)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_state_dict_across_libraries(name):
    "A torch state dict (tensors -> numpy) loads into backprop and vice versa, and both continue on torch's trajectory."
    kw = CONFIGS[name][-1]
    pair = Pair(name, kw, groups=True)
    for _ in range(10): pair.step_torch(); pair.step_bp()
    # torch -> backprop: a fresh backprop optimiser picks up torch's state
    _, bm2, _, _ = make_models()
    bm2.load_state_dict({k: v.detach().numpy().copy() for k, v in pair.tm.state_dict().items()})
    opt2 = getattr(optim, name)(param_spec(bm2, name, kw, True), **kw)
    opt2.load_state_dict(torch_sd_to_np(pair.topt.state_dict()))
    # backprop -> torch: a fresh torch optimiser picks up backprop's state
    tm3, _, _, _ = make_models()
    tm3.load_state_dict({k: torch.tensor(v.numpy()) for k, v in pair.bm.state_dict().items()})
    topt3 = getattr(torch.optim, name)(param_spec(tm3, name, kw, True), **kw)
    topt3.load_state_dict(np_sd_to_torch(pair.bopt.state_dict()))
    for _ in range(10):
        pair.step_torch(); pair.step_bp(bm2, opt2)
        topt3.zero_grad(); (pair.sign * ((tm3(pair.tX) - pair.tY) ** 2).mean()).backward(); topt3.step()
    pair.check(bm2)
    for a, b in zip(pair.tm.parameters(), tm3.parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), **TOL[np.float64])


def test_zero_grad_and_closure_match_torch():
    pair = Pair('SGD', dict(lr=0.1, momentum=0.9))
    for set_to_none in (True, False):
        pair.step_torch(); pair.step_bp()
        pair.topt.zero_grad(set_to_none=set_to_none); pair.bopt.zero_grad(set_to_none=set_to_none)
        for t, b in zip(pair.tm.parameters(), pair.bm.parameters()):
            assert (t.grad is None) == (b.grad is None)
            if t.grad is not None: np.testing.assert_array_equal(b.grad.array, t.grad.numpy())

    def tclosure():
        pair.topt.zero_grad(); loss = ((pair.tm(pair.tX) - pair.tY) ** 2).mean(); loss.backward(); return loss
    def bclosure():
        pair.bopt.zero_grad(); loss = ((pair.bm(pair.bX) - pair.bY) ** 2).mean(); loss.backward(); return loss
    for _ in range(5):
        np.testing.assert_allclose(pair.bopt.step(bclosure).item(), pair.topt.step(tclosure).item(), **TOL[np.float64])
    pair.check()


def test_params_without_grad_are_skipped_like_torch():
    pair = Pair('Adam', dict(lr=1e-2))
    for _ in range(5):
        pair.step_torch(); pair.step_bp()
        for t, b in ((pair.tm[2].bias, pair.bm[2].bias),): t.grad, b.grad = None, None
        pair.topt.step(); pair.bopt.step()                       # a second step without the bias gradient
    pair.check()
    assert pair.bopt.state[pair.bm[2].bias]['step'] == pair.topt.state[pair.tm[2].bias]['step'].item()


@pytest.mark.parametrize('name,kw,msg', [
    ('SGD', dict(lr=-0.1), 'Invalid learning rate'), ('SGD', dict(momentum=-1), 'Invalid momentum'),
    ('SGD', dict(weight_decay=-1), 'Invalid weight_decay'), ('SGD', dict(nesterov=True), 'Nesterov momentum requires'),
    ('SGD', dict(nesterov=True, momentum=0.9, dampening=0.1), 'Nesterov momentum requires'),
    ('Adam', dict(betas=(1.0, 0.9)), 'Invalid beta parameter at index 0'), ('Adam', dict(betas=(0.9, -0.1)), 'Invalid beta parameter at index 1'),
    ('Adam', dict(eps=-1), 'Invalid epsilon'), ('AdamW', dict(weight_decay=-0.1), 'Invalid weight_decay'),
    ('RMSprop', dict(alpha=-0.5), 'Invalid alpha'), ('RMSprop', dict(momentum=-0.5), 'Invalid momentum'),
    ('Adagrad', dict(lr_decay=-1), 'Invalid lr_decay'), ('Adagrad', dict(initial_accumulator_value=-1), 'Invalid initial_accumulator_value'),
])
def test_invalid_options_raise_like_torch(name, kw, msg):
    with pytest.raises(ValueError, match=msg): getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=msg): getattr(optim, name)([tensor([0.], requires_grad=True)], **kw)
