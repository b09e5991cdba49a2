#!/usr/bin/env python
"""Benchmark one full training epoch of an MLP on digits-sized data: backprop against PyTorch (CPU), in one run.

The workload is what `python -m backprop --model mlp` does per epoch, at a larger width: the 1,438 training
digits of `bp.data.load_digits` (64 features, 10 classes), an MLP 64-256-256-10 with ReLU, softmax
cross-entropy, Adam (lr 1e-3), batch 64 (23 batches, the last one of 30), float32, a new random order
every epoch. Contenders:

  pytorch           torch.nn.Sequential + torch.optim.Adam, the canonical loop:
                    xb, yb = X[idx], y[idx]; loss = F.cross_entropy(model(xb), yb);
                    opt.zero_grad(); loss.backward(); opt.step()
  backprop          the same loop, line for line, with bp.nn / bp.optim / bp.nn.functional
  backprop-learner  `Learner(model, (DataLoader(shuffle=True), None), nn.CrossEntropyLoss(), opt_func=Adam,
                    progress=False).fit(1)`: the same epoch through the Learner, its DataLoader and its
                    callbacks (Recorder), i.e. what the library's training loop adds on top of the engine

All contenders start from the same weights (PyTorch's default init, copied across). Before timing, one
epoch of each from those weights and the same sample order is checked to give the same mean loss and the
same final weights (to float32 tolerance); the script stops with an error if they don't.

Timing: repetitions are interleaved (each repetition runs one epoch of every contender, in an order that
rotates from one repetition to the next, so drifts in machine load hit all alike). Reported per contender:
median, min-max, the ratio of medians to PyTorch, and the median [min-max] of the per-repetition (paired)
ratios.

Usage: python benchmarks/bench_mlp_epoch.py [--reps N] [--quick] [--threads N] [--json PATH]
"""
import argparse, gc, json, os, platform, statistics, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES, BS, LR = (64, 256, 256, 10), 64, 1e-3


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--reps', type=int, default=None, help='repetitions (default 21; 5 with --quick)')
    ap.add_argument('--warmup', type=int, default=3, help='untimed epochs per contender first (default 3)')
    ap.add_argument('--quick', action='store_true', help='few repetitions: a smoke test, not a measurement')
    ap.add_argument('--threads', type=int, default=None,
                    help="torch.set_num_threads(N) and OPENBLAS_NUM_THREADS=N for numpy (default: each library's default)")
    ap.add_argument('--json', metavar='PATH', help='also write the results (with raw samples) to PATH')
    a = ap.parse_args(argv)
    a.reps = a.reps or (5 if a.quick else 21)
    if a.reps < 1: ap.error('--reps must be >= 1')
    if a.threads is not None and a.threads < 1: ap.error('--threads must be >= 1')
    return a


def init_params(seed=0):
    "PyTorch's nn.Linear default init for this MLP, drawn once in numpy (the engine benchmark's helper)."
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_engine import init_params as _init
    return _init(seed, SIZES)


class TorchLoop:
    name = 'pytorch'
    def __init__(self, torch, X, y, params):
        self.torch, self.F = torch, torch.nn.functional
        nn = torch.nn
        self.model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        with torch.no_grad():
            for p, v in zip(self.model.parameters(), params): p.copy_(torch.from_numpy(v))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)
    def epoch(self, order):
        "One epoch over `order` (a numpy permutation); returns the mean loss per sample (batch losses weighted by size)."
        idx = self.torch.from_numpy(order)
        total, n = 0.0, 0
        for s in range(0, len(order), BS):
            i = idx[s:s + BS]
            xb, yb = self.X[i], self.y[i]
            loss = self.F.cross_entropy(self.model(xb), yb)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += loss.item() * len(i); n += len(i)
        return total / n
    def params(self): return [p.detach().numpy().copy() for p in self.model.parameters()]


class BackpropLoop:
    name = 'backprop'
    def __init__(self, bp, X, y, params):
        from backprop import nn, optim
        from backprop.nn import functional as F
        self.bp, self.F = bp, F
        self.model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        for p, v in zip(self.model.parameters(), params): p.array[...] = v
        self.opt = optim.Adam(self.model.parameters(), lr=LR)
        self.X, self.y = X, y
    def epoch(self, order):
        tensor = self.bp.tensor
        total, n = 0.0, 0
        for s in range(0, len(order), BS):
            i = order[s:s + BS]
            xb, yb = tensor(self.X[i]), tensor(self.y[i])
            loss = self.F.cross_entropy(self.model(xb), yb)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += loss.item() * len(i); n += len(i)
        return total / n
    def params(self): return [p.array.copy() for p in self.model.parameters()]


class BackpropLearner:
    "The same epoch through `Learner.fit(1)`: its DataLoader shuffles with a private generator."
    name = 'backprop-learner'
    def __init__(self, bp, X, y, params, seed):
        from backprop import nn, optim
        from backprop.data import TensorDataset, DataLoader
        from backprop.learner import Learner
        model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        for p, v in zip(model.parameters(), params): p.array[...] = v
        dl = DataLoader(TensorDataset(bp.tensor(X), bp.tensor(y)), batch_size=BS, shuffle=True, seed=seed)
        self.learn = Learner(model, (dl, None), nn.CrossEntropyLoss(), opt_func=optim.Adam, lr=LR, progress=False)
    def epoch(self, order=None):
        "One epoch in the DataLoader's own order (`order` is ignored)."
        self.learn.fit(1)
        r = self.learn.recorder
        return r.values[-1][0] if r.values else float('nan')
    def params(self): return [p.array.copy() for p in self.learn.model.parameters()]


