#!/usr/bin/env python
"""Benchmark LSTM (and GRU) forward + backward, backprop against PyTorch (CPU), in one run.

The step: one layer, sequence length 100, batch 32, input 128, hidden 128, float32, time-major input that
requires grad; `out, _ = lstm(x)`, `loss = (out * G).sum()` for a fixed random G, `loss.backward()`, then every
`.grad` is reset to None (the same in both). backprop uses `backprop.nn.LSTM` / `GRU` (fused backward through
time); PyTorch uses `torch.nn.LSTM` / `GRU`. Both start from the same weights (backprop's default init, copied
into PyTorch through `state_dict`); before timing, one step of each is checked to give the same output and the
same gradients of the input and of every parameter.

Timing: for each thread count (default 1 and 2: `torch.set_num_threads(n)` and numpy's OpenBLAS threads n),
interleaved repetitions (each repetition times a block of steps of every contender, in rotating order), reporting
the median, the min-max, the ratio of medians to PyTorch and the median [min-max] of the per-repetition (paired)
ratios. Helpers (interleaving, summaries, table, thread and malloc control) are bench_engine's. Target: LSTM
<= 1.5x PyTorch.

Usage: python benchmarks/bench_lstm.py [--reps N] [--quick] [--threads 1,2] [--clock wall|cpu] [--no-trim]
       [--seq 100] [--batch 32] [--input 128] [--hidden 128] [--only lstm|gru] [--json PATH] [--check-targets]
"""
import argparse, json, os, platform, sys, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine as be          # shared timing/reporting helpers

TARGET = 1.5


