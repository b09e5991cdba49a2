"""Issue 10 item 3: grad mode, anomaly mode and checkpoint interception are per thread; the backward pass never
changes another thread's state. Four threads train their own models while a fifth evaluates under no_grad; the
weights equal a sequential run's exactly."""
import gc, sys, threading
import numpy as np
import pytest
import backprop as bp
from backprop.core import tensor, no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from backprop.utils.checkpoint import checkpoint

try: import torch
except ImportError: torch = None


def make(seed):
    "A small MLP and its data, drawn from a seed-local generator (the global one is shared by threads)."
    rng = np.random.default_rng(seed)
    ws = [tensor(rng.standard_normal(s) * 0.5, requires_grad=True) for s in ((4, 8), (8,), (8, 1), (1,))]
    X = tensor(rng.standard_normal((32, 4))); Y = tensor(rng.standard_normal((32, 1)))
    return ws, X, Y

def forward(ws, X, ckpt=False):
    W1, b1, W2, b2 = ws
    layer = lambda x: (x @ W1 + b1).tanh()
    h = checkpoint(layer, X) if ckpt else layer(X)
    return h @ W2 + b2

def train(ws, X, Y, steps=60, ckpt=False, evals=None):
    for i in range(steps):
        loss = ((forward(ws, X, ckpt) - Y) ** 2).mean()
        for w in ws: w.grad = None
        loss.backward()
        with no_grad():
            for w in ws: w -= 0.05 * w.grad
            if evals is not None: evals.append(((forward(ws, X) - Y) ** 2).mean().item())
    return [w.array.copy() for w in ws]


def test_four_trainers_and_an_evaluator_match_sequential():
    seeds, ckpts = (1, 2, 3, 4), (False, True, False, True)
    want = [train(*make(s), ckpt=c) for s, c in zip(seeds, ckpts)]
    got, errors = [None] * 4, []
    stop = threading.Event()
    def trainer(i):
        try: got[i] = train(*make(seeds[i]), ckpt=ckpts[i], evals=[])
        except Exception as e: errors.append(e)
    def evaluator():
        ws, X, Y = make(9)
        try:
            while not stop.is_set():
                with no_grad():
                    out = forward(ws, X)
                    assert not out.requires_grad and not is_grad_enabled()
                with set_grad_enabled(False): forward(ws, X)
        except Exception as e: errors.append(e)
    ev = threading.Thread(target=evaluator); ev.start()
    ts = [threading.Thread(target=trainer, args=(i,)) for i in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
    stop.set(); ev.join()
    assert not errors, errors
    for g, w in zip(got, want):
        for a, b in zip(g, w): np.testing.assert_array_equal(a, b)
    assert is_grad_enabled()


def test_no_grad_in_one_thread_leaves_another_recording():
    inside, release = threading.Event(), threading.Event()
    def other():
        with no_grad(): inside.set(); release.wait(10)
    t = threading.Thread(target=other); t.start(); inside.wait(10)
    try:
        x = tensor([1., 2.], requires_grad=True)
        y = (x * x).sum(); assert y.requires_grad
        y.backward(); np.testing.assert_array_equal(x.grad.array, [2., 4.])
    finally: release.set(); t.join()


def test_thread_dying_inside_no_grad_changes_nothing_here():
    def leaky(): set_grad_enabled(False)              # never restored: only that thread's state
    t = threading.Thread(target=leaky); t.start(); t.join()
    assert is_grad_enabled() and (tensor([1.], requires_grad=True) * 2).requires_grad
    del t; gc.collect()
    assert bp.core._fast                                # the dead thread was counted out: the fast path is back


def test_backward_does_not_touch_other_threads():
    seen, started, done = [], threading.Event(), threading.Event()
    def watcher():
        while not done.is_set(): seen.append(is_grad_enabled()); started.set()
    old = sys.getswitchinterval(); sys.setswitchinterval(1e-5)     # let the watcher in often
    try:
        t = threading.Thread(target=watcher); t.start(); started.wait(10)
        x = tensor(np.ones(200), requires_grad=True); y = x
        for _ in range(3000): y = (y * 1.001).tanh()
        n = len(seen); y.sum().backward(); done.set(); t.join()
    finally: sys.setswitchinterval(old)
    assert len(seen) > n and all(seen)                 # the watcher ran while this thread's backward had recording off


def test_anomaly_mode_is_per_thread():
    flags = []
    def other(): flags.append(bp.core.is_anomaly_enabled())
    with bp.autograd.detect_anomaly():
        t = threading.Thread(target=other); t.start(); t.join()
        assert bp.core.is_anomaly_enabled()
    assert flags == [False] and not bp.core.is_anomaly_enabled()


def test_set_grad_enabled_forms():
    set_grad_enabled(False); assert not is_grad_enabled()
    set_grad_enabled(True); assert is_grad_enabled()
    with set_grad_enabled(False):
        assert not is_grad_enabled()
        with set_grad_enabled(True): assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()
    @set_grad_enabled(False)
    def f(): return is_grad_enabled()
    assert is_grad_enabled() and f() is False and is_grad_enabled()
    @no_grad()
    def g(): return is_grad_enabled()
    assert g() is False and is_grad_enabled()


@pytest.mark.skipif(torch is None, reason="torch (the oracle) is not installed")
def test_set_grad_enabled_like_torch():
    for m in (torch, bp):
        with m.no_grad():
            with m.set_grad_enabled(True): a = m.is_grad_enabled()
            b = m.is_grad_enabled()
        assert (a, b) == (True, False)
