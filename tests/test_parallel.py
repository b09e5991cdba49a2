"""backprop.parallel: the thread pool and the one thread setting (issue 12, multi-core part).

Results must be bit-identical across thread counts, `set_num_threads`/`get_num_threads` behave as PyTorch's, BLAS is
single-threaded inside a split operation and gets its count back afterwards (no oversubscription), and operations
from several Python threads at once give correct results.
"""
import os, sys, threading, multiprocessing as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import backprop as bp
import backprop.parallel as par
from backprop.nn.conv import conv2d, max_pool2d, conv_transpose2d


@pytest.fixture(autouse=True)
def restore_setting():
    "Every test leaves the thread count and the threshold as it found them."
    n, ms, cpt = par.get_num_threads(), par.min_size, par.chunks_per_thread
    yield
    par.min_size, par.chunks_per_thread = ms, cpt
    par.set_num_threads(n)


def at_threads(t, f, *a, min_size=0, **kw):
    par.set_num_threads(t); par.min_size = min_size
    return f(*a, **kw)


# ------------------------------------------------------------------ set / get

def test_set_get_semantics():
    par.set_num_threads(3)
    assert par.get_num_threads() == bp.get_num_threads() == 3
    if par.blas_num_threads() is not None: assert par.blas_num_threads() == 3     # one setting for both
    bp.set_num_threads(1)
    assert par.get_num_threads() == 1 and par.blas_num_threads() in (1, None)
    par.set_num_threads(np.int64(2)); assert par.get_num_threads() == 2 and type(par.get_num_threads()) is int
    for bad, err in [(0, RuntimeError), (-1, RuntimeError), (1.0, TypeError), ('2', TypeError), (True, TypeError)]:
        with pytest.raises(err): par.set_num_threads(bad)
    assert par.get_num_threads() == 2                                            # a refused value changes nothing


def test_default_follows_env():
    "Default: OMP_NUM_THREADS, else OPENBLAS_NUM_THREADS, else the usable cores (checked in a fresh interpreter)."
    import subprocess
    code = "import backprop.parallel as p; print(p.get_num_threads())"
    run = lambda env: int(subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, check=True).stdout)
    base = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS')}
    assert run(dict(base, OMP_NUM_THREADS='3')) == 3
    assert run(dict(base, OPENBLAS_NUM_THREADS='1')) == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    assert run(base) == cores


# ------------------------------------------------------------------ the pool

def covers(chunks, n):
    "Contiguous chunks that cover range(n) exactly once?"
    c = sorted(chunks)
    return c[0][0] == 0 and c[-1][1] == n and all(a[1] == b[0] for a, b in zip(c, c[1:])) and all(lo < hi for lo, hi in c)

def test_chunks_cover_range_once():
    par.set_num_threads(3)
    got = []
    par.parallel_for(lambda lo, hi: got.append((lo, hi)), 10)
    assert covers(got, 10) and 3 <= len(got) <= 3 * par.chunks_per_thread
    par.chunks_per_thread = 2
    got.clear(); par.parallel_for(lambda lo, hi: got.append((lo, hi)), 10)
    assert covers(got, 10) and len(got) == 6
    got.clear(); par.parallel_for(lambda lo, hi: got.append((lo, hi)), 2)
    assert sorted(got) == [(0, 1), (1, 2)]                 # fewer items than threads: one per item
    got.clear(); par.parallel_for(lambda lo, hi: got.append((lo, hi)), 10, size=par.min_size - 1)
    assert got == [(0, 10)]                                # below the threshold: inline
    got.clear(); par.parallel_for(lambda lo, hi: got.append((lo, hi)), 1000, size=3 * par.min_size)
    assert covers(got, 1000) and len(got) == 3             # each chunk gets at least min_size elements of work


def test_every_thread_takes_part():
    "Three chunks that wait for each other can only finish if three threads run them at once."
    par.set_num_threads(3); par.chunks_per_thread = 1
    meet, names = threading.Barrier(3, timeout=20), set()
    def fn(lo, hi):
        names.add(threading.get_ident()); meet.wait()
    par.parallel_for(fn, 3)
    assert len(names) == 3


def test_late_worker_does_not_stall_the_caller():
    "If the worker is busy, the caller takes every chunk itself instead of waiting for it."
    par.set_num_threads(2)
    gate, started = threading.Event(), threading.Event()
    def hold(lo, hi):
        if lo == 0: started.set(); gate.wait(20)           # one chunk that occupies whoever takes it
    t = threading.Thread(target=par.parallel_for, args=(hold, 2)); t.start()
    assert started.wait(20)
    # the other thread (caller or worker) is now inside `hold`; a second split from this thread must still finish
    done = []
    par.parallel_for(lambda lo, hi: done.append((lo, hi)), 8)
    assert covers(done, 8)
    gate.set(); t.join(20); assert not t.is_alive()


def test_errors_propagate_and_pool_survives():
    par.set_num_threads(2)
    def bad(lo, hi):
        if lo: raise KeyError('worker chunk')
    with pytest.raises(KeyError): par.parallel_for(bad, 4)
    out = np.zeros(4)
    par.parallel_for(lambda lo, hi: out.__setitem__(slice(lo, hi), 1), 4)
    assert (out == 1).all()


# ------------------------------------------------------------------ no oversubscription

needs_blas = pytest.mark.skipif(par.blas_num_threads() is None, reason="no OpenBLAS found to steer")

