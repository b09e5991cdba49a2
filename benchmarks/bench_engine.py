#!/usr/bin/env python
"""Benchmark backprop's engine against PyTorch (CPU) and a hand-written numpy forward/backward, in one run.

Two benchmarks, each run as interleaved repetitions (every repetition runs every contender once, in an
order that rotates from one repetition to the next, so slow drifts in machine load hit all contenders alike):

(a) one SGD training step (forward, softmax cross-entropy, backward, update with lr=0.01) of an MLP
    784-512-512-10 with ReLU, float32, at batch 256 and batch 32. All contenders start from the same
    weights (drawn once in numpy, copied into each); before timing, one step of each is checked to give
    the same loss and the same weight update, and the script stops with an error if they don't.
    backprop uses its normal user path: the fused `linear` and `cross_entropy` of `backprop.nn.functional`
    (else `backprop.nn.layers` / `backprop.nn.losses`) when they exist, else primitives: `x @ W.T + b` and
    `-log_softmax(z, 1)[rows, y].mean()`; `relu`; `loss.backward()`; then `p.sub_(lr * p.grad)` under
    `no_grad` (the same in PyTorch). `--bp-path both` times both backprop paths as two contenders.
    PyTorch does the same with `torch.nn.functional`; numpy is explicit forward/backward with the fused
    softmax-cross-entropy gradient (the BLAS floor: the same matrix products and nothing else).
    tape: the same step on `tape.py`, a featureless reverse-mode tape (below), with its fused `linear` and
    `cross_entropy`, and the update on its plain ndarrays.
(b) per-op overhead on tiny arrays: a chain of 1,000 elementwise ops on shape (8,) (the mix
    `h*w, h+b, tanh(h)` repeated, and a pure `h*w` chain), forward + backward of `h.sum()`, reported in
    microseconds per op. w ~ 1 + 0.01 N(0,1) and b ~ 0.01 N(0,1) are constants; h0 requires grad.
    A numpy chain without autodiff bookkeeping (forward ufuncs + hand-written reverse loop) is the floor.

The contender 'tape' (both benchmarks) runs the same loop on `benchmarks/tape.py`: the leanest reverse-mode autodiff
in Python, one `__slots__` node and one output object per op and a single topological sweep, with none of
backprop's features (no version counters, hooks, checks, grad modes or create_graph; its docstring lists them). It
is a bound, not a competitor: its time is what any engine with a Python node per op pays at least, so backprop's
ratio to it is the price of backprop's features. It is verified like the others and reported under `targets:` as
[info] lines, never judged.

Reported per benchmark and contender: the median over repetitions, the min-max, the ratio of medians to
PyTorch, and the median [min-max] of the per-repetition (paired) ratios. Targets (issue 12, printed under
`targets:` as PASS/MISS with the same-run ratio of medians): with --threads 1, MLP step at batch 256 and 32
<= 0.85x PyTorch; with 2+ threads, batch 256 <= 1.0x; the mul/add/tanh per-op chain <= 0.5x PyTorch; and each
backprop workload <= 1.15x the hand-written numpy floor of the same run. Only backprop is judged; the tape's ratios
to PyTorch and backprop's ratio to the tape are printed as [info].

Noise. The timed process is the same for all contenders (same allocator and thread pools). OpenBLAS's idle workers
are told to stop busy-waiting after ~2^20 cycles (OPENBLAS_THREAD_TIMEOUT=20, unless set) and each timed block starts
after a short idle pause, so one contender's spinning workers don't steal a core from the next. Before timing, the
objects of numpy and torch (imported first) are moved out of the garbage collector's reach (gc.freeze), else every
full collection triggered by backprop's Python graph nodes would re-scan torch's ~140k objects (~0.1 s each). On a machine whose
CPUs are shared with other work, multi-threaded BLAS/OpenMP steps slow down erratically (a barrier waits for a
descheduled worker); then compare engines with `--threads 1 --clock cpu --no-trim` (one thread each, process CPU
time, and no page faults from glibc returning freed memory to the OS between steps).

Usage: python benchmarks/bench_engine.py [--reps N] [--quick] [--json results.json] [--check-targets]
       [--threads N] [--clock wall|cpu] [--no-trim] [--bp-path auto|nn|ops|both] [--only mlp|ops]
       [--engine DIR] (import `backprop` from DIR instead of this checkout, e.g. to measure a prototype)
"""
import argparse, gc, json, os, platform, statistics, sys, time
from pathlib import Path

