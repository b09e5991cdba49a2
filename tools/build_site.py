#!/usr/bin/env python
"""Build the documentation site from the notebooks, without quarto.

    python tools/build_site.py            # -> _site/ (serve it with: python tools/serve_site.py)
    python tools/build_site.py --quarto   # execute, then let nbdev-docs/quarto render -> _docs/ (needs quarto)

Pipeline (every step uses nbdev's own machinery where it exists):
 1. `nbdev_sidebar` writes nbs/sidebar.yml (page order = notebook order; a hand-written one is kept when
    `custom_sidebar = true`).
 2. Execute: the notebooks are committed without outputs, so each nbs/*.ipynb is run top to bottom with
    execnb (the same cells `nbdev-test` runs: `#| slow` and other `tst_flags` cells and `#| eval: false`
    cells are skipped; IN_TEST=1 as under nbdev-test; cwd = nbs/) and the executed copy is staged in
    _exec/nbs/. Results are cached by a hash of the notebook, the library's .py files and pyproject.toml,
    so an unchanged notebook is not re-run. `--no-exec` uses the outputs stored in the notebooks instead.
    (Executing the *processed* notebooks would not work: nbdev drops `#| hide` and `#| export` cells there.)
 3. `nbdev.serve.proc_nbs(path=_exec/nbs)` writes the processed notebooks to _proc/ (frontmatter from the
    `# Title` / `> description` cell, show_doc cells for every exported name, directives cleaned up).
    The `nbdev-proc-nbs` command is not used: it tries to download quarto.
 4. Each _proc notebook is rendered by pandoc 3 (from the `pypandoc_binary` wheel) with tools/site/nbdev.lua
    (honours `#| echo/include/output/code-fold` ...) and tools/site/template.html (sidebar, table of contents,
    prev/next links). Plots are written to media/. Math is typeset by a local MathJax 3 copy
    (node_modules/mathjax from `npm ci`); without it the build falls back to MathML (with a warning).
 5. The site is assembled in _site.tmp/ and swapped into _site/ (never half-written). _site/_build.json lists
    the pages (used by tests/test_site.py).
"""
import argparse, hashlib, html, json, os, re, shutil, subprocess, sys, time, traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import multiprocessing as mp

TOOLS = Path(__file__).resolve().parent
ASSETS = TOOLS/'site'
CACHE_VERSION = '1'  # bump to invalidate cached executions
PAGE_SUFFIXES = ('.ipynb', '.md', '.qmd')


def log(*a):
    print('[build_site]', *a, flush=True)


def pandoc_path():
    "The pandoc 3 binary shipped by pypandoc_binary (Debian's pandoc is too old to read notebooks well)"
    try:
        import pypandoc
        return pypandoc.get_pandoc_path()
    except (ImportError, OSError) as e:
        sys.exit(f'build_site: pandoc not found ({e}); run `pip install pypandoc_binary`')


def nbpath2html(p):
    "nbdev's page name for notebook `p`: numeric prefix stripped, lowercased, .html (as in _modidx.py)"
    p = Path(p)
    return p.with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', p.name.lower())).with_suffix('.html')


# ---------------------------------------------------------------- step 2: execution
def _exec_worker(args):
    "Execute notebook `src` (cwd = its folder) and write it with outputs to `dst`; returns (ok, message, seconds)"
    src, dst, root, skip_flags, timeout, profile = args
    t0 = time.time()
    os.environ['IN_TEST'] = '1'
    os.environ.setdefault('MPLBACKEND', 'module://matplotlib_inline.backend_inline')
    if str(root) not in sys.path: sys.path.insert(0, str(root))
    from nbdev.process import NBProcessor
    from execnb.shell import CaptureShell
    from fastcore.nbio import write_nb
    from fastcore.xtras import working_directory
    try: from nbdev.test import _skip_cell
    except ImportError: _skip_cell = None
    src, dst = Path(src), Path(dst)
    nb = NBProcessor(src, rm_directives=False, process=True).nb
    if _skip_cell is not None: skip = _skip_cell(nb, skip_flags)
    else:  # same rule as nbdev-test: run code cells, except `eval: false` and flagged ones
        def skip(cell):
            d = getattr(cell, 'directives_', {}) or {}
            return cell.cell_type != 'code' or str(d.get('eval', [''])).lower() in ("['false']", 'false') or bool(set(skip_flags) & d.keys())
    k = CaptureShell(src, profile=profile)
    try:
        with working_directory(src.parent):
            k.run_all(nb, exc_stop=True, preproc=skip, cell_timeout=timeout)
    except BaseException:
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_nb(nb, dst.with_suffix('.failed.ipynb'))  # outputs up to the failure, for --allow-errors
        return False, (k.prettytb(fname=src) or traceback.format_exc()), time.time()-t0
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dst)
    return True, '', time.time()-t0


