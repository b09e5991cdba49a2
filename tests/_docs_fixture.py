"""A throw-away mini nbdev project used to test the docs tooling (tools/build_site.py, tools/sync_readme.py).

It is written into a temporary directory by the tests; nothing here touches `nbs/`.
It exercises what the real notebooks use: a title/description, LaTeX ($, $$, \\frac), an exported
function with docments, a hidden cell, `#| echo: false`, `#| include: false`, `#| code-fold`, a `#| slow`
cell, printed output, a matplotlib plot, and markdown output.
"""
import json
from pathlib import Path

PYPROJECT = '''[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "minilib"
version = "0.0.1"
description = "A mini project for testing the docs tooling."
requires-python = ">=3.10"
authors = [{name = "test", email = "test@example.invalid"}]

[project.urls]
Repository = "https://github.com/example/minilib"
Documentation = "https://example.github.io/minilib/"

[tool.nbdev]
lib_path = "minilib"
title = "minilib"
tst_flags = "slow"
jupyter_hooks = false
custom_sidebar = false
'''

QUARTO = '''project:
  type: website

format:
  html:
    theme: cosmo
    css: styles.css
    toc: true

website:
  sidebar:
    style: floating

metadata-files: [nbdev.yml, sidebar.yml]
'''

NBDEV_YML = '''project:
  output-dir: _docs

website:
  title: "minilib"
  description: "A mini project for testing the docs tooling."
'''


def _cell(kind, src):
    c = {"cell_type": kind, "metadata": {}, "source": src}
    if kind == 'code': c.update(execution_count=None, outputs=[])
    return c


def _nb(*cells):
    return {"cells": [_cell(k, s) for k, s in cells], "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}}}


INDEX = _nb(
    ('markdown', "# minilib\n\n> A mini project for testing the docs tooling."),
    ('code', "#| hide\nfrom minilib.core import add"),
    ('markdown', "## Install\n\n```sh\npip install minilib\n```\n\n## How to use\n\n"
                 "The sum $a+b$ is computed by `add`:"),
    ('code', "add(1, 2)"),
    ('code', "print('hello from index')"),
)

CORE = _nb(
    ('markdown', "# Core\n\n> Core functions: addition and its derivative."),
    ('code', "#| default_exp core"),
    ('code', "#| hide\nfrom nbdev.showdoc import *\nfrom fastcore.test import test_eq"),
    ('code', "#| code-fold: true\n#| code-summary: \"Setup\"\nimport numpy as np\n" +
             "\n".join(f"setup_{i} = {i}" for i in range(12))),
    ('markdown', "## Addition\n\nThe derivative of $f(a,b)=a+b$ is $\\frac{\\partial f}{\\partial a} = 1$, and\n\n"
                 "$$\\frac{\\partial L}{\\partial a} = \\frac{\\partial L}{\\partial f}\\,\\frac{\\partial f}{\\partial a}.$$"),
    ('code', "#| export\ndef add(a:int, # the first summand\n        b:int=1, # the second summand\n"
             "       )->int: # the sum\n    \"Add `a` and `b`.\"\n    return a+b"),
    ('code', "test_eq(add(1, 2), 3)"),
    ('code', "#| echo: false\nprint('ECHO-FALSE-OUTPUT')"),
    ('code', "#| include: false\nprint('INCLUDE-FALSE-SECRET')"),
    ('code', "#| slow\nprint('SLOW-CELL-RAN')"),
    ('code', "from IPython.display import Markdown\nMarkdown('Some **markdown** output with $x^2$.')"),
    ('code', "#| export\nclass Doubler:\n    \"Doubles things.\"\n    def __init__(self, k:int=2, # the factor\n                ): self.k = k\n"
             "    def __call__(self, x): return self.k*x"),
)

PLOT = _nb(
    ('markdown', "# Plots\n\n> Plotting the sum."),
    ('code', "#| default_exp plot"),
    ('code', "#| export\nimport numpy as np\nimport matplotlib.pyplot as plt"),
    ('markdown', "A plot of $y = x^2$:"),
    ('code', "x = np.linspace(-1, 1, 50)\nplt.plot(x, x**2);"),
)


def make_mini_project(dst, extra_nbs=None):
    "Write the mini nbdev project into `dst` (a temp dir); returns `dst` as a Path"
    dst = Path(dst)
    (dst/'nbs').mkdir(parents=True, exist_ok=True)
    (dst/'minilib').mkdir(exist_ok=True)
    (dst/'pyproject.toml').write_text(PYPROJECT)
    (dst/'nbs'/'_quarto.yml').write_text(QUARTO)
    (dst/'nbs'/'nbdev.yml').write_text(NBDEV_YML)
    (dst/'nbs'/'styles.css').write_text('.cell { margin-bottom: 1rem; }\n')
    nbs = {'index.ipynb': INDEX, '00_core.ipynb': CORE, '01_plot.ipynb': PLOT, **(extra_nbs or {})}
    for name, nb in nbs.items(): (dst/'nbs'/name).write_text(json.dumps(nb, indent=1))
    (dst/'minilib'/'__init__.py').write_text('__version__ = "0.0.1"\n')
    return dst


def export_mini_project(dst):
    "Run `nbdev-export` in the mini project (so `import minilib.core` works and _modidx.py exists)"
    import subprocess, sys
    exe = Path(sys.executable).parent/'nbdev-export'
    subprocess.run([str(exe) if exe.exists() else 'nbdev-export'], cwd=dst, check=True)


_BUILT = {}

def built_mini_site(tmp_path_factory):
    "Build the mini project's site once per test session; returns (root, site dir, build stdout)"
    import subprocess, sys
    if 'site' not in _BUILT:
        root = make_mini_project(tmp_path_factory.mktemp('mini'))
        export_mini_project(root)
        tool = Path(__file__).resolve().parents[1]/'tools'/'build_site.py'
        r = subprocess.run([sys.executable, str(tool), '--root', str(root)], capture_output=True, text=True)
        if r.returncode != 0: raise RuntimeError(f'build_site.py failed on the mini project:\n{r.stdout}\n{r.stderr}')
        _BUILT['site'] = (root, root/'_site', r.stdout)
    return _BUILT['site']