# OpenBLAS's idle workers busy-wait ~2^28 cycles (~0.1 s; measured: 46 ms of CPU while the process sleeps) after each
# BLAS call, stealing a core from whichever contender runs next (in this process, PyTorch's OpenMP team). 2^20 cycles
# (~0.4 ms) still spans the gaps between the GEMMs of one step. Must be set before numpy loads OpenBLAS.
os.environ.setdefault('OPENBLAS_THREAD_TIMEOUT', '20')
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import tape                        # benchmarks/tape.py: the featureless tape contender
LR = 0.01
SIZES = (784, 512, 512, 10)
CHAIN = 1000
TARGET_MLP_1T, TARGET_MLP_2T, TARGET_CHAIN, TARGET_FLOOR = 0.85, 1.0, 0.5, 1.15   # issue 12's goals (same-run ratios)
SETTLE = 0.02                      # seconds of idle before each timed block, for spinning thread pools to go to sleep
clock = time.perf_counter          # --clock cpu: time.process_time

# ------------------------------------------------------------------ engines

def import_backprop(engine_dir=None):
    "Import backprop (from `engine_dir` or this checkout) and the pieces the benchmarks need."
    sys.path.insert(0, str(Path(engine_dir).resolve() if engine_dir else ROOT))
    import backprop, backprop.core as core
    try: import backprop.ops as ops
    except ImportError as e:
        sys.exit(f"bench_engine: backprop.ops is missing ({e}); export nbs/*ops*.ipynb first (nbdev-export)")
    return backprop, core, ops, find_nn()

def find_nn():
    "backprop's fused `linear` and `cross_entropy` as {name: (function, where)}: from backprop.nn.functional, else the nn modules."
    import importlib
    found = {}
    for mod in ('backprop.nn.functional', 'backprop.nn.layers', 'backprop.nn.losses'):
        try: m = importlib.import_module(mod)
        except ImportError: continue
        for name in ('linear', 'cross_entropy'):
            if name not in found and callable(getattr(m, name, None)): found[name] = (getattr(m, name), f'{mod}.{name}')
    return found

def import_torch(threads=None):
    try: import torch
    except ImportError: return None
    if threads: torch.set_num_threads(threads)
    return torch

def _openblas():
    "numpy's OpenBLAS as a ctypes library (found through /proc/self/maps), with its get/set-threads functions."
    try:
        import ctypes
        paths = {l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower() and l.split()[-1].startswith('/')}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for pre in ('scipy_openblas_', 'openblas_'):
                for suf in ('64_', ''):
                    get, set_ = getattr(lib, f'{pre}get_num_threads{suf}', None), getattr(lib, f'{pre}set_num_threads{suf}', None)
                    if get and set_: return get, set_
    except Exception: pass
    return None

def malloc_no_trim()->bool:
    """glibc only: keep freed memory in the heap instead of returning it to the OS, so the big temporaries of each
    step don't page-fault again (measured: ~1,800 minor faults and ~4 ms per b=256 step for backprop or numpy alone)."""
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 1 << 25))
    except Exception: return False

def minor_faults()->int:
    try: import resource
    except ImportError: return 0          # not on Unix: no fault counts
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def loadavg(): return os.getloadavg() if hasattr(os, 'getloadavg') else (0.0, 0.0, 0.0)

def blas_threads(n=None):
    "Threads numpy's OpenBLAS uses (after setting them to `n`), or None when that can't be found out."
    fns = _openblas()
    if fns is None: return None
    if n: fns[1](n)
    return int(fns[0]())

# ------------------------------------------------------------------ (a) MLP training step

def init_params(seed=0, sizes=None):
    "PyTorch's nn.Linear default init, drawn once in numpy: W (out, in) and b ~ U(-1/sqrt(in), 1/sqrt(in)); `sizes` defaults to SIZES."
    sizes = SIZES if sizes is None else sizes
    rng = np.random.default_rng(seed)
    ps = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        k = 1 / np.sqrt(fan_in)
        ps += [rng.uniform(-k, k, (fan_out, fan_in)).astype(np.float32), rng.uniform(-k, k, fan_out).astype(np.float32)]
    return ps