def _child(fn, a, conn):
    try: res = fn(a)
    except BaseException: res = (False, traceback.format_exc(), 0.)
    conn.send(res)
    conn.close()


def _run_forked(fn, args, jobs):
    "Run `fn` on each of `args` in a fresh forked process each (at most `jobs` at once): notebooks share no state"
    from multiprocessing.connection import wait
    for m in ('nbdev.process', 'nbdev.test', 'execnb.shell', 'IPython', 'numpy', 'matplotlib.pyplot'):
        try: __import__(m)  # imported once here, so each fork starts warm
        except Exception: pass
    ctx = mp.get_context('fork')
    pending, running, results = list(enumerate(args)), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            i, a = pending.pop(0)
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_child, args=(fn, a, w), daemon=True)
            p.start()
            w.close()
            running[r] = (i, p)
        for r in wait(list(running)):
            i, p = running.pop(r)
            try: results[i] = r.recv()
            except EOFError: results[i] = (False, f'worker process died (exit code {p.exitcode})', 0.)
            p.join()
    return [results[i] for i in range(len(args))]


def _hash_inputs(cfg, root):
    "Hash of everything besides the notebook itself that can change a notebook's outputs"
    h = hashlib.sha256(CACHE_VERSION.encode())
    lib = Path(cfg.lib_path)
    for f in sorted(lib.rglob('*.py')) if lib.exists() else []:
        if '__pycache__' in f.parts: continue
        h.update(str(f.relative_to(root)).encode()); h.update(f.read_bytes())
    if cfg.config_file.exists(): h.update(cfg.config_file.read_bytes())
    return h.hexdigest()


def execute_notebooks(cfg, root, nbs, stage, cache_dir, jobs, no_exec=False, allow_errors=False):
    "Stage nbs/ into `stage` with every notebook replaced by an executed copy (cached)"
    from nbdev.doclinks import nbglob
    if stage.exists(): shutil.rmtree(stage)
    shutil.copytree(nbs, stage, ignore=shutil.ignore_patterns('.*', '__pycache__', '_proc', '_docs', '_site'))
    if no_exec: return []
    cache_dir.mkdir(parents=True, exist_ok=True)
    skip_flags = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags or [])
    base = _hash_inputs(cfg, root)
    todo, hits = [], 0
    for src in sorted(nbglob(nbs, as_path=True)):
        src = Path(src).absolute()
        rel = src.relative_to(nbs)
        key = hashlib.sha256((base + '\0'.join(skip_flags)).encode() + src.read_bytes()).hexdigest()[:20]
        cached = cache_dir/f"{str(rel.with_suffix('')).replace(os.sep, '__')}-{key}.ipynb"
        if cached.exists():
            hits += 1
            shutil.copy2(cached, stage/rel)
        else: todo.append((src, cached))
    log(f'executing {len(todo)} notebook(s) ({hits} unchanged, from cache)')
    if not todo: return []
    profile = bool(cfg.get('exec_profile', True))
    timeout = cfg.get('cell_timeout', 600) or None
    args = [(str(s), str(c), str(root), skip_flags, timeout, profile) for s, c in todo]
    failed = []
    for (src, cached), (ok, msg, secs) in zip(todo, _run_forked(_exec_worker, args, jobs)):
        if ok:
            log(f'  ran {src.name} in {secs:.1f}s')
            for old in cache_dir.glob(cached.name.rsplit('-', 1)[0] + '-*.ipynb'):
                if old != cached: old.unlink()
            shutil.copy2(cached, stage/src.relative_to(nbs))
        else:
            failed.append((src, msg))
            partial = cached.with_suffix('.failed.ipynb')
            if allow_errors and partial.exists():  # nbdev's show_doc step would fail on it too: skip that
                nbj = json.loads(partial.read_text(encoding='utf-8'))
                nbj['cells'].insert(0, {'cell_type': 'raw', 'metadata': {}, 'source': '---\nskip_showdoc: true\n---'})
                (stage/src.relative_to(nbs)).write_text(json.dumps(nbj), encoding='utf-8')
            partial.unlink(missing_ok=True)
    if failed:
        for src, msg in failed: sys.stderr.write(f'\n=== {src.name} failed ===\n{msg}\n')
        if allow_errors:
            log(f'WARNING: {len(failed)} notebook(s) failed; rendered up to the failing cell (--allow-errors)')
            return [str(s.relative_to(nbs)) for s, _ in failed]
        sys.exit(f'build_site: {len(failed)} notebook(s) failed to execute: ' + ', '.join(s.name for s, _ in failed))
    return []


