"PyTorch oracle for backprop.optim.lr_scheduler: learning-rate (and momentum/beta1) sequences equal torch's bit for bit for every scheduler, and state dicts resume."
import math, warnings
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.optim import lr_scheduler as TL
from backprop import optim
from backprop.optim import lr_scheduler as BL
from backprop.core import tensor

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::UserWarning")]


def opts(name='SGD', lrs=(0.1, 0.03), **kw):
    "The same optimiser (one parameter group per lr) in torch and backprop."
    t = getattr(torch.optim, name)([{'params': [torch.zeros(2, requires_grad=True)], 'lr': lr} for lr in lrs], **kw)
    b = getattr(optim, name)([{'params': [tensor([0., 0.], requires_grad=True)], 'lr': lr} for lr in lrs], **kw)
    return t, b


def snapshot(sched):
    "What a schedule controls: last lrs, each group's lr and momentum/beta1."
    gs = sched.optimizer.param_groups
    return (list(map(float, sched.get_last_lr())), [float(g['lr']) for g in gs],
            [float(g['momentum']) if 'momentum' in g else float(g['betas'][0]) for g in gs])


def trace(sched, n):
    out = [snapshot(sched)]
    for _ in range(n):
        sched.optimizer.step(); sched.step(); out.append(snapshot(sched))
    return out


def assert_same(a, b, tol=0):
    a, b = np.array(a, dtype=float), np.array(b, dtype=float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=0)


SCHEDS = {
    'StepLR': (lambda L, o: L.StepLR(o, step_size=3, gamma=0.5), 20),
    'StepLR-1': (lambda L, o: L.StepLR(o, step_size=1, gamma=0.9), 10),
    'ExponentialLR': (lambda L, o: L.ExponentialLR(o, gamma=0.9), 20),
    'Cosine': (lambda L, o: L.CosineAnnealingLR(o, T_max=10), 30),
    'Cosine-eta_min': (lambda L, o: L.CosineAnnealingLR(o, T_max=7, eta_min=0.01), 3 * 7 + 2),
    'Cosine-T1': (lambda L, o: L.CosineAnnealingLR(o, T_max=1, eta_min=0.001), 6),
    'LinearLR': (lambda L, o: L.LinearLR(o), 10),
    'LinearLR-custom': (lambda L, o: L.LinearLR(o, start_factor=0.1, end_factor=0.5, total_iters=8), 12),
    'LinearLR-decay': (lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=4), 8),
    'LambdaLR': (lambda L, o: L.LambdaLR(o, lambda e: 0.95 ** e), 10),
    'LambdaLR-list': (lambda L, o: L.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: (e % 3) + 1.]), 10),
    'OneCycle': (lambda L, o: L.OneCycleLR(o, max_lr=1., total_steps=50), 50),
    'OneCycle-full': (lambda L, o: L.OneCycleLR(o, max_lr=[1., 0.5], epochs=5, steps_per_epoch=10, pct_start=0.25,
                                                anneal_strategy='linear', three_phase=True, div_factor=10., final_div_factor=100.,
                                                base_momentum=[0.8, 0.7], max_momentum=0.9), 50),
    'OneCycle-no-momentum': (lambda L, o: L.OneCycleLR(o, max_lr=0.3, total_steps=20, cycle_momentum=False, pct_start=0.5), 20),
    'Sequential-warmup-cosine': (lambda L, o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=5),
                                                                 L.CosineAnnealingLR(o, T_max=20, eta_min=1e-3)], milestones=[5]), 40),
    'Sequential-three': (lambda L, o: L.SequentialLR(o, [L.ExponentialLR(o, gamma=0.9), L.StepLR(o, 2, 0.5),
                                                         L.LinearLR(o, start_factor=0.5, total_iters=3)], milestones=[3, 9]), 20),
    'Sequential-linear-lambda': (lambda L, o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.2, total_iters=4),
                                                                 L.LambdaLR(o, lambda e: 0.9 ** e)], milestones=[4]), 12),
}


@pytest.mark.parametrize('key', list(SCHEDS))
@pytest.mark.parametrize('opt_name,opt_kw', [('SGD', dict(momentum=0.9)), ('Adam', {})])
def test_sequence_matches_torch(key, opt_name, opt_kw):
    make, n = SCHEDS[key]
    to, bo = opts(opt_name, **opt_kw)
    assert_same(trace(make(BL, bo), n), trace(make(TL, to), n))