def make_batch(n, seed=1):
    rng = np.random.default_rng(seed + n)
    return rng.standard_normal((n, SIZES[0]), dtype=np.float32), rng.integers(0, SIZES[-1], n).astype(np.int64)

class NumpyMLP:
    "Hand-written forward/backward: the matrix products of the step and the elementwise work around them."
    name = 'numpy'
    def __init__(self, params, x, y):
        self.ps, self.x, self.y = [p.copy() for p in params], x, y
        self.rows = np.arange(len(y))
    def step(self):
        W1, b1, W2, b2, W3, b3 = self.ps
        x, y, n = self.x, self.y, len(self.y)
        h1 = x @ W1.T; h1 += b1; np.maximum(h1, 0, out=h1)
        h2 = h1 @ W2.T; h2 += b2; np.maximum(h2, 0, out=h2)
        z = h2 @ W3.T; z += b3
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        s = e.sum(1, keepdims=True)
        loss = float(np.log(s).mean() - z[self.rows, y].mean())
        d = e; d /= s; d[self.rows, y] -= 1; d *= 1 / n            # dL/dz = (softmax - onehot) / n
        gW3, gb3 = d.T @ h2, d.sum(0)
        d = d @ W3; d *= h2 > 0                                     # through relu: h2 > 0 iff pre-activation > 0
        gW2, gb2 = d.T @ h1, d.sum(0)
        d = d @ W2; d *= h1 > 0
        gW1, gb1 = d.T @ x, d.sum(0)
        for p, g in zip(self.ps, (gW1, gb1, gW2, gb2, gW3, gb3)): p -= LR * g
        return loss
    def params(self): return [p.copy() for p in self.ps]

class TorchMLP:
    name = 'pytorch'
    def __init__(self, torch, params, x, y):
        self.torch, self.F = torch, torch.nn.functional
        self.ps = [torch.tensor(p, requires_grad=True) for p in params]
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
    def step(self):
        F, (W1, b1, W2, b2, W3, b3) = self.F, self.ps
        h = F.relu(F.linear(self.x, W1, b1))
        h = F.relu(F.linear(h, W2, b2))
        loss = F.cross_entropy(F.linear(h, W3, b3), self.y)
        loss.backward()
        with self.torch.no_grad():
            for p in self.ps:
                p.sub_(LR * p.grad)
                p.grad = None
        return loss.item()
    def params(self): return [p.detach().numpy().copy() for p in self.ps]

class BackpropMLP:
    """backprop's MLP step. path 'nn': the fused `linear` / `cross_entropy` (what `bp.nn` users call) where they exist;
    path 'ops': primitives only, `x @ W.T + b` and `-log_softmax(z, 1)[rows, y].mean()`."""
    def __init__(self, bp, params, x, y, path='nn', name='backprop'):
        self.core, self.ops, nn = bp[1], bp[2], (bp[3] if path == 'nn' else {})
        self.name = name
        tensor = self.core.tensor
        self.ps = [tensor(p, requires_grad=True) for p in params]
        self.x, self.y = tensor(x), tensor(y)
        self.rows = self.core.arange(len(y))
        self.linear, self.cross_entropy = (nn[k][0] if k in nn else None for k in ('linear', 'cross_entropy'))
        self.path = f"linear: {nn['linear'][1] if self.linear else 'x @ W.T + b'}; " \
                    f"loss: {nn['cross_entropy'][1] if self.cross_entropy else '-log_softmax(z, 1)[rows, y].mean()'}"
    def lin(self, x, W, b): return self.linear(x, W, b) if self.linear else x @ W.T + b
    def step(self):
        ops, (W1, b1, W2, b2, W3, b3) = self.ops, self.ps
        h = ops.relu(self.lin(self.x, W1, b1))
        h = ops.relu(self.lin(h, W2, b2))
        z = self.lin(h, W3, b3)
        loss = self.cross_entropy(z, self.y) if self.cross_entropy else -ops.log_softmax(z, 1)[self.rows, self.y].mean()
        loss.backward()
        with self.core.no_grad():
            for p in self.ps:
                p.sub_(LR * p.grad)
                p.grad = None
        return loss.item()
    def params(self): return [p.array.copy() for p in self.ps]

