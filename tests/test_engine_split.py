"The engine chapter's split (issue 13): chapters 1 and 4a build one module, `backprop.core`, with each name defined once."
import ast, collections, json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE, INTERNALS = ROOT/'nbs'/'01_core.ipynb', ROOT/'nbs'/'04a_engine_internals.ipynb'

def code_cells(p):
    return [(c['id'], ''.join(c['source'])) for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'code']

def test_internals_export_into_core_only():
    "04a exports only with `#| export core`: a `default_exp` of its own would make nbdev overwrite core.py."
    cells = code_cells(INTERNALS)
    assert not [i for i, s in cells if '#| default_exp' in s]
    heads = {s.split('\n')[0].strip() for _, s in cells if s.startswith('#| export')}
    assert heads == {'#| export core'}, heads

def test_every_exported_cell_once():
    "Each exported cell of both chapters is in backprop/core.py exactly once (nbdev-export writes 01, then appends 04a)."
    text = (ROOT/'backprop'/'core.py').read_text()
    for nb, tag in ((CORE, '#| export'), (INTERNALS, '#| export core')):
        ids = [i for i, s in code_cells(nb) if s.split('\n')[0].strip() == tag]
        assert ids
        counts = {i: text.count(f'# %% ../nbs/{nb.name} #{i}\n') for i in ids}
        assert set(counts.values()) == {1}, {i: n for i, n in counts.items() if n != 1}
    assert text.index('# %% ../nbs/01_core.ipynb') < text.index('# %% ../nbs/04a_engine_internals.ipynb')

def test_one_definition_per_name():
    "No top-level name of backprop/core.py is defined twice: one engine, no second implementation."
    seen = collections.Counter()
    for n in ast.parse((ROOT/'backprop'/'core.py').read_text()).body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)): seen[n.name] += 1
        elif isinstance(n, ast.Assign):
            for t in n.targets:
                for e in (t.elts if isinstance(t, ast.Tuple) else [t]):
                    if isinstance(e, ast.Name): seen[e.id] += 1
    assert not [k for k, v in seen.items() if v > 1]

def test_code_cells_short():
    "Code cells stay within ~60 lines; the one exception is the `Tensor` class body, which prose can't split."
    long = [(nb.name, i, len(s.split('\n'))) for nb in (CORE, INTERNALS) for i, s in code_cells(nb)
            if len(s.split('\n')) > 62 and not any(l.startswith('class Tensor') for l in s.split('\n')[:3])]
    assert not long, long

CORE_EXPORT_LINES = 300   # chapter 1's exported code was 291 lines after the second pass (issue 13: a ~150-250-line teaching core)

def test_teaching_core_stays_short():
    "Chapter 1 exports the teaching core only: its `#| export` cells stay within CORE_EXPORT_LINES lines (directives excluded)."
    n = sum(len(s.split('\n')) - 1 for i, s in code_cells(CORE) if s.split('\n')[0].strip() == '#| export')
    assert n <= CORE_EXPORT_LINES, f'01_core exports {n} lines; move what is not the central idea into 04a_engine_internals'

def test_moved_methods_are_the_class_methods():
    "The Tensor methods patched in from chapter 4a behave as methods of the class: right qualname, same object everywhere."
    import backprop.core as core
    for nm in ('item', 'numpy', 'tolist', 'dim', 'numel', 'size', 'requires_grad_', 'retain_grad', 'register_hook'):
        f = getattr(core.Tensor, nm)
        assert f.__qualname__ == f'Tensor.{nm}', (nm, f.__qualname__)
    assert core.Function.out.__qualname__ == 'Function.out'
    assert isinstance(core.Tensor.__dict__['data'], property) and isinstance(core.Tensor.__dict__['_version'], property)
    class Sub(core.Tensor):                     # a subclass whose __init__ skips Tensor's still gets a version counter
        def __init__(self, a): self.array, self.grad, self.requires_grad, self._ctx, self._hooks, self._retain = a, None, False, None, None, False
    assert Sub(core.np.ones(2))._version == 0