# ---------------------------------------------------------------- step 4: rendering
def _frontmatter(text):
    import yaml
    m = re.match(r'^\s*---\s*\n(.*?)\n---\s*', text, flags=re.S)
    return (yaml.safe_load(m.group(1)) or {}) if m else {}


def prep_notebook(path):
    "Load a processed notebook; returns (nb fixed up for pandoc, frontmatter dict)"
    nb = json.loads(Path(path).read_text(encoding='utf-8'))
    fm, cells = {}, []
    for c in nb.get('cells', []):
        src = ''.join(c.get('source', '')) if isinstance(c.get('source'), list) else c.get('source', '')
        if c.get('cell_type') == 'raw' and not fm and src.lstrip().startswith('---'):
            fm = _frontmatter(src); continue  # nbdev's frontmatter cell -> page metadata
        c.pop('has_sd', None)  # nbdev's show_doc marker: not nbformat (nbconvert rejects it)
        for o in c.get('outputs', []):
            if o.get('output_type') == 'execute_result' and not isinstance(o.get('execution_count'), int):
                ec = c.get('execution_count')
                o['execution_count'] = ec if isinstance(ec, int) else 0  # pandoc rejects null here
            data = o.get('data') or {}
            if any(k != 'text/plain' for k in data):  # show only the rich form, as Jupyter and quarto do
                data.pop('text/plain', None)  # (pandoc would show text/plain too, or instead of markdown)
        cells.append(c)
    nb['cells'] = cells
    return nb, fm


def read_sidebar(path):
    "Sidebar entries from a quarto sidebar.yml: list of ('page', rel_source, text) / ('section', title, [entries])"
    import yaml
    if not Path(path).exists(): return []
    d = yaml.safe_load(Path(path).read_text()) or {}
    sb = (d.get('website') or {}).get('sidebar') or {}
    if isinstance(sb, list): sb = sb[0] if sb else {}
    def _parse(items):
        res = []
        for it in items or []:
            if isinstance(it, str): res.append(('page', it, None))
            elif isinstance(it, dict) and 'section' in it: res.append(('section', str(it['section']), _parse(it.get('contents'))))
            elif isinstance(it, dict) and 'href' in it: res.append(('page', it['href'], it.get('text')))
        return res
    return _parse(sb.get('contents'))


def _flatten(entries):
    for e in entries:
        if e[0] == 'page': yield e
        else: yield from _flatten(e[2])


def sidebar_html(entries, pages_by_src, current, root_rel):
    def _ul(es):
        out = ['<ul>']
        for e in es:
            if e[0] == 'section':
                out.append(f'<li><span class="section-title">{html.escape(e[1])}</span>{_ul(e[2])}</li>')
                continue
            p = pages_by_src.get(Path(e[1]).as_posix())
            if p is None: continue
            cls = ' class="active" aria-current="page"' if p['file'] == current else ''
            out.append(f'<li><a href="{root_rel}{p["file"]}"{cls}>{html.escape(e[2] or p["title"])}</a></li>')
        out.append('</ul>')
        return ''.join(out)
    return _ul(entries)


