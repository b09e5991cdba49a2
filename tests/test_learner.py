"backprop.learner: reproducibility, checkpoints and exact resume, callbacks, early stopping, lr_find, and the default CLI run."
import math, os, re, subprocess, sys, time
from functools import partial
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop import nn, optim
from backprop.optim.lr_scheduler import CosineAnnealingLR
from backprop.data import DataLoader, make_moons
from backprop.learner import (Learner, Callback, Recorder, ProgressCallback, SchedulerCallback, GradientClip,
    EarlyStopping, LRFinder, CancelBatch, CancelEpoch, CancelFit, CancelTrain, CancelValid, accuracy, valley, steep)

ROOT = Path(__file__).resolve().parents[1]


def dls(seed=0, n=512, bs=64):
    tr, va = make_moons(n, noise=0.2, seed=seed), make_moons(n // 2, noise=0.2, seed=seed + 1)
    return DataLoader(tr, batch_size=bs, shuffle=True, seed=seed), DataLoader(va, batch_size=bs)


def model(seed=0, p=0.1):
    bp.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(p), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))


def learner(seed=0, dl_seed=0, p=0.1, **kw):
    kw.setdefault('progress', False)
    return Learner(model(seed, p), dls(dl_seed), nn.CrossEntropyLoss(), metrics=[accuracy], **kw)


