#!/usr/bin/env python
"""Benchmark one training step of a 2-layer Transformer encoder, backprop against PyTorch (CPU), in one run.

The network: `TransformerEncoder(TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=FF, dropout=0,
batch_first=True), num_layers=2)` (post-norm, ReLU; FF = 2048, PyTorch's default, or `--ff`), on a fixed float32
batch of 32 sequences of 64 random vectors; loss: mean squared error against a fixed random target; then plain SGD
(lr 0.01): `p.sub_(lr * p.grad)` under `no_grad`, then `p.grad = None` (the same in both). backprop uses
`backprop.nn.TransformerEncoder` (its attention runs through the fused `scaled_dot_product_attention`); PyTorch
uses `torch.nn.TransformerEncoder` in training mode (so it takes its ordinary autograd path, not the inference
fast path). Both start from the same weights (backprop's init, copied into PyTorch through `state_dict`, whose
keys are the same); before timing, one step of each is checked to give the same loss and the same updates.

Timing: interleaved repetitions (each repetition times a block of steps of every contender, in rotating order, so
drifts in machine load hit both alike), reporting the median, the min-max and the ratio of medians to PyTorch,
plus the median [min-max] of the per-repetition (paired) ratios. Target (issue 11): <= 1.5x PyTorch.

Usage: python benchmarks/bench_transformer.py [--reps N] [--quick] [--ff N] [--threads N] [--clock wall|cpu]
       [--no-trim] [--json PATH] [--profile] [--check-targets]
"""
import argparse, cProfile, json, os, platform, pstats, sys, time
from pathlib import Path

os.environ.setdefault('OPENBLAS_THREAD_TIMEOUT', '20')
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine as be          # shared timing/reporting helpers: interleaved, summarise, table, thread/malloc control

LR, BATCH, SEQ, D, HEADS, LAYERS, TARGET = 0.01, 32, 64, 128, 4, 2, 1.5


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((BATCH, SEQ, D), dtype=np.float32), rng.standard_normal((BATCH, SEQ, D), dtype=np.float32)


class BackpropEncoder:
    name = 'backprop'
    def __init__(self, x, y, ff, seed=0):
        import backprop.core as core
        from backprop import nn
        self.core, self.F = core, nn.functional
        core.manual_seed(seed)
        self.net = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, HEADS, ff, dropout=0.0, batch_first=True), LAYERS)
        self.ps = list(self.net.parameters())
        self.x, self.y = core.tensor(x), core.tensor(y)
        self.path = 'backprop.nn.TransformerEncoder (fused scaled_dot_product_attention), mse_loss'
    def state(self): return {k: v.array for k, v in self.net.state_dict().items()}
    def step(self):
        loss = self.F.mse_loss(self.net(self.x), self.y)
        loss.backward()
        with self.core.no_grad():
            for p in self.ps:
                p.sub_(LR * p.grad)
                p.grad = None
        return loss.item()
    def params(self): return [v.copy() for v in self.state().values()]


class TorchEncoder:
    name = 'pytorch'
    def __init__(self, torch, x, y, ff, state):
        nn = torch.nn
        self.torch = torch
        self.net = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, HEADS, ff, dropout=0.0, batch_first=True), LAYERS,
                                         enable_nested_tensor=False)
        self.net.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        self.ps = list(self.net.parameters())
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
    def step(self):
        loss = self.torch.nn.functional.mse_loss(self.net(self.x), self.y)
        loss.backward()
        with self.torch.no_grad():
            for p in self.ps:
                p.sub_(LR * p.grad)
                p.grad = None
        return loss.item()
    def params(self): return [v.detach().numpy().copy() for v in self.net.state_dict().values()]


def make(torch, x, y, ff):
    b = BackpropEncoder(x, y, ff)
    return [b, TorchEncoder(torch, x, y, ff, b.state())] if torch else [b]