def find_mathjax(root):
    for d in (root/'node_modules'/'mathjax'/'es5', TOOLS.parent/'node_modules'/'mathjax'/'es5'):
        if (d/'tex-chtml-full.js').exists(): return d
    return None


def ensure_mathjax(root):
    "Local MathJax 3 from node_modules (runs `npm ci` once if it is missing)"
    d = find_mathjax(root)
    if d is None and (root/'package-lock.json').exists() and shutil.which('npm'):
        log('node_modules/mathjax missing: running `npm ci`')
        subprocess.run(['npm', 'ci', '--no-audit', '--no-fund'], cwd=root, check=False)
        d = find_mathjax(root)
    return d


def render_page(pandoc, lua, template, prep_path, out_dir, out_file, meta_path, sidebar, pagenav, math):
    args = [pandoc, str(prep_path), '-f', 'markdown' if prep_path.suffix != '.ipynb' else 'ipynb',
            '-t', 'html5', '-s', '--template', str(template), '--lua-filter', str(lua),
            '--toc', '--toc-depth=3', '--metadata-file', str(meta_path),
            '-V', f'sidebar={sidebar}', '-V', f'pagenav={pagenav}',
            '--extract-media', f'media/{Path(out_file).stem}', '-o', str(Path(out_file).name)]
    args.append('--mathjax' if math == 'mathjax' else '--mathml')
    r = subprocess.run(args, cwd=out_dir, capture_output=True, text=True)
    if r.returncode != 0: raise RuntimeError(f'pandoc failed on {prep_path.name}:\n{r.stderr}')
    return r.stderr.strip()


