"Learner checkpoints taken in the middle of an epoch: a fresh Learner that loads one finishes bit-identical to an uninterrupted run."
from functools import partial

import numpy as np
import pytest

import backprop as bp
from backprop import nn, optim
from backprop.data import DataLoader, make_moons
from backprop.learner import Learner, Callback, CancelFit, accuracy


def dls(seed=0, n=320, bs=32, loader_seed=True):
    tr, va = make_moons(n, noise=0.2, seed=seed), make_moons(n // 2, noise=0.2, seed=seed + 1)
    return DataLoader(tr, batch_size=bs, shuffle=True, **({'seed': seed} if loader_seed else {})), DataLoader(va, batch_size=bs)


def learner(seed=0, loader_seed=True, **kw):
    bp.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 24), nn.ReLU(), nn.Dropout(0.2), nn.Linear(24, 2))
    return Learner(model, dls(loader_seed=loader_seed), nn.CrossEntropyLoss(), metrics=[accuracy], progress=False, **kw)


def arr(v): return np.asarray(v.array if hasattr(v, 'array') else v)


def assert_identical(a, b, values_from=0):
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert np.array_equal(arr(x), arr(y)), k
    sa, sb = a.opt.state_dict(), b.opt.state_dict()
    assert sa['param_groups'] == sb['param_groups']
    for i in sa['state']:
        for k, v in sa['state'][i].items(): assert np.array_equal(np.asarray(v), np.asarray(sb['state'][i][k])), (i, k)
    assert a.recorder.values[values_from:] == b.recorder.values


class StopAt(Callback):
    "At (epoch, batch) during `event` (training or validation batches): checkpoint, then stop."
    order = 90
    def __init__(self, epoch, batch, path, event='after_batch', training=True, save=True):
        self.at, self.path, self.phase, self.save = (epoch, batch), path, training, save
        setattr(self, event, self._go)
    def _go(self):
        if (self.epoch, self.iter) == self.at and self.training == self.phase:
            if self.save: self.learn.save(self.path)
            raise CancelFit()


def fit(learn, one_cycle, **kw):
    return learn.fit_one_cycle(3, 1e-2, **kw) if one_cycle else learn.fit(3, 1e-2, **kw)


def resume(path, one_cycle, **kw):
    bp.manual_seed(1234); bp.randn(5)                                    # another process: generators elsewhere
    fresh = learner(seed=77, **kw)                                       # other initial weights
    fresh.load(path)
    return fit(fresh, one_cycle, start_epoch=fresh.epoch)


@pytest.mark.parametrize('one_cycle', [False, True])
@pytest.mark.parametrize('epoch,batch,event', [(0, 0, 'after_batch'), (0, 3, 'after_batch'), (1, 4, 'after_step'),
                                               (1, 9, 'after_batch'), (1, 4, 'before_step'), (2, 0, 'after_loss'),
                                               (1, 6, 'after_backward')])
def test_mid_epoch_resume_is_bit_identical(tmp_path, one_cycle, epoch, batch, event):
    straight = fit(learner(), one_cycle)
    path = tmp_path / 'mid.npz'
    first = fit(learner(), one_cycle, cbs=[StopAt(epoch, batch, path, event)])
    ck = bp.load(path)
    done = batch + 1 if event in ('after_batch', 'after_step') else batch
    assert (ck['epoch'], ck['batch']) == (epoch, done)
    second = resume(path, one_cycle)
    assert_identical(straight, second, values_from=epoch)


@pytest.mark.parametrize('opt_func', [optim.AdamW, partial(optim.SGD, momentum=0.9)])
def test_saved_during_validation(tmp_path, opt_func):
    "Training of the epoch is complete, validation is not: resume skips the training batches and validates."
    straight = learner(opt_func=opt_func).fit(3, 1e-2)
    path = tmp_path / 'val.npz'
    learner(opt_func=opt_func).fit(3, 1e-2, cbs=[StopAt(1, 2, path, 'after_pred', training=False)])
    assert (bp.load(path)['epoch'], bp.load(path)['batch']) == (1, 10)
    bp.manual_seed(5)
    second = learner(seed=9, opt_func=opt_func); second.load(path); second.fit(3, 1e-2, start_epoch=second.epoch)
    assert_identical(straight, second, values_from=1)