class TapeMLP:
    "The same step on the featureless tape (`tape.py`): its fused linear and cross-entropy, SGD on its plain ndarrays."
    name = 'tape'
    def __init__(self, params, x, y):
        self.ps = [tape.Var(p.copy(), True) for p in params]
        self.x, self.y = tape.Var(x), y
    def step(self):
        W1, b1, W2, b2, W3, b3 = self.ps
        h = tape.linear(self.x, W1, b1).relu()
        h = tape.linear(h, W2, b2).relu()
        loss = tape.cross_entropy(tape.linear(h, W3, b3), self.y)
        loss.backward()
        for p in self.ps:
            p.array -= LR * p.grad
            p.grad = None
        return float(loss.array)
    def params(self): return [p.array.copy() for p in self.ps]

def verify_mlp(contenders, params0, batch):
    "One step from the same start: losses and weight updates must agree, or the benchmark is meaningless."
    ref = next((c for c in contenders if c.name == 'pytorch'), contenders[0])
    losses = {c.name: c.step() for c in contenders}
    deltas = {c.name: [p - p0 for p, p0 in zip(c.params(), params0)] for c in contenders}
    problems = []
    for c in contenders:
        if c is ref: continue
        if not np.isclose(losses[c.name], losses[ref.name], rtol=1e-5, atol=1e-6):
            problems.append(f"loss {c.name}={losses[c.name]!r} vs {ref.name}={losses[ref.name]!r}")
        for i, (d, r) in enumerate(zip(deltas[c.name], deltas[ref.name])):
            scale = float(np.abs(r).max()) or 1.0
            err = float(np.abs(d - r).max())
            if not (d.shape == r.shape and err <= 2e-3 * scale):
                problems.append(f"param {i} {r.shape}: update of {c.name} differs from {ref.name} by {err:.3g} (max |update| {scale:.3g})")
    if problems:
        raise SystemExit(f"bench_engine: VERIFICATION FAILED for the MLP step at batch {batch}:\n  " + "\n  ".join(problems))
    return losses

# ------------------------------------------------------------------ (b) per-op overhead

def chain_consts(seed=2):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(8).astype(np.float32), (1 + 0.01 * rng.standard_normal(8)).astype(np.float32),
            (0.01 * rng.standard_normal(8)).astype(np.float32))

class BackpropChain:
    name = 'backprop'
    def __init__(self, bp, kind):
        core = bp[1]
        h0, w, b = chain_consts()
        self.h0, self.w, self.b = core.tensor(h0, requires_grad=True), core.tensor(w), core.tensor(b)
        self.kind = kind
    def run(self):
        "(forward seconds, backward seconds, h, dh0) for one chain."
        w, b, h = self.w, self.b, self.h0
        t0 = clock()
        if self.kind == 'mix':
            for i in range(CHAIN):
                r = i % 3
                h = h * w if r == 0 else h + b if r == 1 else h.tanh()
        else:
            for _ in range(CHAIN): h = h * w
        s = h.sum()
        t1 = clock()
        s.backward()
        t2 = clock()
        g, self.h0.grad = self.h0.grad, None
        return t1 - t0, t2 - t1, self._np(h), self._np(g)
    def _np(self, t): return t.array

class TorchChain(BackpropChain):
    "The same chain in PyTorch (it inherits `run`, so both time exactly the same loop)."
    name = 'pytorch'
    def __init__(self, torch, kind):
        h0, w, b = chain_consts()
        self.h0, self.w, self.b = torch.tensor(h0, requires_grad=True), torch.tensor(w), torch.tensor(b)
        self.kind = kind
    def _np(self, t): return t.detach().numpy()

class TapeChain(BackpropChain):
    "The same chain on the featureless tape (`tape.py`); it inherits `run`, so it times the same loop too."
    name = 'tape'
    def __init__(self, kind):
        h0, w, b = chain_consts()
        self.h0, self.w, self.b = tape.Var(h0, True), tape.Var(w), tape.Var(b)
        self.kind = kind
    def _np(self, t): return t if isinstance(t, np.ndarray) else t.array     # the tape's gradients are plain ndarrays

