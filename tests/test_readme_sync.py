"""README.md is generated from nbs/index.ipynb by tools/sync_readme.py: fail when they drift."""
import json, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT/'tools'/'sync_readme.py'
sys.path[:0] = [str(ROOT/'tools'), str(Path(__file__).resolve().parent)]
from _docs_fixture import make_mini_project  # noqa: E402


def _run(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True)


def test_readme_in_sync_with_index():
    "The committed README.md is what tools/sync_readme.py makes of nbs/index.ipynb"
    if not (ROOT/'nbs'/'index.ipynb').exists(): pytest.skip('nbs/index.ipynb does not exist yet')
    r = _run('--check')
    assert r.returncode == 0, f'README.md drifted from nbs/index.ipynb; run `python tools/sync_readme.py`\n{r.stderr}'


def test_sync_and_check_on_fixture(tmp_path):
    "Generate, check, and detect drift on a mini project"
    root = make_mini_project(tmp_path/'mini')
    assert _run('--root', root, '--check').returncode == 1, 'a missing README must fail the check'
    r = _run('--root', root)
    assert r.returncode == 0, r.stderr
    readme = (root/'README.md').read_text()
    assert readme.startswith('# minilib\n'), readme[:200]
    assert '> A mini project for testing the docs tooling.' in readme
    assert '```python\nadd(1, 2)\n```' in readme
    assert '#|' not in readme and 'from minilib.core import add' not in readme, 'hidden cell leaked'
    assert '$a+b$' in readme, 'math must stay as GitHub math'
    assert _run('--root', root, '--check').returncode == 0
    # edit the notebook -> drift is reported
    nbp = root/'nbs'/'index.ipynb'
    nb = json.loads(nbp.read_text())
    nb['cells'].append({'cell_type': 'markdown', 'metadata': {}, 'source': 'See [the core](00_core.ipynb#add).'})
    nbp.write_text(json.dumps(nb))
    r = _run('--root', root, '--check')
    assert r.returncode == 1 and 'out of date' in r.stderr and '+See [the core]' in r.stderr
    assert _run('--root', root).returncode == 0
    assert 'See [the core](https://example.github.io/minilib/core.html#add).' in (root/'README.md').read_text()


def test_outputs_and_options(tmp_path):
    "Stored text outputs are kept; echo/output/include options are honoured"
    root = make_mini_project(tmp_path/'mini')
    cell = lambda src, outs=(): {'cell_type': 'code', 'metadata': {}, 'execution_count': 1, 'source': src, 'outputs': list(outs)}
    stream = lambda t: {'output_type': 'stream', 'name': 'stdout', 'text': t}
    nb = {'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [
        {'cell_type': 'markdown', 'metadata': {}, 'source': '# t\n\n> d'},
        cell('#| echo: false\nprint("only output")', [stream('only output\n')]),
        cell('#| output: false\nprint("only code")', [stream('NOT SHOWN\n')]),
        cell('#| include: false\nsecret = 1', [stream('SECRET\n')]),
        cell('1+1', [{'output_type': 'execute_result', 'execution_count': 1, 'metadata': {}, 'data': {'text/plain': '2'}}]),
        cell('plot()', [{'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': 'iVBOR', 'text/plain': '<Figure>'}}]),
    ]}
    (root/'nbs'/'index.ipynb').write_text(json.dumps(nb))
    assert _run('--root', root).returncode == 0
    readme = (root/'README.md').read_text()
    assert 'only output\n' in readme and 'print("only output")' not in readme
    assert 'print("only code")' in readme and 'NOT SHOWN' not in readme
    assert 'secret' not in readme and 'SECRET' not in readme
    assert '```\n2\n```' in readme and '<Figure>' not in readme