def test_interrupted_fit_then_save(tmp_path):
    "A run stopped mid-epoch (e.g. by Ctrl-C in a notebook) and checkpointed afterwards resumes exactly."
    straight = learner().fit(3, 1e-2)
    first = learner().fit(3, 1e-2, cbs=[StopAt(1, 7, None, 'after_batch', save=False)])
    first.save(tmp_path / 'after.npz')
    assert bp.load(tmp_path / 'after.npz')['batch'] == 8
    second = resume(tmp_path / 'after.npz', False)
    assert_identical(straight, second, values_from=1)


def test_shuffle_from_global_generator(tmp_path):
    "A loader without its own seed shuffles with backprop's generator: the epoch's permutation is replayed from its start state."
    straight = learner(loader_seed=False).fit(3, 1e-2)
    learner(loader_seed=False).fit(3, 1e-2, cbs=[StopAt(1, 5, tmp_path / 'g.npz')])
    second = resume(tmp_path / 'g.npz', False, loader_seed=False)
    assert_identical(straight, second, values_from=1)


def test_two_interruptions_and_save_right_after_load(tmp_path):
    straight = learner().fit_one_cycle(3, 1e-2)
    learner().fit_one_cycle(3, 1e-2, cbs=[StopAt(0, 4, tmp_path / 'a.npz')])
    b = learner(seed=3); b.load(tmp_path / 'a.npz')
    b.save(tmp_path / 'a2.npz')                                          # saving before continuing keeps the position
    ck, ck2 = bp.load(tmp_path / 'a.npz'), bp.load(tmp_path / 'a2.npz')
    assert (ck2['epoch'], ck2['batch'], ck2['epoch_rng'], ck2['recorder']) == (ck['epoch'], ck['batch'], ck['epoch_rng'], ck['recorder'])
    c = learner(seed=4); c.load(tmp_path / 'a2.npz')
    c.fit_one_cycle(3, 1e-2, start_epoch=c.epoch, cbs=[StopAt(2, 1, tmp_path / 'b.npz', 'before_step')])
    d = learner(seed=5); d.load(tmp_path / 'b.npz'); d.fit_one_cycle(3, 1e-2, start_epoch=d.epoch)
    assert_identical(straight, d, values_from=2)


def test_fresh_fit_ignores_the_position(tmp_path):
    "Loading a mid-epoch checkpoint and fitting from another start epoch trains whole epochs, as a new run."
    learner().fit(3, 1e-2, cbs=[StopAt(1, 3, tmp_path / 'm.npz')])
    a = learner(seed=2); a.load(tmp_path / 'm.npz')
    seen = []
    class Count(Callback):
        def after_batch(self):
            if self.training: seen.append((self.epoch, self.iter))
    a.fit(1, 1e-2, cbs=[Count()])                                        # start_epoch=0 != 1: not a resume
    assert seen == [(0, i) for i in range(len(a.train_dl))]


def test_boundary_checkpoints_unchanged(tmp_path):
    "At an epoch boundary the checkpoint has batch None; an old (version 1) checkpoint without the new keys still loads."
    straight = learner().fit(3, 1e-2)
    a = learner().fit(2, 1e-2); a.save(tmp_path / 'end.npz')
    ck = bp.load(tmp_path / 'end.npz')
    assert (ck['epoch'], ck['batch'], ck['epoch_rng'], ck['recorder']) == (2, None, None, None)
    old = {k: v for k, v in ck.items() if k not in ('batch', 'epoch_rng', 'recorder')}; old['version'] = 1
    bp.save(old, tmp_path / 'v1.npz')
    b = learner(seed=8); b.load(tmp_path / 'v1.npz')
    assert b.epoch == 2 and b._resume is None
    b.fit(3, 1e-2, start_epoch=2)
    assert_identical(straight, b, values_from=2)