class NumpyChain:
    "The floor: the same ufunc calls forward, the hand-written derivatives backward, no graph."
    name = 'numpy'
    def __init__(self, kind):
        self.h0, self.w, self.b = chain_consts()
        self.kind = kind
    def run(self):
        w, b, h = self.w, self.b, self.h0
        t0 = clock()
        tape = []
        if self.kind == 'mix':
            for i in range(CHAIN):
                r = i % 3
                if r == 0: h = h * w
                elif r == 1: h = h + b
                else: h = np.tanh(h); tape.append(h)
        else:
            for _ in range(CHAIN): h = h * w
        h.sum()                                  # the loss, as the autodiff contenders compute it
        t1 = clock()
        g = np.ones_like(h)
        if self.kind == 'mix':
            for i in reversed(range(CHAIN)):
                r = i % 3
                if r == 0: g = g * w
                elif r == 2: y = tape.pop(); g = g * (1 - y * y)
        else:
            for _ in range(CHAIN): g = g * w
        t2 = clock()
        return t1 - t0, t2 - t1, h, g

def verify_chain(contenders, kind):
    outs = {c.name: c.run() for c in contenders}
    ref = outs['pytorch'] if 'pytorch' in outs else next(iter(outs.values()))
    problems = [f"{name}: {what} differs (max abs err {np.abs(o[k] - ref[k]).max():.3g})"
                for name, o in outs.items() for k, what in ((2, 'output'), (3, 'gradient'))
                if not np.allclose(o[k], ref[k], rtol=1e-4, atol=1e-5)]
    if problems: raise SystemExit(f"bench_engine: VERIFICATION FAILED for the {kind} chain:\n  " + "\n  ".join(problems))

# ------------------------------------------------------------------ timing

def calibrate(fn, block_s, warmup):
    "Run `fn` `warmup` times, then choose how many calls make one timed block of about `block_s` seconds."
    for _ in range(warmup): fn()
    t0 = time.perf_counter(); fn(); t = time.perf_counter() - t0
    return max(1, min(100_000, round(block_s / max(t, 1e-9))))

def interleaved(contenders, timed, reps, block_s, warmup):
    """Per repetition, time one block of each contender, rotating the order. `timed(c)` runs one call
    and returns its seconds (a number, or a dict of named parts). Returns {name: [per-call seconds per rep]},
    the calls per block, and the minor page faults per call."""
    inner = {c.name: calibrate(lambda: timed(c), block_s, warmup) for c in contenders}
    samples = {c.name: [] for c in contenders}
    faults = {c.name: 0 for c in contenders}
    for r in range(reps):
        k = r % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            gc.collect()
            time.sleep(SETTLE)
            f0 = minor_faults()
            parts = [timed(c) for _ in range(inner[c.name])]
            faults[c.name] += minor_faults() - f0
            if isinstance(parts[0], dict): samples[c.name].append({key: sum(p[key] for p in parts) / len(parts) for key in parts[0]})
            else: samples[c.name].append(sum(parts) / len(parts))
    return samples, inner, {n: f / (reps * inner[n]) for n, f in faults.items()}

def timed_step(c):
    t0 = clock(); c.step(); return clock() - t0

def timed_chain(c):
    f, b, _, _ = c.run()
    return {'total': f + b, 'forward': f, 'backward': b}

# ------------------------------------------------------------------ report