def test_onecycle_raises_past_total_steps_like_torch():
    to, bo = opts(momentum=0.9)
    ts, bs = TL.OneCycleLR(to, 1., total_steps=5), BL.OneCycleLR(bo, 1., total_steps=5)
    for _ in range(5): ts.step(); bs.step()
    with pytest.raises(ValueError, match='Tried to step 6 times'): ts.step()
    with pytest.raises(ValueError, match='Tried to step 6 times'): bs.step()


def test_onecycle_requires_momentum():
    to, bo = opts('Adagrad')
    with pytest.raises(ValueError, match='optimizer must support momentum'): TL.OneCycleLR(to, 1., total_steps=5)
    with pytest.raises(ValueError, match='optimizer must support momentum'): BL.OneCycleLR(bo, 1., total_steps=5)


def test_two_schedulers_on_one_optimizer_compose_like_torch():
    "The chainable form: two schedulers stepping one optimiser multiply their factors."
    def run(L, o):
        a, b = L.ExponentialLR(o, gamma=0.9), L.StepLR(o, step_size=3, gamma=0.5)
        out = []
        for _ in range(12):
            o.step(); a.step(); b.step(); out.append([g['lr'] for g in o.param_groups])
        return out
    to, bo = opts()
    assert_same(run(BL, bo), run(TL, to))


@pytest.mark.parametrize('key', ['StepLR', 'ExponentialLR', 'Cosine-eta_min', 'LinearLR-custom'])
def test_step_with_epoch_uses_closed_form_like_torch(key):
    make, _ = SCHEDS[key]
    to, bo = opts()
    ts, bs = make(TL, to), make(BL, bo)
    for e in (3, 5, 2, 11):
        ts.step(e); bs.step(e)
        assert_same(snapshot(bs), snapshot(ts))
    for _ in range(3):
        ts.step(); bs.step(); assert_same(snapshot(bs), snapshot(ts))


@pytest.mark.parametrize('key', list(SCHEDS))
@pytest.mark.parametrize('at', [2, 7])
def test_state_dict_resume(key, at):
    "Run, save scheduler + optimiser state, rebuild, load (scheduler first, then optimiser), continue: same as uninterrupted and as torch."
    make, n = SCHEDS[key]
    to, bo = opts(momentum=0.9)
    ts, bs = make(TL, to), make(BL, bo)
    trace(ts, at); trace(bs, at)
    ssd, osd = bs.state_dict(), bo.state_dict()
    _, bo2 = opts(momentum=0.9)
    bs2 = make(BL, bo2)
    bs2.load_state_dict(ssd); bo2.load_state_dict(osd)
    rest = n - at
    t_rest, b_rest, b2_rest = trace(ts, rest), trace(bs, rest), trace(bs2, rest)
    assert b2_rest == b_rest
    assert_same(b2_rest, t_rest)


@pytest.mark.parametrize('key', ['StepLR', 'Cosine-eta_min', 'LinearLR-custom', 'LambdaLR', 'OneCycle', 'Sequential-warmup-cosine'])
def test_torch_state_dict_loads_into_backprop(key):
    "A torch scheduler's state dict (plain numbers) resumes a backprop scheduler on torch's sequence."
    make, n = SCHEDS[key]
    to, bo = opts(momentum=0.9)
    ts = make(TL, to); trace(ts, 6)
    bs = make(BL, bo)
    bs.load_state_dict(ts.state_dict())
    tsd = to.state_dict()
    bo.load_state_dict({'state': {}, 'param_groups': [dict(g) for g in tsd['param_groups']]})
    assert_same(trace(bs, n - 6), trace(ts, n - 6))


def test_state_dict_keys_match_torch():
    for key in ['StepLR', 'Cosine', 'LinearLR', 'OneCycle', 'Sequential-warmup-cosine']:
        make, _ = SCHEDS[key]
        to, bo = opts(momentum=0.9)
        tk = set(make(TL, to).state_dict()) - {'_get_lr_called_within_step'}
        assert set(make(BL, bo).state_dict()) == tk, key


def test_resume_with_last_epoch_like_torch():
    "Constructing with last_epoch >= 0 (after the optimiser has initial_lr) resumes with the closed form for cosine."
    to, bo = opts(momentum=0.9)
    for o in (to, bo):
        for g in o.param_groups: g['initial_lr'] = g['lr']
    ts, bs = TL.CosineAnnealingLR(to, T_max=10, last_epoch=4), BL.CosineAnnealingLR(bo, T_max=10, last_epoch=4)
    assert_same(trace(bs, 8), trace(ts, 8))
    to, bo = opts()
    with pytest.raises(KeyError, match='initial_lr'): TL.StepLR(to, 2, last_epoch=3)
    with pytest.raises(KeyError, match='initial_lr'): BL.StepLR(bo, 2, last_epoch=3)