def verify(contenders, first_order):
    "One epoch from the same weights and order: mean losses and final weights must agree."
    import numpy as np
    res = {c.name: (c.epoch(first_order), c.params()) for c in contenders}
    ref = res['pytorch'] if 'pytorch' in res else next(iter(res.values()))
    problems = []
    for name, (loss, ps) in res.items():
        if not np.isclose(loss, ref[0], rtol=1e-4, atol=1e-6): problems.append(f"{name}: mean loss {loss!r} vs {ref[0]!r}")
        for i, (p, r) in enumerate(zip(ps, ref[1])):
            err = float(np.abs(p - r).max())
            if err > 1e-4: problems.append(f"{name}: parameter {i} {r.shape} differs by {err:.3g} after one epoch")
    if problems: raise SystemExit("bench_mlp_epoch: VERIFICATION FAILED:\n  " + "\n  ".join(problems))
    return {n: l for n, (l, _) in res.items()}


def main(argv=None):
    a = parse(argv)
    if a.threads: os.environ['OPENBLAS_NUM_THREADS'] = os.environ['OMP_NUM_THREADS'] = str(a.threads)
    import numpy as np
    try: import torch
    except ImportError: sys.exit("bench_mlp_epoch: PyTorch is not installed (pip install torch==2.13.0)")
    if a.threads: torch.set_num_threads(a.threads)
    gc.collect(); gc.freeze()      # keep torch's import-time objects out of the collections backprop's graph triggers
    sys.path.insert(0, str(ROOT))
    import backprop as bp
    from backprop.data import load_digits

    ds = load_digits('train')
    X, y = (np.ascontiguousarray(t.array) for t in ds.tensors)
    assert X.shape == (1438, 64) and X.dtype == np.float32
    params, seed = init_params(), 0
    order_rng = np.random.default_rng(1)
    first_order = np.random.default_rng(seed).permutation(len(X))     # the Learner's DataLoader's first epoch

    make = lambda: [TorchLoop(torch, X, y, params), BackpropLoop(bp, X, y, params), BackpropLearner(bp, X, y, params, seed)]
    losses = verify(make(), first_order)
    contenders = make()
    for c in contenders:
        for _ in range(a.warmup): c.epoch(order_rng.permutation(len(X)))
    samples = {c.name: [] for c in contenders}
    for r in range(a.reps):
        order = order_rng.permutation(len(X))
        k = r % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            gc.collect()
            t0 = time.perf_counter(); c.epoch(order); samples[c.name].append(time.perf_counter() - t0)

    ref = samples['pytorch']
    rows, out = [], {}
    for name, s in samples.items():
        ms = [1e3 * v for v in s]
        paired = [v / w for v, w in zip(s, ref)]
        o = dict(median_ms=statistics.median(ms), min_ms=min(ms), max_ms=max(ms),
                 ratio=statistics.median(s) / statistics.median(ref), paired_median=statistics.median(paired),
                 paired_min=min(paired), paired_max=max(paired), samples_ms=ms)
        out[name] = o
        rows.append((name, f"{o['median_ms']:.1f}", f"{o['min_ms']:.1f}-{o['max_ms']:.1f}", f"{o['ratio']:.2f}x",
                     f"{o['paired_median']:.2f}x [{o['paired_min']:.2f}-{o['paired_max']:.2f}]"))
    head = ('contender', 'median ms/epoch', 'min-max', 'x PyTorch', 'paired x PyTorch [min-max]')
    w = [max(len(r[j]) for r in [head] + rows) for j in range(len(head))]
    fmt = lambda r: '  '.join(c.ljust(w[j]) if j == 0 else c.rjust(w[j]) for j, c in enumerate(r))

    print(f"One epoch of MLP {'-'.join(map(str, SIZES))} training on the digits (1,438 x 64, batch {BS}, "
          f"{-(-len(X) // BS)} batches), Adam lr {LR}, float32")
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), {os.cpu_count()} CPUs, {a.reps} interleaved repetitions, "
          f"{a.warmup} warm-up epochs each")
    print("verified: one epoch from the same weights gives mean losses "
          + ', '.join(f"{n} {l:.6f}" for n, l in losses.items()) + " and weights equal to 1e-4")
    print()
    print(fmt(head)); print('  '.join('-' * n for n in w))
    for r in rows: print(fmt(r))
    print()
    print(f"backprop / PyTorch: {out['backprop']['ratio']:.2f}x (median of paired ratios {out['backprop']['paired_median']:.2f}x); "
          f"with the Learner: {out['backprop-learner']['ratio']:.2f}x")
    if a.json:
        Path(a.json).write_text(json.dumps({'sizes': SIZES, 'batch': BS, 'reps': a.reps, 'results': out}, indent=1))
    return 0


if __name__ == '__main__': sys.exit(main())