def render_site(cfg, root, proc, out, work, jobs, math_pref='auto', failed=()):
    import yaml
    pandoc = pandoc_path()
    nbs = Path(cfg.nbs_path)
    site_yml = yaml.safe_load((nbs/'nbdev.yml').read_text()) if (nbs/'nbdev.yml').exists() else {}
    website = (site_yml or {}).get('website') or {}
    site_title = website.get('title') or cfg.title or cfg.lib_name
    site_url = (website.get('site-url') or '').rstrip('/')

    math, mj = 'mathml', None
    if math_pref in ('auto', 'mathjax'):
        mj = ensure_mathjax(root)
        if mj is not None: math = 'mathjax'
        elif math_pref == 'mathjax': sys.exit('build_site: node_modules/mathjax missing; run `npm ci`')
        else: log('WARNING: node_modules/mathjax not found (run `npm ci`); falling back to MathML')

    # collect pages
    pages = []
    for f in sorted(proc.rglob('*')):
        rel = f.relative_to(proc)
        if f.suffix not in PAGE_SUFFIXES or any(p.startswith(('.', '_')) for p in rel.parts): continue
        if f.suffix == '.ipynb': nb, fm = prep_notebook(f)
        else:
            nb, fm = None, _frontmatter(f.read_text(encoding='utf-8'))
        outf = (rel.parent/fm['output-file']).as_posix() if fm.get('output-file') else nbpath2html(rel).as_posix()
        pages.append(dict(src=rel.as_posix(), file=outf, title=str(fm.get('title') or rel.stem),
                          description=fm.get('description'), nb=nb, path=f))
    dup = {p['file'] for p in pages if sum(q['file'] == p['file'] for q in pages) > 1}
    if dup: sys.exit(f'build_site: several notebooks map to the same page: {sorted(dup)}')

    entries = read_sidebar(nbs/'sidebar.yml')
    by_src = {p['src']: p for p in pages}
    listed = [by_src[Path(e[1]).as_posix()] for e in _flatten(entries) if Path(e[1]).as_posix() in by_src]
    unlisted = [p for p in pages if p not in listed]
    if unlisted:  # not in sidebar.yml (e.g. custom sidebar): still built and linked, at the end
        entries = entries + [('page', p['src'], None) for p in unlisted]
    order = listed + unlisted

    work.mkdir(parents=True, exist_ok=True)
    jobs_args = []
    for i, p in enumerate(order):
        depth = p['file'].count('/')
        rr = '../'*depth
        page_dir = out/Path(p['file']).parent
        page_dir.mkdir(parents=True, exist_ok=True)
        if p['nb'] is not None:
            prep = work/(p['file'].replace('/', '__') + '.ipynb')
            prep.write_text(json.dumps(p['nb']), encoding='utf-8')
        else:
            prep = p['path']
        meta = {'title': p['title'], 'site-title': site_title, 'site-url': site_url, 'site-root': rr,
                'math-renderer': math, 'lang': 'en'}
        if p['description']: meta['description'] = str(p['description'])
        if math == 'mathjax': meta['mathjax-url'] = rr + 'mathjax/tex-chtml-full.js'
        meta_path = work/(p['file'].replace('/', '__') + '.yml')
        meta_path.write_text(yaml.safe_dump(meta, allow_unicode=True), encoding='utf-8')
        nav = []
        if i > 0: nav.append(f'<a class="prev" href="{rr}{order[i-1]["file"]}">← {html.escape(order[i-1]["title"])}</a>')
        else: nav.append('<span></span>')
        if i+1 < len(order): nav.append(f'<a class="next" href="{rr}{order[i+1]["file"]}">{html.escape(order[i+1]["title"])} →</a>')
        jobs_args.append((pandoc, ASSETS/'nbdev.lua', ASSETS/'template.html', prep, page_dir, out/p['file'], meta_path,
                          sidebar_html(entries, by_src, p['file'], rr), ''.join(nav), math))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        for p, warn in zip(order, ex.map(lambda a: render_page(*a), jobs_args)):
            if warn: log(f'pandoc warnings for {p["src"]}:\n{warn}')

    # static files: processed non-page files (styles.css, images, ...), site.css, mathjax
    for f in sorted(proc.rglob('*')):
        rel = f.relative_to(proc)
        if f.is_dir() or f.suffix in PAGE_SUFFIXES or f.suffix in ('.yml', '.yaml') or rel.parts[0].startswith(('.', '_')): continue
        (out/rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, out/rel)
    if not (out/'styles.css').exists(): (out/'styles.css').write_text('')
    shutil.copy2(ASSETS/'site.css', out/'site.css')
    if mj is not None:  # everything tex-chtml-full.js may load lazily (fonts, menu, a11y); not the other bundles
        shutil.copytree(mj, out/'mathjax', ignore=shutil.ignore_patterns(
            'mml-*.js', 'tex-mml-*.js', 'tex-svg*.js', 'tex-chtml.js', 'tex-chtml-full-speech.js', 'node-main.js', 'svg', 'svg.js'))
    (out/'.nojekyll').write_text('')
    info = dict(title=site_title, math=math, built=time.time(), failed=list(failed),
                pages=[dict(src=p['src'], file=p['file'], title=p['title']) for p in order])
    (out/'_build.json').write_text(json.dumps(info, indent=1))
    return info


# ---------------------------------------------------------------- staleness (used by tests)
def _inputs(root):
    from nbdev.config import get_config
    cfg = get_config(root)
    nbs, lib = Path(cfg.nbs_path), Path(cfg.lib_path)
    files = [f for f in nbs.rglob('*') if f.is_file() and f.name != 'sidebar.yml' and not any(p.startswith('.') for p in f.relative_to(nbs).parts)]
    files += list(lib.rglob('*.py')) + list(ASSETS.glob('*')) + [Path(__file__), cfg.config_file]
    return [f for f in files if f.exists() and '__pycache__' not in f.parts]


def is_stale(root, out):
    "True if `out` has no build or any input (notebooks, library, tooling) is newer than it"
    info = Path(out)/'_build.json'
    if not info.exists(): return True
    if json.loads(info.read_text()).get('failed'): return True  # an --allow-errors preview is never final
    t = info.stat().st_mtime
    return any(f.stat().st_mtime > t for f in _inputs(Path(root)))