def target_verdicts(results, threads, have_torch):
    """Issue 12's goals as [(text, ok)], each a same-run ratio of medians: the MLP step <= 0.85x PyTorch at batch 256
    and 32 with 1 thread (<= 1.0x at batch 256 with 2+ threads); the mul/add/tanh per-op chain (fwd+bwd) <= 0.5x
    PyTorch; and every backprop workload <= 1.15x the hand-written numpy floor of the same run. The featureless tape's
    ratios (to PyTorch, to the floor) and backprop's ratio to the tape come as [info] lines (ok None): a bound, not a goal."""
    out = []
    one = threads == 1
    mlp_goals = {256: TARGET_MLP_1T, 32: TARGET_MLP_1T} if one else {256: TARGET_MLP_2T}
    tlabel = '1 thread' if one else f"{threads or 'default'} threads"
    for batch in (256, 32):
        key = f"mlp_step_b{batch}"
        if key not in results: continue
        summ = results[key]['summary']
        for name, o in summ.items():
            if not name.startswith('backprop'): continue
            if have_torch and batch in mlp_goals:
                out.append((f"MLP step b={batch}, {tlabel}: {name} {o['ratio']:.2f}x PyTorch (goal <= {mlp_goals[batch]}x)",
                            o['ratio'] <= mlp_goals[batch]))
            if 'numpy' in summ:
                r = o['median'] / summ['numpy']['median']
                out.append((f"MLP step b={batch}, {tlabel}: {name} {r:.2f}x numpy floor (goal <= {TARGET_FLOOR}x)", r <= TARGET_FLOOR))
            if 'tape' in summ:
                out.append((f"MLP step b={batch}, {tlabel}: {name} / tape {o['median'] / summ['tape']['median']:.2f}x", None))
        if 'tape' in summ:
            t = summ['tape']
            vs = [f"{t['ratio']:.2f}x PyTorch"] if have_torch else []
            if 'numpy' in summ: vs.append(f"{t['median'] / summ['numpy']['median']:.2f}x numpy floor")
            out.append((f"MLP step b={batch}, {tlabel}: featureless tape {', '.join(vs)}", None))
    for kind in ('mix', 'mul'):
        key = f"per_op_{kind}"
        if key not in results: continue
        summ = results[key]['summary']['total']
        o = summ['backprop']
        if have_torch:
            label = 'mul/add/tanh' if kind == 'mix' else 'mul only'
            ok = o['ratio'] <= TARGET_CHAIN
            out.append((f"per-op chain ({label}), fwd+bwd: backprop {o['ratio']:.2f}x PyTorch, "
                         f"ratio of medians (goal <= {TARGET_CHAIN}x{'' if kind == 'mix' else ', not in the issue; shown'})",
                         ok if kind == 'mix' else None))
        if 'numpy' in summ:
            r = o['median'] / summ['numpy']['median']
            out.append((f"per-op chain ({kind}): backprop {r:.1f}x numpy floor (goal <= {TARGET_FLOOR}x{'' if kind == 'mix' else ', shown'})",
                        (r <= TARGET_FLOOR) if kind == 'mix' else None))
        if 'tape' in summ:
            t, parts = summ['tape'], results[key]['summary']
            if have_torch:
                goal = f" (goal <= {TARGET_CHAIN}x)" if kind == 'mix' else ''
                out.append((f"per-op chain ({kind}), fwd+bwd: featureless tape {t['ratio']:.2f}x PyTorch{goal}: "
                            f"the floor of any engine with a Python node per op", None))
            fb = ', '.join(f"{p} {parts[p]['backprop']['median'] / parts[p]['tape']['median']:.2f}x" for p in ('forward', 'backward'))
            out.append((f"per-op chain ({kind}): backprop / tape {o['median'] / t['median']:.2f}x ({fb}): "
                        f"the price of backprop's features over a bare Python graph", None))
    return out

def summarise(samples, key=None, scale=1.0):
    "Median, min, max (scaled) per contender, and paired per-rep ratios to PyTorch."
    val = lambda s: (s[key] if key else s) * scale
    out = {}
    for name, ss in samples.items():
        v = [val(s) for s in ss]
        out[name] = dict(median=statistics.median(v), min=min(v), max=max(v), samples=v)
    if 'pytorch' in out:
        ref = out['pytorch']
        for name, o in out.items():
            paired = [a / b for a, b in zip(o['samples'], ref['samples'])]
            o.update(ratio=o['median'] / ref['median'], paired_median=statistics.median(paired),
                     paired_min=min(paired), paired_max=max(paired))
    return out

def fmt(x): return f"{x:.3g}" if x < 100 else f"{x:.0f}"