@needs_blas
def test_blas_single_threaded_inside_and_restored_after():
    par.set_num_threads(2)
    inside = []
    par.parallel_for(lambda lo, hi: inside.append(par.blas_num_threads()), 2)
    assert inside == [1, 1] and par.blas_num_threads() == 2
    with pytest.raises(ZeroDivisionError): par.parallel_for(lambda lo, hi: 1 / 0, 2)
    assert par.blas_num_threads() == 2                                           # restored after an error too
    x, w = bp.randn(8, 3, 40, 40), bp.randn(4, 3, 3, 3)
    par.min_size = 0
    conv2d(x, w).sum()
    assert par.blas_num_threads() == 2                                           # and after a pooled conv


@needs_blas
def test_set_inside_a_region_applies_when_it_ends():
    par.set_num_threads(2)
    seen = []
    def fn(lo, hi):
        if lo == 0: par.set_num_threads(3)
        seen.append(par.blas_num_threads())
    par.parallel_for(fn, 2)
    assert seen == [1, 1] and par.get_num_threads() == 3 and par.blas_num_threads() == 3


# ------------------------------------------------------------------ bit-identical across thread counts

UFUNCS = [(np.add, 2), (np.multiply, 2), (np.maximum, 2), (np.greater, 2), (np.tanh, 1), (np.exp, 1), (np.sqrt, 1)]

@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 300), cols=st.integers(1, 70), bias=st.booleans(), square=st.booleans(), which=st.integers(0, len(UFUNCS) - 1),
       dt=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
def test_parallel_ufunc_bit_identical(rows, cols, bias, square, which, dt, seed):
    rng = np.random.default_rng(seed)
    if square: cols = rows                                  # a bias row as long as the leading axis still broadcasts
    f, nin = UFUNCS[which]
    x = np.abs(rng.standard_normal((rows, cols))).astype(dt)
    y = rng.standard_normal(cols if bias else (rows, cols)).astype(dt)
    args = (x, y)[:nin]
    want = f(*args)
    for t in (1, 2, 3):
        got = at_threads(t, par.parallel_ufunc, f, *args)
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want, equal_nan=True)
    out = np.empty_like(want)
    assert at_threads(2, par.parallel_ufunc, f, *args, out=out) is out and np.array_equal(out, want, equal_nan=True)
    dst = np.empty((rows, cols), dt)
    at_threads(2, par.parallel_copyto, dst, y); assert np.array_equal(dst, np.broadcast_to(y, dst.shape))


def conv_pool_step(x, w, b, stride, padding, dilation):
    "conv -> relu -> max pool -> transposed conv, forward and backward: every pooled path of the conv chapter."
    xt, wt, bt = (bp.tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation).relu()
    if min(y.shape[2:]) >= 2: y = max_pool2d(y, 2, ceil_mode=True)
    z = conv_transpose2d(y, wt.detach(), stride=stride)
    z.backward(bp.tensor(np.sin(np.arange(z.numel())).reshape(z.shape).astype(x.dtype)))
    return [y.array, z.array, xt.grad.array, wt.grad.array, bt.grad.array]

@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 9), c=st.integers(1, 3), hw=st.integers(5, 12), stride=st.integers(1, 2), padding=st.integers(0, 2),
       dilation=st.integers(1, 2), ties=st.booleans(), dt=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
def test_conv_and_pool_bit_identical(n, c, hw, stride, padding, dilation, ties, dt, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, hw, hw + 1))
    w = rng.standard_normal((4, c, 3, 2))
    if ties: x, w = x.round(), w.round()                 # integer values: ties in the max pool
    x, w, b = x.astype(dt), w.astype(dt), rng.standard_normal(4).astype(dt)
    runs = [at_threads(t, conv_pool_step, x, w, b, stride, padding, dilation) for t in (1, 2, 3)]
    runs.append(at_threads(2, conv_pool_step, x, w, b, stride, padding, dilation, min_size=1 << 40))   # all inline
    for r in runs[1:]:
        for a, q in zip(runs[0], r): assert a.dtype == q.dtype and np.array_equal(a, q)


# ------------------------------------------------------------------ thread safety

def test_ops_from_several_python_threads():
    "Four Python threads each run pooled convolutions and ufuncs at once: every result equals the one-thread result."
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((6, 2, 15, 14)).astype(np.float32) for _ in range(4)]
    w, b = rng.standard_normal((3, 2, 3, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    want = [at_threads(1, conv_pool_step, x, w, b, 1, 1, 1) for x in xs]
    wu = [np.tanh(x) * x for x in xs]
    par.set_num_threads(2); par.min_size = 0
    errors, barrier = [], threading.Barrier(4)
    def worker(i):
        try:
            barrier.wait()
            for _ in range(5):
                got = conv_pool_step(xs[i], w, b, 1, 1, 1)
                assert all(np.array_equal(a, q) for a, q in zip(want[i], got))
                assert np.array_equal(par.parallel_ufunc(np.multiply, par.parallel_ufunc(np.tanh, xs[i]), xs[i]), wu[i])
        except BaseException as e: errors.append(e)
    ths = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ths: t.start()
    for t in ths: t.join()
    assert not errors, errors[0]
    assert par._active == 0
    if par.blas_num_threads() is not None: assert par.blas_num_threads() == 2    # the last region restored BLAS


def _child(q):
    out = par.parallel_ufunc(np.add, np.ones((300, 300)), 1.0)
    q.put(float(out.sum()))

@pytest.mark.skipif(not hasattr(os, 'fork'), reason="needs fork")
def test_pool_works_after_fork():
    par.set_num_threads(2); par.min_size = 0
    par.parallel_ufunc(np.add, np.ones((10, 10)), 1.0)          # the parent's pool is running
    ctx = mp.get_context('fork')
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,)); p.start()
    assert q.get(timeout=60) == 2.0 * 300 * 300
    p.join(60); assert p.exitcode == 0