def weights(learn): return {k: np.array(v.numpy()) for k, v in learn.model.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a: np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def opt_equal(a, b):
    "Two optimiser state dicts are equal (arrays exactly, other values by ==)."
    assert a['param_groups'] == b['param_groups']
    assert a['state'].keys() == b['state'].keys()
    for i in a['state']:
        for k, v in a['state'][i].items(): np.testing.assert_array_equal(np.asarray(v), np.asarray(b['state'][i][k]))


# ---------------------------------------------------------------- reproducibility

@pytest.mark.parametrize('one_cycle', [False, True])
def test_seeded_runs_reproducible(one_cycle):
    def run(seed, dl_seed):
        l = learner(seed, dl_seed)
        (l.fit_one_cycle(3, 1e-2) if one_cycle else l.fit(3, 1e-2))
        return weights(l), l.recorder.values
    (w1, v1), (w2, v2) = run(0, 0), run(0, 0)
    assert_same(w1, w2)
    assert v1 == v2
    w3, _ = run(0, 1)                      # another shuffling order: other weights
    assert any(not np.array_equal(w1[k], w3[k]) for k in w1)
    w4, _ = run(1, 0)                      # another init / dropout seed: other weights
    assert any(not np.array_equal(w1[k], w4[k]) for k in w1)


def test_training_learns():
    l = learner(p=0.0)
    l.fit_one_cycle(8, 2e-2)
    tl, vl, acc = l.recorder.values[-1]
    assert acc > 0.9 and vl < l.recorder.values[0][1]


# ---------------------------------------------------------------- checkpoints

def test_save_load_round_trip(tmp_path):
    a = learner()
    a.fit_one_cycle(2, 1e-2)
    path = tmp_path / 'ck.npz'
    a.save(path)
    ck = bp.load(path)
    assert ck['format'] == 'backprop.Learner' and ck['epoch'] == 2
    assert ck['scheduler']['last_epoch'] == 2 * len(a.train_dl)
    b = learner(seed=5)                    # different weights before loading
    b.load(path)
    assert_same(weights(a), weights(b))
    opt_equal(a.opt.state_dict(), b.opt.state_dict())
    assert b.epoch == 2
    assert bp.default_generator().bit_generator.state == ck['rng']['backprop']
    assert b.train_dl.generator.bit_generator.state == a.train_dl.generator.bit_generator.state
    # the model alone, without optimiser state, into a learner that has no optimiser yet
    c = learner(seed=6); c.load(path, with_opt=False)
    assert c.opt is None; assert_same(weights(a), weights(c))


def test_save_is_atomic(tmp_path, monkeypatch):
    a = learner(); a.fit(1, 1e-2)
    path = tmp_path / 'ck.npz'
    a.save(path); before = path.read_bytes()
    a.fit(1, 1e-2)
    import backprop.serialization as S
    def boom(*args, **kw): raise OSError('disk full')
    monkeypatch.setattr(S, '_write_npz', boom)
    with pytest.raises(OSError, match='disk full'): a.save(path)
    assert path.read_bytes() == before                       # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ['ck.npz']  # and no temporary file is left


def test_load_rejects_other_files(tmp_path):
    bp.save(learner().model.state_dict(), tmp_path / 'sd.npz')
    with pytest.raises(ValueError, match='not a Learner checkpoint'): learner().load(tmp_path / 'sd.npz')
    with pytest.raises(FileNotFoundError): learner().load(tmp_path / 'missing.npz')


def test_resume_equals_uninterrupted(tmp_path):
    "fit 4 epochs straight vs fit 2, save, new Learner, load, fit the remaining 2: identical weights."
    straight = learner(); straight.fit(4, 1e-2)
    first = learner(); first.fit(2, 1e-2)
    first.save(tmp_path / 'ck.npz')
    bp.manual_seed(99); bp.randn(7)                          # the new process's generator is elsewhere
    second = learner(seed=3)
    second.load(tmp_path / 'ck.npz')
    second.fit(4, 1e-2, start_epoch=second.epoch)
    assert_same(weights(straight), weights(second))
    opt_equal(straight.opt.state_dict(), second.opt.state_dict())
    assert straight.recorder.values[2:] == second.recorder.values


class SaveAndStop(Callback):
    order = 90
    def __init__(self, epoch, path): self.at, self.path = epoch, path
    def after_epoch(self):
        if self.epoch == self.at: self.learn.save(self.path); raise CancelFit()


@pytest.mark.parametrize('opt_func', [optim.AdamW, partial(optim.SGD, momentum=0.9)])
def test_resume_one_cycle_equals_uninterrupted(tmp_path, opt_func):
    "The same through a one-cycle schedule (scheduler position, cycled momentum) interrupted mid-run."
    straight = learner(opt_func=opt_func); straight.fit_one_cycle(4, 1e-2)
    first = learner(opt_func=opt_func); first.fit_one_cycle(4, 1e-2, cbs=[SaveAndStop(1, tmp_path / 'ck.npz')])
    assert len(first.recorder.values) == 2
    second = learner(seed=3, opt_func=opt_func)
    second.load(tmp_path / 'ck.npz')
    second.fit_one_cycle(4, 1e-2, start_epoch=second.epoch)
    assert_same(weights(straight), weights(second))
    assert straight.recorder.lrs[-len(second.recorder.lrs):] == second.recorder.lrs


def test_pending_scheduler_state_not_applied_to_fresh_fit(tmp_path):
    a = learner(); a.fit_one_cycle(2, 1e-2); a.save(tmp_path / 'ck.npz')
    b = learner(); b.load(tmp_path / 'ck.npz')
    b.fit_one_cycle(2, 1e-2)                                 # start_epoch=0: a new cycle, not a resume
    assert b.recorder.lrs[0] == pytest.approx(1e-2 / 25)


# ---------------------------------------------------------------- callbacks

class Log(Callback):
    def __init__(self, tag='', order=0, seen=None): self.tag, self.order, self.seen = tag, order, ([] if seen is None else seen)

EVENTS = ['before_fit', 'before_epoch', 'before_train', 'before_batch', 'after_pred', 'after_loss', 'before_backward',
          'after_backward', 'before_step', 'after_step', 'after_batch', 'after_train', 'before_validate',
          'after_validate', 'after_epoch', 'after_fit', 'after_cancel_batch', 'after_cancel_train',
          'after_cancel_validate', 'after_cancel_epoch', 'after_cancel_fit']
for _e in EVENTS: setattr(Log, _e, (lambda e: lambda self: self.seen.append(self.tag + e))(_e))


def tiny(n_train=4, n_valid=2, bs=2):
    x = bp.tensor(np.linspace(-1, 1, 2 * n_train, dtype=np.float32).reshape(n_train, 2)); y = bp.tensor(np.arange(n_train) % 2)
    xv, yv = x[:n_valid], y[:n_valid]
    from backprop.data import TensorDataset
    return DataLoader(TensorDataset(x, y), batch_size=bs), DataLoader(TensorDataset(xv, yv), batch_size=bs)


def test_callbacks_order():
    lg = Log()
    Learner(nn.Linear(2, 2), tiny(), nn.CrossEntropyLoss(), cbs=[lg], progress=False).fit(1)
    batch = ['before_batch', 'after_pred', 'after_loss', 'before_backward', 'after_backward', 'before_step', 'after_step', 'after_batch']
    assert lg.seen == ['before_fit', 'before_epoch', 'before_train', *batch, *batch, 'after_train', 'before_validate',
                       'before_batch', 'after_pred', 'after_loss', 'after_batch', 'after_validate', 'after_epoch', 'after_fit']


def test_callbacks_run_in_order_attribute_order():
    seen = []
    cbs = [Log('late:', 10, seen), Log('early:', -5, seen), Log('mid:', 0, seen)]
    learn = Learner(nn.Linear(2, 2), tiny(), nn.CrossEntropyLoss(), cbs=cbs, progress=False)
    learn.fit(1)
    assert seen[:3] == ['early:before_fit', 'mid:before_fit', 'late:before_fit']
    # built-ins: the recorder (50) runs before the progress table (60) and early stopping (70)
    assert Recorder.order < ProgressCallback.order < EarlyStopping.order


@pytest.mark.parametrize('exc,event,expect', [
    (CancelBatch, 'after_pred', 'after_cancel_batch'), (CancelTrain, 'before_train', 'after_cancel_train'),
    (CancelValid, 'before_validate', 'after_cancel_validate'), (CancelEpoch, 'before_epoch', 'after_cancel_epoch'),
    (CancelFit, 'before_fit', 'after_cancel_fit')])
def test_cancel_exceptions(exc, event, expect):
    class Raiser(Callback):
        pass
    setattr(Raiser, event, lambda self: (_ for _ in ()).throw(exc()))
    lg = Log(order=-1)
    Learner(nn.Linear(2, 2), tiny(), nn.CrossEntropyLoss(), cbs=[lg, Raiser()], progress=False).fit(2)
    assert expect in lg.seen
    i = lg.seen.index(expect)
    assert lg.seen[i + 1] == 'after_' + expect[len('after_cancel_'):]     # the matching after_ event follows
    assert lg.seen[-1] == 'after_fit'
    if exc is CancelFit: assert lg.seen == ['before_fit', 'after_cancel_fit', 'after_fit']


def test_validation_in_eval_mode_without_grad():
    seen = []
    class Spy(Callback):
        def after_pred(self): seen.append((self.training, self.model.training, self.pred.requires_grad))
    learn = learner(cbs=[Spy()]); learn.fit(1, 1e-3)
    train, valid = [s for s in seen if s[0]], [s for s in seen if not s[0]]
    assert train and all(s == (True, True, True) for s in train)
    assert valid and all(s == (False, False, False) for s in valid)
    # dropout is off in validation: validating twice gives the same numbers
    assert learn.validate() == learn.validate()


def test_metrics_weighted_by_batch_size():
    tr, va = dls()
    va = DataLoader(va.dataset, batch_size=100)             # 256 = 100 + 100 + 56: unequal batches
    learn = Learner(model(p=0), (tr, va), nn.CrossEntropyLoss(), metrics=[accuracy], progress=False)
    learn.fit(1, 1e-2)
    X, y = va.dataset.tensors
    with bp.no_grad(): out = learn.model(X)
    res = learn.validate()
    assert res['accuracy'] == pytest.approx(accuracy(out, y), abs=1e-12)
    assert res['valid_loss'] == pytest.approx(nn.CrossEntropyLoss()(out, y).item(), rel=1e-5)


def test_recorder_and_plots():
    learn = learner(); learn.fit_one_cycle(2, 1e-2)
    r = learn.recorder
    n = 2 * len(learn.train_dl)
    assert len(r.losses) == len(r.lrs) == len(r.smooth_losses) == n and r.iters == [n // 2, n]
    assert r.metric_names == ['train_loss', 'valid_loss', 'accuracy']
    assert set(r.log) == {'epoch', 'train_loss', 'valid_loss', 'accuracy', 'time'}
    import matplotlib.figure
    for fig in (r.plot_loss(), r.plot_lr()): assert isinstance(fig, matplotlib.figure.Figure)


def test_scheduler_callback_with_factory_and_instance():
    learn = learner()
    learn.fit(2, 1e-2, cbs=[SchedulerCallback(lambda opt, n: CosineAnnealingLR(opt, T_max=n))])
    lrs = learn.recorder.lrs
    assert lrs[0] == pytest.approx(1e-2) and lrs[-1] < 1e-4 and all(a >= b for a, b in zip(lrs, lrs[1:]))
    other = optim.SGD(model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match='different optimiser'):
        learn.fit(1, cbs=[SchedulerCallback(CosineAnnealingLR(other, T_max=5))])


def test_gradient_clip():
    norms = []
    class After(Callback):
        order = 1
        def before_step(self):
            norms.append(math.sqrt(sum(float((p.grad.array.astype(np.float64) ** 2).sum()) for p in self.model.parameters())))
    gc = GradientClip(0.01)
    learner(cbs=[gc, After()]).fit(1, 1e-2)
    assert norms and max(norms) <= 0.01 * (1 + 1e-5)


def test_progress_output(capsys):
    learner(progress=True).fit(2, 1e-2)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'time']
    assert [l.split()[0] for l in out[1:]] == ['0', '1']
    learner(progress=False).fit(1, 1e-2)
    l = learner(progress=True)
    with l.no_bar(): l.fit(1, 1e-2)
    assert capsys.readouterr().out == ''
    assert any(isinstance(c, ProgressCallback) for c in l.cbs)   # put back after no_bar


# ---------------------------------------------------------------- early stopping

def test_early_stopping_stops():
    es = EarlyStopping(patience=2, min_delta=1e-3)
    learn = learner(cbs=[es])
    learn.fit(30, lr=1e-8)                                  # far too small to improve the loss by 1e-3
    assert es.stopped_epoch == 2 and es.best_epoch == 0 and es.wait == 2
    assert len(learn.recorder.values) == 3
    es = EarlyStopping(patience=2)                           # with a sensible rate it improves and runs on
    learn = learner(cbs=[es]); learn.fit(4, 1e-2)
    assert es.stopped_epoch is None and len(learn.recorder.values) == 4


def test_early_stopping_min_delta_and_mode():
    es = EarlyStopping('accuracy', min_delta=0.5, patience=1)     # impossible improvement: stops after epoch 1
    assert es.mode == 'max'
    learn = learner(cbs=[es]); learn.fit(10, 1e-2)
    assert es.stopped_epoch == 1
    es = EarlyStopping(patience=100)
    learn = learner(cbs=[es]); learn.fit(3, 1e-2)
    assert es.stopped_epoch is None and len(learn.recorder.values) == 3
    with pytest.raises(ValueError, match="can't monitor 'f1'"): learner(cbs=[EarlyStopping('f1')]).fit(1)
    with pytest.raises(ValueError, match='mode'): EarlyStopping(mode='up')


# ---------------------------------------------------------------- lr_find

def test_lr_find_restores_weights_and_optimizer():
    learn = learner()
    learn.fit(1, 1e-2)                                       # an optimiser with state exists
    w, o = weights(learn), learn.opt.state_dict()
    rng = bp.default_generator().bit_generator.state
    values = list(learn.recorder.values)
    sugg = learn.lr_find(show_plot=False)
    assert_same(w, weights(learn))
    opt_equal(o, learn.opt.state_dict())
    assert bp.default_generator().bit_generator.state == rng
    assert learn.recorder.values == values                  # the recorder still holds the real run
    assert 1e-7 < sugg.valley < 10 and 1e-7 < sugg.steep < 10
    f = learn.lr_finder
    assert len(f.lrs) == len(f.losses) and len(f.lrs) < 100  # stopped on divergence before num_it
    np.testing.assert_allclose(np.diff(np.log(f.lrs)), np.log(10 / 1e-7) / 99, rtol=1e-9)


def test_lr_find_does_not_change_later_training():
    a = learner(); a.fit(2, 1e-2)
    b = learner(); b.lr_find(show_plot=False); b.fit(2, 1e-2)
    assert b.opt is not None
    assert_same(weights(a), weights(b))


def test_lr_find_without_optimizer_leaves_none():
    learn = learner()
    learn.lr_find(num_it=20, show_plot=False)
    assert learn.opt is None and learn.epoch == 0


def test_suggestion_functions():
    lrs = np.logspace(-6, 0, 61)
    x = np.log10(lrs)
    losses = 1 + np.tanh(-(x + 3)) + np.where(x > -1, 20 * (x + 1) ** 2, 0)    # falls around 1e-3, blows up after 1e-1
    assert steep(lrs, losses) == pytest.approx(1e-3, rel=0.3)
    v = valley(lrs, losses)                                  # inside the long decreasing stretch, before the minimum
    assert lrs[5] < v < lrs[np.argmin(losses)]


# ---------------------------------------------------------------- bad input

def test_bad_input():
    with pytest.raises(TypeError, match='pair'): Learner(model(), 5, nn.CrossEntropyLoss())
    with pytest.raises(TypeError, match='loss_func'): Learner(model(), dls(), None)
    with pytest.raises(ValueError, match='n_epoch'): learner().fit(0)
    with pytest.raises(ValueError, match='start_epoch'): learner().fit(2, start_epoch=3)
    with pytest.raises(TypeError, match='Callback'): learner(cbs=[object()])


# ---------------------------------------------------------------- the CLI

@pytest.mark.slow
def test_default_cli_run_reaches_97_percent(tmp_path):
    "`python -m backprop` with default options: the CNN on digits reaches >= 97% validation accuracy, in well under a minute."
    out = tmp_path / 'loss.png'
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, '-m', 'backprop', '--quiet', '--out', str(out)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    dt = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    m = re.search(r'cnn: validation accuracy ([0-9.]+)', r.stdout)
    assert m, r.stdout
    assert float(m.group(1)) >= 0.97, r.stdout
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert dt < 120, f'default run took {dt:.0f}s'


def test_cli_bad_options(capsys):
    from backprop.__main__ import main
    for bad, words in [(['--model', 'vgg'], ['--model', 'cnn', 'mlp', 'resmlp']), (['--opt', 'lion'], ['--opt', 'sgd', 'adamw']),
                       (['--epochs', '0'], ['--epochs', 'positive']), (['--lr', 'abc'], ['--lr']),
                       (['--out', 'x.jpg'], ['--out', '.png'])]:
        with pytest.raises(SystemExit) as e: main(bad)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert all(w in err for w in words), err
