"""PyTorch programs run unchanged on backprop: each program in tests/compat/ runs once on PyTorch and
once with only its imports swapped to backprop (with PyTorch made unimportable), and the two runs must
report the same losses, gradients and values.

The programs are written in the style of PyTorch's beginner tutorials and examples. Data and initial
weights come from numpy with fixed seeds, so both runs start from the same numbers; values that depend on
the framework's own random streams (torch.randn after manual_seed, a shuffled order) are reported as
properties (reproducible? a permutation?) rather than as numbers."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

HERE = Path(__file__).parent / 'compat'
PROGRAMS = sorted(p.name for p in HERE.glob('p[0-9]*.py'))
RTOL, ATOL = 1e-5, 1e-6

_SWAPS = [                                              # (pattern, replacement) on whole import lines
    (r'^(\s*)import torch$', r'\1import backprop as torch'),
    (r'^(\s*)import torch\.([\w.]+) as (\w+)$', r'\1import backprop.\2 as \3'),
    (r'^(\s*)import torch\.([\w.]+)$', r'\1import backprop.\2'),     # binds `backprop`; `torch.x.y` goes through `import backprop as torch`
    (r'^(\s*)from torch import (.+)$', r'\1from backprop import \2'),
    (r'^(\s*)from torch\.([\w.]+) import (.+)$', r'\1from backprop.\2 import \3'),
]

def swap_imports(src:str)->str:
    "The program with `torch` imports rewritten to `backprop` ones; any other mention of an import of torch is an error."
    out = []
    for line in src.splitlines():
        for pat, rep in _SWAPS:
            if re.match(pat, line): line = re.sub(pat, rep, line); break
        else:
            if re.match(r'^\s*(import|from)\s+torch\b', line): raise ValueError(f"swap_imports: no rule for {line!r}")
        out.append(line)
    return '\n'.join(out) + '\n'

def start(prog:str, tmp:Path, backprop:bool):
    "Start one run of a program (on backprop through the blocking stub); `finish` collects what it reported."
    work = tmp / ('bp' if backprop else 'torch')
    work.mkdir()
    shutil.copy(HERE / '_report.py', work)
    src = (HERE / prog).read_text()
    (work / prog).write_text(swap_imports(src) if backprop else src)
    cmd = [sys.executable, str(HERE / '_block_torch.py'), prog] if backprop else [sys.executable, prog]
    env = dict(os.environ, OPENBLAS_NUM_THREADS='1', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    return subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

def finish(p, prog:str, backprop:bool)->dict:
    out, err = p.communicate(timeout=300)
    lines = [l for l in out.splitlines() if l.startswith('@@REPORT ')]
    if p.returncode or not lines:
        raise AssertionError(f"{prog} failed on {'backprop' if backprop else 'PyTorch'} (exit {p.returncode}):\n{err[-3000:]}")
    return json.loads(lines[-1][len('@@REPORT '):])

def compare(name, a, b):
    "Assert two reported values agree: strings/bools/None exactly, numbers to RTOL/ATOL."
    if isinstance(a, (str, bool)) or a is None or isinstance(b, (str, bool)) or b is None:
        assert a == b, f"{name}: PyTorch {a!r} vs backprop {b!r}"
    elif isinstance(a, list) and a and isinstance(a[0], (str, bool, list)) and not _numeric(a):
        assert isinstance(b, list) and len(a) == len(b), f"{name}: PyTorch {a!r} vs backprop {b!r}"
        for i, (x, y) in enumerate(zip(a, b)): compare(f'{name}[{i}]', x, y)
    else:
        x, y = np.asarray(a, float), np.asarray(b, float)
        assert x.shape == y.shape, f"{name}: shapes {x.shape} (PyTorch) vs {y.shape} (backprop)"
        np.testing.assert_allclose(y, x, rtol=RTOL, atol=ATOL, err_msg=f"{name}: backprop vs PyTorch")

def _numeric(a)->bool:
    try: np.asarray(a, float); return True
    except (ValueError, TypeError): return False

def test_swap_imports():
    src = ("import torch\nimport torch.nn as nn\nfrom torch import nn, optim\nfrom torch.utils.data import DataLoader\n  import torch\n"
           "import torch.utils.data\n")
    assert swap_imports(src) == ("import backprop as torch\nimport backprop.nn as nn\nfrom backprop import nn, optim\n"
                                 "from backprop.utils.data import DataLoader\n  import backprop as torch\nimport backprop.utils.data\n")
    with pytest.raises(ValueError, match='no rule'): swap_imports("import torch, numpy\n")

def test_torch_is_blocked(tmp_path):
    (tmp_path / 'p.py').write_text("import backprop\ntry:\n    import torch\nexcept ImportError as e:\n    print('blocked', e)\n")
    r = subprocess.run([sys.executable, str(HERE / '_block_torch.py'), 'p.py'], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith('blocked'), r.stdout + r.stderr

XFAIL = {}                                             # program -> the missing feature it needs

@pytest.mark.parametrize('prog', PROGRAMS)
def test_program_matches_pytorch(prog, tmp_path):
    pytest.importorskip('torch')
    if prog in XFAIL: pytest.xfail(XFAIL[prog])
    pt, pb = start(prog, tmp_path, backprop=False), start(prog, tmp_path, backprop=True)   # both at once
    got = finish(pb, prog, backprop=True)
    want = finish(pt, prog, backprop=False)
    assert want.pop('__torch_imported__') is True
    assert got.pop('__torch_imported__') is False, "the backprop run imported PyTorch"
    assert set(got) == set(want), f"reported names differ: {sorted(set(got) ^ set(want))}"
    for k in want: compare(k, want[k], got[k])