# ---------------------------------------------------------------- main
def build(root=None, out=None, jobs=None, no_exec=False, math='auto', quarto=False, allow_errors=False):
    t0 = time.time()
    root = Path(root or TOOLS.parent).resolve()
    os.chdir(root)  # nbdev finds its config (and runs processors) relative to the cwd
    # the library must be importable in nbdev's (spawned) processing workers, installed or not
    if str(root) not in sys.path: sys.path.insert(0, str(root))
    os.environ['PYTHONPATH'] = os.pathsep.join([str(root)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])
    from nbdev.config import get_config
    cfg = get_config(root)
    if not cfg.config_file.exists(): sys.exit(f'build_site: no pyproject.toml with [tool.nbdev] in {root}')
    nbs = Path(cfg.nbs_path)
    jobs = jobs or max(1, min(os.cpu_count() or 1, 4))
    out = Path(out or root/'_site').absolute()
    work = root/'_exec'
    stage = work/'nbs'

    from nbdev.quarto import nbdev_sidebar
    nbdev_sidebar.__wrapped__(path=nbs)
    t = time.time()
    failed = execute_notebooks(cfg, root, nbs, stage, work/'cache', jobs, no_exec=no_exec, allow_errors=allow_errors)
    log(f'execute: {time.time()-t:.1f}s')

    if quarto:  # quarto renders the executed copy (plain `nbdev-docs` would render the notebooks as stored)
        if not shutil.which('quarto'): sys.exit('build_site --quarto: quarto is not installed')
        from nbdev.quarto import nbdev_docs
        nbdev_docs.__wrapped__(path=str(stage), n_workers=jobs)
        log(f'quarto site in {cfg.doc_path} ({time.time()-t0:.1f}s)')
        return

    t = time.time()
    from nbdev.serve import proc_nbs
    proc = proc_nbs(path=str(stage), force=True, n_workers=jobs)
    log(f'process (nbdev proc_nbs -> {Path(proc).relative_to(root)}): {time.time()-t:.1f}s')

    t = time.time()
    tmp = out.with_name(out.name + '.tmp')
    if tmp.exists(): shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    info = render_site(cfg, root, Path(proc), tmp, work/'render', jobs, math_pref=math, failed=failed)
    if out.exists(): shutil.rmtree(out)
    tmp.rename(out)
    log(f'render (pandoc, {len(info["pages"])} pages, math={info["math"]}): {time.time()-t:.1f}s')
    log(f'site in {out} ({time.time()-t0:.1f}s total); serve it with: python tools/serve_site.py')
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', help='project root (default: the folder above tools/)')
    ap.add_argument('--out', help='output folder (default: ROOT/_site)')
    ap.add_argument('--jobs', type=int, help='parallel workers (default: CPUs, at most 4)')
    ap.add_argument('--no-exec', action='store_true', help="don't execute: render the outputs stored in the notebooks")
    ap.add_argument('--allow-errors', action='store_true',
                    help='render notebooks that fail to execute up to the failing cell (preview; default: fail the build)')
    ap.add_argument('--math', choices=['auto', 'mathjax', 'mathml'], default='auto',
                    help='math renderer (auto: local MathJax if node_modules/mathjax exists, else MathML)')
    ap.add_argument('--quarto', action='store_true', help='execute the notebooks, then render with nbdev-docs (quarto) into _docs/')
    ap.add_argument('--if-stale', action='store_true', help='do nothing if the site is newer than all its inputs')
    a = ap.parse_args(argv)
    root = Path(a.root or TOOLS.parent).resolve()
    out = Path(a.out).absolute() if a.out else root/'_site'
    if a.if_stale and not a.quarto and not is_stale(root, out): return log(f'{out} is up to date')
    build(root, out, jobs=a.jobs, no_exec=a.no_exec, math=a.math, quarto=a.quarto, allow_errors=a.allow_errors)


if __name__ == '__main__': main()
