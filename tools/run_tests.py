#!/usr/bin/env python
"""Run every check backprop has, in the order that fails fastest (the README's test command calls this).

1. notebooks are the source: `nbdev-export` must leave `backprop/` unchanged;
2. README.md is in step with nbs/index.ipynb;
3. `nbdev-test` runs every notebook cell, including those flagged `slow` (each notebook in its own process);
4. the offline docs site is built (needs pandoc from pypandoc_binary and MathJax from `npm ci`);
5. pytest runs tests/ (PyTorch-oracle tests skip without torch, browser tests without chromium).

Options: --fast skips `slow` notebook cells and pytest's slow marker; --no-site skips the docs build.
"""
import argparse, os, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Notebooks run two at a time (one per core); one BLAS thread each avoids oversubscribing the cores.
NB_ENV = {**os.environ, 'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}

def run(title, cmd, **kw):
    print(f"\n=== {title}: {' '.join(map(str, cmd))}", flush=True)
    t0 = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], cwd=ROOT, **kw)
    print(f"=== {title}: exit {r.returncode} in {time.perf_counter() - t0:.0f}s", flush=True)
    return r.returncode

def tool(name): return str(BIN / name) if (BIN / name).exists() else name

def run_notebooks(flags, workers=2):
    """`nbdev-test` on every notebook, each in a process of its own (two at a time, one per core). A plain `nbdev-test`
    runs several notebooks in one worker process, and a notebook's `#| export` cells re-define its classes and re-patch
    `Tensor` there, which can disturb a later notebook in that process (an op class is then a different object from
    the package's); one process per notebook is what a reader gets, and what the docs build does."""
    from concurrent.futures import ThreadPoolExecutor
    nbs = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
    print(f"\n=== notebooks: nbdev-test {' '.join(flags)} on {len(nbs)} notebooks, one process each, {workers} at a time", flush=True)
    t0 = time.perf_counter()
    def one(nb):
        t = time.perf_counter()
        r = subprocess.run([tool('nbdev-test'), str(nb), *flags], cwd=ROOT, env=NB_ENV, capture_output=True, text=True)
        return nb.name, r.returncode, time.perf_counter() - t, r.stdout + r.stderr
    with ThreadPoolExecutor(workers) as ex: results = list(ex.map(one, nbs))
    bad = [(n, out) for n, rc, _, out in results if rc]
    for n, out in bad: print(f"--- {n} FAILED:\n{out[-6000:]}", flush=True)
    slowest = sorted(results, key=lambda r: -r[2])[:5]
    print('slowest: ' + ', '.join(f'{n} {t:.0f}s' for n, _, t, _ in slowest))
    print(f"=== notebooks: {len(nbs) - len(bad)} passed, {len(bad)} failed in {time.perf_counter() - t0:.0f}s", flush=True)
    return len(bad)

def git_status(path):
    r = subprocess.run(['git', 'status', '--porcelain', '--', path], cwd=ROOT, capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--fast', action='store_true', help='skip slow notebook cells and slow pytest tests')
    ap.add_argument('--no-site', action='store_true', help='skip building the docs site')
    a = ap.parse_args()
    failed = []
    before = git_status('backprop')
    if run('export', [tool('nbdev-export')]): failed.append('nbdev-export')
    after = git_status('backprop')
    if before is None: print("(not a git checkout: the export check compares nothing)")
    elif before != after:
        print("nbdev-export changed backprop/: the package was out of step with nbs/. See `git diff backprop/`.")
        failed.append('export-sync')
    if run('readme', [sys.executable, 'tools/sync_readme.py', '--check']): failed.append('readme-sync')
    flags = [] if a.fast else ['--flags', 'slow']
    if run_notebooks(flags): failed.append('nbdev-test')
    if not a.no_site:
        if not (ROOT / 'node_modules' / 'mathjax').exists() and shutil.which('npm'):
            if run('mathjax', ['npm', 'ci', '--no-audit', '--no-fund']): failed.append('npm ci')
        if run('site', [sys.executable, 'tools/build_site.py'], env=NB_ENV): failed.append('build-site')
    pt = [sys.executable, '-m', 'pytest', '-q', '-rs', 'tests'] + (['-m', 'not slow'] if a.fast else [])
    rc = run('pytest', pt)
    if rc == 5: print("pytest collected no tests: tests/ is missing or broken"); failed.append('pytest (no tests)')
    elif rc: failed.append('pytest')
    print('\nFAILED: ' + ', '.join(failed) if failed else '\nALL CHECKS PASSED')
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main())