def verify(cs):
    "One step from the same weights: same loss, same updates — else the timing compares different computations."
    p0 = {c.name: c.params() for c in cs}
    losses = {c.name: c.step() for c in cs}
    if len(cs) < 2: return losses
    (b, t) = cs
    problems = []
    if not np.isclose(losses[b.name], losses[t.name], rtol=1e-5, atol=1e-6):
        problems.append(f"loss backprop={losses[b.name]!r} vs pytorch={losses[t.name]!r}")
    for i, (pb, pt, qb, qt) in enumerate(zip(p0[b.name], p0[t.name], b.params(), t.params())):
        db, dt = qb - pb, qt - pt
        scale = float(np.abs(dt).max()) or 1.0
        ulps = 4 * np.finfo(np.float32).eps * float(np.abs(pt).max())      # the updated weights are rounded to float32
        if db.shape != dt.shape or float(np.abs(db - dt).max()) > 2e-3 * scale + ulps:
            problems.append(f"param {i} {dt.shape}: updates differ by {float(np.abs(db - dt).max()):.3g} (max |update| {scale:.3g})")
    if problems: raise SystemExit("bench_transformer: VERIFICATION FAILED:\n  " + "\n  ".join(problems))
    return losses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--reps', type=int, default=None, help='repetitions (default 15; 5 with --quick)')
    ap.add_argument('--quick', action='store_true', help='few, short repetitions: a smoke test, not a measurement')
    ap.add_argument('--block', type=float, default=None, help='seconds per timed block (default 0.5; 0.1 with --quick)')
    ap.add_argument('--ff', type=int, default=2048, help='dim_feedforward (default: %(default)s, PyTorch\'s default)')
    ap.add_argument('--threads', type=int, default=None,
                    help="torch.set_num_threads(N) and numpy's OpenBLAS threads N (default: each library's default)")
    ap.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                    help='wall: time.perf_counter (default); cpu: process CPU time (use with --threads 1 on a loaded machine)')
    ap.add_argument('--no-trim', action='store_true',
                    help="glibc mallopt: keep freed memory in the heap (removes page-fault cost; both contenders share it)")
    ap.add_argument('--json', metavar='PATH', help='also write the results (with raw samples) to PATH')
    ap.add_argument('--profile', action='store_true', help="print a cProfile of 20 backprop steps (top 25 by own time)")
    ap.add_argument('--check-targets', action='store_true', help=f'exit 1 when backprop is slower than {TARGET}x PyTorch')
    a = ap.parse_args(argv)
    reps, block = a.reps or (5 if a.quick else 15), a.block or (0.1 if a.quick else 0.5)
    be.clock = time.process_time if a.clock == 'cpu' else time.perf_counter
    torch = be.import_torch(a.threads)
    nblas = be.blas_threads(a.threads)
    no_trim = be.malloc_no_trim() if a.no_trim else False
    meta = dict(python=platform.python_version(), numpy=np.__version__, torch=getattr(torch, '__version__', None),
                torch_threads=torch.get_num_threads() if torch else None, numpy_blas_threads=nblas, clock=a.clock,
                malloc_no_trim=no_trim, cpus=os.cpu_count(), load_avg_start=os.getloadavg(), reps=reps, block_s=block,
                dim_feedforward=a.ff, time=time.strftime('%Y-%m-%d %H:%M:%S'))
    print(f"numpy {meta['numpy']} (BLAS threads {nblas}); torch {meta['torch']} (threads {meta['torch_threads']}); "
          f"{meta['cpus']} CPUs, load {' '.join(f'{l:.2f}' for l in meta['load_avg_start'])}; clock {a.clock}; "
          f"malloc no-trim {no_trim}")
    if torch is None: print("PyTorch is not installed: no PyTorch column, no ratio.")
    x, y = make_batch()
    cs = make(torch, x, y, a.ff)
    print(f"backprop path: {cs[0].path}")
    losses = verify(cs)
    print("verified one step from the same weights: losses " + ', '.join(f'{k} {v:.7f}' for k, v in losses.items()))
    cs = make(torch, x, y, a.ff)
    samples, inner, faults = be.interleaved(cs, be.timed_step, reps, block, warmup=3)
    s = be.summarise(samples, scale=1e3)
    print(f"\n{reps} interleaved repetitions of ~{block}s blocks ({', '.join(f'{k}: {v} steps' for k, v in inner.items())})\n")
    print(be.table([(f"encoder step L={SEQ} N={BATCH} d={D} h={HEADS} ff={a.ff} x{LAYERS}", 'ms', s)]))
    print("minor page faults per step: " + ', '.join(f'{n} {f:.0f}' for n, f in faults.items()))
    meta['load_avg_end'] = os.getloadavg()
    busy = max(meta['load_avg_start'][0], meta['load_avg_end'][0]) > 0.75 * (meta['cpus'] or 1)
    print(f"load average at end: {' '.join(f'{l:.2f}' for l in meta['load_avg_end'])}")
    if busy and a.clock == 'wall':
        print("WARNING: other processes were using the CPUs; multi-threaded wall-clock numbers are noisy. "
              "On a shared machine compare with: --threads 1 --clock cpu")
    ok = True
    if torch:
        r = s['backprop']['ratio']
        ok = r <= TARGET
        print(f"\ntarget: [{'PASS' if ok else 'MISS'}] backprop {r:.2f}x PyTorch (paired median "
              f"{s['backprop']['paired_median']:.2f}x) (target <= {TARGET}x)")
    if a.profile:
        b = cs[0]
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(20): b.step()
        pr.disable()
        print("\ncProfile, 20 backprop steps:")
        pstats.Stats(pr).sort_stats('tottime').print_stats(25)
    if a.json:
        Path(a.json).write_text(json.dumps(dict(meta=meta, steps_per_block=inner, faults_per_step=faults, summary=s), indent=1))
        print(f"wrote {a.json}")
    if a.check_targets and not ok: sys.exit(1)


if __name__ == '__main__':
    main()