def make_data(L, N, I, H, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((L, N, I), dtype=np.float32), rng.standard_normal((L, N, H), dtype=np.float32)


class BackpropRNN:
    name = 'backprop'
    def __init__(self, mode, x, G, I, H, seed=0):
        import backprop.core as core, backprop.nn as nn
        core.manual_seed(seed)
        self.core, self.m = core, getattr(nn, mode)(I, H)
        self.x, self.G = core.tensor(x, requires_grad=True), core.tensor(G)
    def state(self): return {k: np.array(v.array) for k, v in self.m.state_dict().items()}
    def step(self):
        out, _ = self.m(self.x)
        (out * self.G).sum().backward()
        res = out.array, self.x.grad.array, {n: p.grad.array for n, p in self.m.named_parameters()}
        self.x.grad = None
        for p in self.m.parameters(): p.grad = None
        return res


class TorchRNN:
    name = 'pytorch'
    def __init__(self, torch, mode, x, G, I, H, state):
        self.torch, self.m = torch, getattr(torch.nn, mode)(I, H)
        self.m.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        self.x, self.G = torch.tensor(x, requires_grad=True), torch.tensor(G)
    def step(self):
        out, _ = self.m(self.x)
        (out * self.G).sum().backward()
        res = out.detach().numpy(), self.x.grad.numpy(), {n: p.grad.numpy() for n, p in self.m.named_parameters()}
        self.x.grad = None
        for p in self.m.parameters(): p.grad = None
        return res


def make(torch, mode, x, G, I, H):
    b = BackpropRNN(mode, x, G, I, H)
    return [b, TorchRNN(torch, mode, x, G, I, H, b.state())] if torch else [b]


def verify(cs, mode):
    "Same output, input gradient and parameter gradients from the same weights — else the timing compares different computations."
    if len(cs) < 2: return
    (ob, xb, pb), (ot, xt, pt) = [c.step() for c in cs]
    problems = []
    for what, a, e in [('output', ob, ot), ('input grad', xb, xt)] + [(f'grad {n}', pb[n], pt[n]) for n in pt]:
        scale = float(np.abs(e).max()) or 1.0
        err = float(np.abs(a - e).max())
        if a.shape != e.shape or err > 1e-4 * scale:
            problems.append(f"{what}: differs by {err:.3g} (max |value| {scale:.3g})")
    if problems: raise SystemExit(f"bench_lstm ({mode}): VERIFICATION FAILED:\n  " + "\n  ".join(problems))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--reps', type=int, default=None, help='repetitions (default 15; 3 with --quick)')
    ap.add_argument('--quick', action='store_true', help='few, short repetitions: a smoke test, not a measurement')
    ap.add_argument('--block', type=float, default=None, help='seconds per timed block (default 0.3; 0.05 with --quick)')
    ap.add_argument('--threads', default='1,2', help='comma-separated thread counts, each a separate table (default 1,2)')
    ap.add_argument('--clock', choices=['wall', 'cpu'], default='wall', help='wall (default) or process CPU time')
    ap.add_argument('--no-trim', action='store_true', help="glibc mallopt: keep freed memory in the heap (both contenders share it)")
    ap.add_argument('--seq', type=int, default=100); ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--input', type=int, default=128); ap.add_argument('--hidden', type=int, default=128)
    ap.add_argument('--only', choices=['lstm', 'gru'], help='run one layer kind only')
    ap.add_argument('--json', metavar='PATH', help='also write the results (with raw samples) to PATH')
    ap.add_argument('--check-targets', action='store_true', help=f'exit 1 when the LSTM is slower than {TARGET}x PyTorch')
    a = ap.parse_args(argv)
    reps, block = a.reps or (3 if a.quick else 15), a.block or (0.05 if a.quick else 0.3)
    be.clock = time.process_time if a.clock == 'cpu' else time.perf_counter
    torch = be.import_torch(None)
    no_trim = be.malloc_no_trim() if a.no_trim else False
    L, N, I, H = a.seq, a.batch, a.input, a.hidden
    x, G = make_data(L, N, I, H)
    modes = {'lstm': ['LSTM'], 'gru': ['GRU'], None: ['LSTM', 'GRU']}[a.only]
    meta = dict(python=platform.python_version(), numpy=np.__version__, torch=getattr(torch, '__version__', None),
                clock=a.clock, malloc_no_trim=no_trim, cpus=os.cpu_count(), load_avg_start=os.getloadavg(), reps=reps,
                block_s=block, shape=dict(seq=L, batch=N, input=I, hidden=H), time=time.strftime('%Y-%m-%d %H:%M:%S'))
    print(f"numpy {meta['numpy']}; torch {meta['torch']}; {meta['cpus']} CPUs, load "
          f"{' '.join(f'{l:.2f}' for l in meta['load_avg_start'])}; clock {a.clock}; malloc no-trim {no_trim}")
    print(f"step: forward + backward of one layer, seq {L}, batch {N}, input {I}, hidden {H}, float32")
    if torch is None: print("PyTorch is not installed: no PyTorch column, no ratio.")
    rows, results, verdicts = [], {}, []
    for n in [int(t) for t in a.threads.split(',')]:
        if torch: torch.set_num_threads(n)
        nblas = be.blas_threads(n)
        for mode in modes:
            verify(make(torch, mode, x, G, I, H), mode)
            cs = make(torch, mode, x, G, I, H)
            samples, inner, faults = be.interleaved(cs, be.timed_step, reps, block, warmup=3)
            s = be.summarise(samples, scale=1e3)
            label = f"{mode} fwd+bwd, {n} thread{'s' if n > 1 else ''}"
            rows.append((label, 'ms', s))
            results[f"{mode.lower()}_threads{n}"] = dict(unit='ms', numpy_blas_threads=nblas, steps_per_block=inner,
                                                         faults_per_step=faults, summary=s)
            print(f"{label}: verified (same output and gradients), {reps} reps of {inner}", flush=True)
            if torch and mode == 'LSTM':
                r = s['backprop']['ratio']
                verdicts.append((f"LSTM, {n} thread(s): backprop {r:.2f}x PyTorch (paired median "
                                 f"{s['backprop']['paired_median']:.2f}x) (target <= {TARGET}x)", r <= TARGET))
    print('\n' + be.table(rows))
    meta['load_avg_end'] = os.getloadavg()
    print(f"load average at end: {' '.join(f'{l:.2f}' for l in meta['load_avg_end'])}")
    if max(meta['load_avg_start'][0], meta['load_avg_end'][0]) > 0.75 * (meta['cpus'] or 1) and a.clock == 'wall':
        print("WARNING: other processes were using the CPUs; multi-threaded wall-clock numbers are noisy. "
              "On a shared machine compare with: --threads 1 --clock cpu")
    for msg, ok in verdicts: print(f"target: [{'PASS' if ok else 'MISS'}] {msg}")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(meta=meta, results=results), indent=1, default=float))
        print(f"wrote {a.json}")
    if a.check_targets and not all(ok for _, ok in verdicts): sys.exit(1)


if __name__ == '__main__':
    main()