def table(rows):
    "rows: (benchmark, unit, summary dict)."
    head = ('benchmark', 'contender', 'median', 'min-max', 'x PyTorch', 'paired x PyTorch [min-max]')
    lines = []
    for bench, unit, summ in rows:
        for i, (name, o) in enumerate(summ.items()):
            ratio = f"{o['ratio']:.2f}x" if 'ratio' in o else 'n/a'
            paired = f"{o['paired_median']:.2f}x [{o['paired_min']:.2f}-{o['paired_max']:.2f}]" if 'ratio' in o else 'n/a'
            lines.append((f"{bench} ({unit})" if i == 0 else '', name, fmt(o['median']), f"{fmt(o['min'])}-{fmt(o['max'])}", ratio, paired))
    w = [max(len(str(r[j])) for r in [head] + lines) for j in range(len(head))]
    line = lambda r: '  '.join(str(c).ljust(w[j]) if j < 2 else str(c).rjust(w[j]) for j, c in enumerate(r))
    return '\n'.join([line(head), '  '.join('-' * n for n in w)] + [line(r) for r in lines])

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--reps', type=int, default=None, help='repetitions per benchmark (default 21; 5 with --quick)')
    ap.add_argument('--quick', action='store_true', help='few, short repetitions: a smoke test, not a measurement')
    ap.add_argument('--block', type=float, default=None, help='seconds per timed block (default 0.25; 0.05 with --quick)')
    ap.add_argument('--json', metavar='PATH', help='also write all results (with raw samples) to PATH')
    ap.add_argument('--threads', type=int, default=None,
                    help="torch.set_num_threads(N) and numpy's OpenBLAS threads N (default: each library's default)")
    ap.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                    help='wall: time.perf_counter (default); cpu: process CPU time, robust to other processes '
                         'on a loaded machine but counting every thread (use with --threads 1)')
    ap.add_argument('--no-trim', action='store_true',
                    help="glibc mallopt: don't return freed memory to the OS (removes page-fault noise; all contenders share it)")
    ap.add_argument('--no-freeze', action='store_true',
                    help="don't gc.freeze() numpy's and torch's objects before importing backprop (then full GC passes, "
                         "triggered by backprop's Python graph nodes, also scan torch's heap)")
    ap.add_argument('--engine', metavar='DIR', help='import backprop from DIR instead of this checkout')
    ap.add_argument('--only', choices=['mlp', 'ops'], help='run one benchmark group only')
    ap.add_argument('--bp-path', choices=['auto', 'nn', 'ops', 'both'], default='auto',
                    help="backprop's MLP code: nn = fused linear/cross_entropy from backprop.nn, ops = primitives "
                         "(x @ W.T + b, log_softmax + indexing); auto = nn when it exists; both = two contenders")
    ap.add_argument('--check-targets', action='store_true', help='exit 1 when a target is missed')
    a = ap.parse_args(argv)
    reps = a.reps or (5 if a.quick else 21)
    block = a.block or (0.05 if a.quick else 0.25)
    if reps < 1: ap.error('--reps must be >= 1')

    global clock
    clock = time.process_time if a.clock == 'cpu' else time.perf_counter
    torch = import_torch(a.threads)
    if not a.no_freeze:     # torch's ~140k import-time objects would otherwise be re-scanned by every full collection,
        gc.collect()        # which backprop's Python graph nodes trigger (~100 ms each, measured) but torch's C++ graph
        gc.freeze()         # doesn't; backprop is imported after the freeze, so its own objects still count
    bp = import_backprop(a.engine)
    if a.threads and hasattr(bp[0], 'set_num_threads'): bp[0].set_num_threads(a.threads)   # backprop's pool follows --threads too
    nblas = blas_threads(a.threads)
    no_trim = malloc_no_trim() if a.no_trim else False
    if a.no_trim and not no_trim: print("note: --no-trim: mallopt is not available here (not glibc?); ignored")
    meta = dict(python=platform.python_version(), numpy=np.__version__, torch=getattr(torch, '__version__', None),
                backprop=str(Path(bp[0].__file__).parent), torch_threads=torch.get_num_threads() if torch else None,
                torch_interop_threads=torch.get_num_interop_threads() if torch else None,
                numpy_blas_threads=nblas, openblas_thread_timeout=os.environ.get('OPENBLAS_THREAD_TIMEOUT'), clock=a.clock, malloc_no_trim=no_trim, gc_freeze=not a.no_freeze, cpus=os.cpu_count(), machine=platform.machine(),
                load_avg_start=loadavg(), reps=reps, block_s=block, chain_len=CHAIN,
                time=time.strftime('%Y-%m-%d %H:%M:%S'))
    print(f"backprop from {meta['backprop']}; numpy {meta['numpy']} (BLAS threads {meta['numpy_blas_threads']}); "
          f"torch {meta['torch']} (threads {meta['torch_threads']}, interop {meta['torch_interop_threads']}); "
          f"{meta['cpus']} CPUs, load {' '.join(f'{l:.2f}' for l in meta['load_avg_start'])}")
    if torch is None: print("PyTorch is not installed: no PyTorch column, no ratios.")
    if a.clock == 'cpu' and (nblas != 1 or (torch and torch.get_num_threads() != 1)):
        print("note: --clock cpu sums CPU time over threads (spinning BLAS/OpenMP workers too); pass --threads 1 to compare")
    print(f"{reps} interleaved repetitions, timed blocks of ~{block}s, clock: {a.clock}\n", flush=True)

    rows, results, notes = [], {}, []
    has_nn = {'linear', 'cross_entropy'} & set(bp[3])
    bp_paths = {'auto': [('nn' if has_nn else 'ops', 'backprop')], 'ops': [('ops', 'backprop')], 'nn': [('nn', 'backprop')],
                'both': [('ops', 'backprop[ops]'), ('nn', 'backprop[nn]')]}[a.bp_path]
    if a.only in (None, 'mlp'):
        for path, name in bp_paths:
            print(f"{name} MLP path: {BackpropMLP(bp, init_params(), *make_batch(2), path, name).path}")
        params0 = init_params()
        for batch in (256, 32):
            x, y = make_batch(batch)
            make = lambda: [BackpropMLP(bp, params0, x, y, path, name) for path, name in bp_paths] + \
                           [c for c in (TorchMLP(torch, params0, x, y) if torch else None, TapeMLP(params0, x, y),
                                        NumpyMLP(params0, x, y)) if c is not None]
            cs = make()
            losses = verify_mlp(cs, params0, batch)
            print(f"MLP batch {batch}: verified one step, losses " + ', '.join(f'{k} {v:.7f}' for k, v in losses.items()), flush=True)
            cs = make()                      # fresh weights for timing
            samples, inner, faults = interleaved(cs, timed_step, reps, block, warmup=3)
            s = summarise(samples, scale=1e3)
            rows.append((f"MLP step b={batch}", 'ms', s))
            notes.append(f"MLP b={batch}: minor page faults per step: " + ', '.join(f'{n} {f:.0f}' for n, f in faults.items()))
            results[f"mlp_step_b{batch}"] = dict(unit='ms', steps_per_block=inner, faults_per_step=faults,
                                                 backprop_paths={c.name: c.path for c in cs if c.name.startswith('backprop')}, summary=s)
    if a.only in (None, 'ops'):
        for kind, label in (('mix', 'mul/add/tanh'), ('mul', 'mul only')):
            make = lambda: [c for c in (BackpropChain(bp, kind), TorchChain(torch, kind) if torch else None, TapeChain(kind),
                                        NumpyChain(kind)) if c is not None]
            verify_chain(make(), kind)
            cs = make()
            samples, inner, _ = interleaved(cs, timed_chain, reps, block, warmup=2)
            res = {}
            for part in ('total', 'forward', 'backward'):
                res[part] = summarise(samples, key=part, scale=1e6 / CHAIN)
            rows.append((f"per-op {label} fwd+bwd", 'us/op', res['total']))
            rows.append(("  of which forward", 'us/op', res['forward']))
            rows.append(("  of which backward", 'us/op', res['backward']))
            results[f"per_op_{kind}"] = dict(unit='us/op', chains_per_block=inner, summary=res)
        print("per-op chains verified (same output and gradient as PyTorch)", flush=True)

    meta['load_avg_end'] = loadavg()
    print('\n' + table(rows))
    for n in notes: print(n)
    print(f"\nload average at end: {' '.join(f'{l:.2f}' for l in meta['load_avg_end'])} on {meta['cpus']} CPUs")
    busy = max(meta['load_avg_start'][0], meta['load_avg_end'][0]) > 0.75 * (meta['cpus'] or 1)
    if busy and a.clock == 'wall':
        print("WARNING: other processes were using the CPUs. Multi-threaded BLAS/OpenMP steps slow down by large, erratic\n"
              "factors when a worker thread is descheduled (barriers wait for it), so these wall-clock numbers are mostly\n"
              "noise. For an engine comparison on a shared machine use: --threads 1 --clock cpu --no-trim")

    verdicts = target_verdicts(results, a.threads, torch is not None)
    if verdicts: print('\ntargets:')
    for text, ok in verdicts: print(f"  [{'PASS' if ok else 'MISS' if ok is not None else 'info'}] {text}")

    if a.json:
        Path(a.json).write_text(json.dumps(dict(meta=meta, results=results,
                                                targets=[dict(text=t, ok=ok) for t, ok in verdicts]), indent=1))
        print(f"\nwrote {a.json}")
    if a.check_targets and not all(ok for _, ok in verdicts if ok is not None): return 1
    return 0

if __name__ == '__main__':
    sys.exit(main())
