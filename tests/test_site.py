"""Browser tests of the offline docs site (tools/build_site.py), in headless Debian chromium via Playwright.

Each check runs on two sites:
  * `project`: this repo's site in _site/ (built here when missing or stale; CI builds it first), and
  * `fixture`: a mini nbdev project written to a temp dir (tests/_docs_fixture.py) - proves the tooling
    end to end even while nbs/ holds few notebooks.
Skips (with the reason) when playwright or chromium is missing, or the project has no notebooks yet.
Full-page screenshots of every page go to _artifacts/screenshots/ (git-ignored; a CI artifact).
Set DOCS_SITE_NO_BUILD=1 to skip, rather than build, when _site/ is missing or stale.
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT/'tools'), str(Path(__file__).resolve().parent)]
import build_site  # noqa: E402
from serve_site import serve  # noqa: E402
from _docs_fixture import built_mini_site  # noqa: E402

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
CHROME_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync']
SHOTS = ROOT/'_artifacts'/'screenshots'

# Run in each page after load: waits for MathJax and images, then reports what the tests check.
ANALYSE = r"""async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const content = document.querySelector('#content') || document.body;
  const imgs = [...content.querySelectorAll('img')];
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  const renderer = (document.querySelector('meta[name="math-renderer"]') || {}).content || 'none';
  const spans = [...content.querySelectorAll('span.math')];
  const res = {renderer};
  res.math_total = renderer === 'mathml' ? content.querySelectorAll('math').length : spans.length;
  res.math_untypeset = renderer === 'mathml' ? [] :
    spans.filter(s => !s.querySelector('mjx-container')).map(s => s.textContent.slice(0, 100));
  res.math_errors = [...content.querySelectorAll('mjx-merror, merror, [data-mjx-error]')]
    .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
  // raw TeX left in prose: text outside code and typeset math
  const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'MJX-CONTAINER', 'MATH', 'TEXTAREA']);
  const raw = [];
  const walker = document.createTreeWalker(content, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    let el = n.parentElement, inCode = false;
    for (; el && el !== content; el = el.parentElement) if (skip.has(el.tagName)) { inCode = true; break; }
    if (inCode) continue;
    const t = n.textContent;
    if (/\$\$|\\frac|\\[a-zA-Z]{2,}|\$[^$]*\$/.test(t)) raw.push(t.trim().slice(0, 120));
  }
  res.raw_tex = raw;
  res.headings = [...content.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => {
    let sig = '', doc = '', el = h.nextElementSibling;
    for (; el && !/^H[1-6]$/.test(el.tagName) && el.tagName !== 'HR'; el = el.nextElementSibling) {
      if (!sig && el.matches('div.sourceCode, pre')) sig = el.textContent;
      else if (sig && !doc && el.tagName === 'P') doc = el.textContent.trim();
    }
    return {id: h.id, text: h.textContent.trim(), sig, doc};
  });
  res.ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  res.links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  res.sidebar = [...document.querySelectorAll('#sidebar a[href]')].map(a => a.href);
  res.images = imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth}));
  res.pre = [...content.querySelectorAll('pre')].map(p => p.textContent);
  res.cell_pre = [...content.querySelectorAll('.cell pre')].map(p => p.textContent);
  res.text = content.textContent;
  return res;
}"""


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope='session')
def playwright_chromium():
    pw = pytest.importorskip('playwright.sync_api', reason='playwright not installed (pip install playwright)')
    if not Path(CHROMIUM).exists(): pytest.skip(f'chromium not found at {CHROMIUM} (apt-get install -y chromium)')
    return pw


@pytest.fixture(scope='session')
def browser(playwright_chromium, tmp_path_factory):
    with playwright_chromium.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path_factory.mktemp('chromium-profile')), headless=True,
                                                   executable_path=CHROMIUM, args=CHROME_ARGS)
        yield ctx
        ctx.close()


def _project_notebooks(root):
    nbs = root/'nbs'
    return sorted(p for p in nbs.glob('*.ipynb') if not p.name.startswith(('_', '.'))) if nbs.exists() else []


def _build(root, out):
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_site.py'), '--root', str(root), '--out', str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0: pytest.fail(f'tools/build_site.py failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}')


@pytest.fixture(scope='session', params=['project', 'fixture'])
def site(request, tmp_path_factory):
    "(root, site dir, name) of a built site"
    if request.param == 'project':
        root, out = ROOT, ROOT/'_site'
        if not _project_notebooks(root): pytest.skip('nbs/ has no notebooks yet: nothing to render')
        if build_site.is_stale(root, out):
            if os.environ.get('DOCS_SITE_NO_BUILD'): pytest.skip('_site/ missing or stale (run python tools/build_site.py)')
            _build(root, out)
    else:
        root, out, _ = built_mini_site(tmp_path_factory)
    if not (out/'_build.json').exists(): pytest.skip(f'no built site in {out}')
    return root, out, request.param


@pytest.fixture(scope='session')
def report(site, browser):
    "Load every page once: failures seen, the page analysis, and a full-page screenshot"
    root, out, name = site
    info = json.loads((out/'_build.json').read_text())
    httpd, base = serve(out)
    shots = SHOTS if name == 'project' else SHOTS/name
    shots.mkdir(parents=True, exist_ok=True)
    res = {}
    try:
        for p in info['pages']:
            page = browser.new_page()
            problems = []
            page.on('console', lambda m, pr=problems: pr.append(f'console.{m.type}: {m.text}') if m.type in ('error', 'assert') else None)
            page.on('pageerror', lambda e, pr=problems: pr.append(f'JS error: {e}'))
            page.on('requestfailed', lambda r, pr=problems: pr.append(f'request failed: {r.url} ({r.failure})'))
            page.on('response', lambda r, pr=problems: pr.append(f'HTTP {r.status}: {r.url}') if r.status >= 400 else None)
            resp = page.goto(base + p['file'], wait_until='networkidle')
            if resp is None or resp.status >= 400: problems.append(f'HTTP {resp and resp.status}: {p["file"]}')
            a = page.evaluate(ANALYSE)
            page.screenshot(path=str(shots/(p['file'].replace('/', '__') + '.png')), full_page=True)
            a['problems'] = problems
            res[p['file']] = a
            page.close()
    finally:
        httpd.shutdown()
    return dict(root=root, out=out, name=name, info=info, base=base, pages=res)


def _fail_if(errors, what):
    if errors: pytest.fail(f'{what}:\n  ' + '\n  '.join(errors))


def math_problems(a):
    "Math problems in one page analysis (used on the real pages and on the broken copy)"
    errs = [f'untypeset math: {t}' for t in a['math_untypeset']]
    errs += [f'math error: {t}' for t in a['math_errors']]
    errs += [f'raw TeX in prose: {t!r}' for t in a['raw_tex']]
    if a['renderer'] not in ('mathjax', 'mathml'): errs.append(f'unknown math renderer {a["renderer"]!r}')
    return errs


# ------------------------------------------------------------------ tests
def test_pages_load_cleanly(report):
    "Every page loads with no failed request, no HTTP status >= 400, no JS or console error"
    assert report['pages'], 'the site has no pages'
    _fail_if([f'{f}: {e}' for f, a in report['pages'].items() for e in a['problems']], 'page load problems')


def test_every_notebook_has_a_page(report):
    from nbdev.config import get_config
    srcs = {p['src'] for p in report['info']['pages']}
    nbs = Path(get_config(report['root']).nbs_path)
    missing = [n.name for n in _project_notebooks(report['root']) if n.relative_to(nbs).as_posix() not in srcs]
    _fail_if(missing, 'notebooks without a page')


def test_math_typeset(report):
    "Every math element is typeset, with no error marker and no raw $$ or \\frac left in prose"
    errs = [f'{f}: {e}' for f, a in report['pages'].items() for e in math_problems(a)]
    _fail_if(errs, 'math problems')
    if report['name'] == 'fixture':
        assert report['info']['math'] == 'mathjax', 'MathJax missing (run npm ci): the site fell back to MathML'
        assert sum(a['math_total'] for a in report['pages'].values()) >= 5


def test_broken_tex_is_detected(report, browser, tmp_path):
    "The math check can fail: inject broken TeX and raw $$ into a copy of a page"
    out = tmp_path/'site'
    shutil.copytree(report['out'], out)
    page_file = report['info']['pages'][0]['file']
    html = (out/page_file).read_text()
    if report['info']['math'] == 'mathjax':
        bad = r'<p id="broken"><span class="math inline">\(\frac{1}{\undefinedmacro{x}}\)</span> and $$x^2$$ raw</p>'
    else:
        bad = r'<p id="broken"><math><merror><mtext>bad</mtext></merror></math> and $$x^2$$ raw</p>'
    (out/page_file).write_text(html.replace('</main>', bad + '\n</main>'))
    httpd, base = serve(out)
    try:
        page = browser.new_page()
        page.goto(base + page_file, wait_until='networkidle')
        a = page.evaluate(ANALYSE)
        page.close()
    finally:
        httpd.shutdown()
    errs = math_problems(a)
    assert any(e.startswith('math error') for e in errs), errs
    assert any('$$x^2$$' in e for e in errs), errs
    assert not math_problems(report['pages'][page_file]), 'the unbroken page should be clean'


def _load_modidx(root):
    from nbdev.config import get_config
    f = Path(get_config(root).lib_path)/'_modidx.py'
    if not f.exists(): return {}
    g = {}
    exec(f.read_text(), g)
    return g['d'].get('syms', {})


def test_api_entries(report):
    "Every exported public name has its entry (heading + signature + docstring) on its page (from _modidx.py)"
    syms = _load_modidx(report['root'])
    names = [(full[len(mod)+1:], url) for mod, d in syms.items() for full, (url, _) in d.items()]
    top = [(n, url) for n, url in names if '.' not in n and not n.startswith('_')]
    if not top: pytest.skip('no exported names in _modidx.py yet')
    errs = []
    for name, url in top:
        page, _, anchor = url.partition('#')
        a = report['pages'].get(page)
        if a is None: errs.append(f'{name}: page {page} not in the site'); continue
        # nbdev's anchors are lowercased names, so `Tensor` and `tensor` (or a prose heading "Tensor") share one;
        # the page then numbers the later ones (#tensor-1, ...), as quarto does: find the entry by id and name
        hs = [h for h in a['headings'] if re.fullmatch(re.escape(anchor) + r'(-\d+)?', h['id']) and h['text'] == name]
        if not hs: errs.append(f'{name}: no API entry (heading {name!r}, id #{anchor}) on {page}'); continue
        h = next((h for h in hs if h['sig'] and h['doc']), hs[0])
        if not re.search(rf'\b{re.escape(name)}\b', h['sig']): errs.append(f'{name}: no signature after its heading on {page}')
        if not h['doc']: errs.append(f'{name}: no docstring after its signature on {page}')
    # methods (Class.method) need no entry of their own, but an entry that exists must be complete
    for name, url in names:
        if '.' not in name or name.split('.')[-1].startswith('_'): continue
        page, _, anchor = url.partition('#')
        for h in (h for h in report['pages'].get(page, {}).get('headings', []) if h['id'] == anchor and h['text'] == name):
            if not h['sig'] or not h['doc']: errs.append(f'{name}: incomplete entry on {page}')
    _fail_if(errs, 'API entries')


def test_plot_images_decode(report):
    "Every image (plots are image/png outputs) decodes: naturalWidth > 0"
    errs = [f'{f}: {i["src"]}' for f, a in report['pages'].items() for i in a['images'] if not (i['complete'] and i['w'] > 0)]
    _fail_if(errs, 'images that do not decode')
    if report['name'] == 'fixture':
        assert any(i['src'].endswith('.png') for i in report['pages']['plot.html']['images']), 'the plot is missing'


def _cell_opts(src):
    opts, body = {}, []
    for line in src.splitlines():
        m = re.match(r'\s*#\|\s*([\w-]+)\s*(?::\s*(.*))?$', line)
        if m and not body: opts[m.group(1)] = (m.group(2) or '').strip()
        else: body.append(line)
    return opts, '\n'.join(l.strip() for l in body if l.strip())


def _hidden_sources(root, src_rel):
    "Sources of the cells of notebook `src_rel` that must not be shown"
    from nbdev.config import get_config
    nb = json.loads((Path(get_config(root).nbs_path)/src_rel).read_text())
    res = []
    for c in nb['cells']:
        if c['cell_type'] != 'code': continue
        opts, body = _cell_opts(''.join(c['source']))
        hide = opts.keys() & {'hide', 'export', 'exporti', 'default_exp'} or opts.get('include') == 'false' or opts.get('echo') == 'false'
        if hide and body: res.append(body)
    return res


def test_hidden_cells_and_directives_absent(report):
    "No `#|` directive line in a code cell, and no source of a hidden / exported / echo:false cell, on any page"
    errs = []
    for p in report['info']['pages']:
        a = report['pages'][p['file']]
        for t in a['cell_pre']:
            errs += [f'{p["file"]}: directive shown: {l.strip()!r}' for l in t.splitlines() if l.lstrip().startswith('#|')]
        if not p['src'].endswith('.ipynb'): continue
        shown = ['\n'.join(l.strip() for l in t.splitlines() if l.strip()) for t in a['pre']]
        for src in _hidden_sources(report['root'], p['src']):
            if any((src == t) if '\n' not in src else (src in t) for t in shown):
                errs.append(f'{p["file"]}: hidden cell shown: {src[:80]!r}')
    _fail_if(errs, 'hidden content on the site')
    if report['name'] == 'fixture':
        core = report['pages']['core.html']['text']
        assert 'ECHO-FALSE-OUTPUT' in core and 'INCLUDE-FALSE-SECRET' not in core and 'SLOW-CELL-RAN\n' not in core


def _site_path(report, url):
    u = urlparse(url)
    base = urlparse(report['base'])
    if u.netloc != base.netloc: return None
    path = u.path.lstrip('/') or 'index.html'
    return path + 'index.html' if path.endswith('/') else path


def test_navigation_reaches_every_page(report):
    "Following links from the home page reaches every notebook's page; the sidebar lists them all"
    pages = report['pages']
    assert 'index.html' in pages, 'no home page (nbs/index.ipynb)'
    seen, todo = {'index.html'}, ['index.html']
    while todo:
        for url in pages[todo.pop()]['links']:
            f = _site_path(report, urldefrag(url)[0])
            if f in pages and f not in seen: seen.add(f); todo.append(f)
    _fail_if(sorted(set(pages) - seen), 'pages not reachable from the home page')
    side = {_site_path(report, u) for u in pages['index.html']['sidebar']}
    _fail_if(sorted(set(pages) - side), 'pages missing from the sidebar')
    order = [p['src'] for p in report['info']['pages']]
    assert order[0] == 'index.ipynb', f'home page is not first in the sidebar: {order}'
    numbered = [s for s in order if re.match(r'\d', s)]
    assert numbered == sorted(numbered), f'sidebar not in notebook order: {order}'


def test_internal_links_resolve(report):
    "Every link inside the site points to an existing file, and its #fragment to an existing id"
    errs = []
    for f, a in report['pages'].items():
        for url in a['links']:
            target, frag = urldefrag(url)
            path = _site_path(report, target)
            if path is None: continue
            if not (report['out']/path).exists(): errs.append(f'{f}: broken link {url}'); continue
            if frag and path in report['pages'] and frag not in report['pages'][path]['ids']:
                errs.append(f'{f}: link to missing anchor {url}')
    _fail_if(sorted(set(errs)), 'broken internal links')


def test_folded_solutions_expand(report, browser):
    "Exercise solutions are folded (<details class=code-fold>), start closed, and open on a click to show their code"
    if report['name'] != 'project': pytest.skip('the exercises live in the project notebooks')
    heads = lambda a: ' '.join(h['text'] for h in a['headings'])
    pages = sorted(f for f, a in report['pages'].items() if re.search(r'\bExercises?\b', heads(a)))
    assert 'backprop_by_hand.html' in pages, 'the "Backprop by hand" chapter is missing'
    httpd, base = serve(report['out'])
    errs = []
    try:
        for f in pages:
            page = browser.new_page()
            page.goto(base + f, wait_until='networkidle')
            folds = page.locator('details.code-fold')
            if folds.count() == 0: errs.append(f'{f}: exercises without a folded solution'); page.close(); continue
            first = folds.first
            if first.evaluate('d => d.open'): errs.append(f'{f}: the solution starts open')
            first.locator('summary').click()
            if not (first.evaluate('d => d.open') and first.locator('pre').first.is_visible()):
                errs.append(f'{f}: the solution does not expand on a click')
            page.close()
    finally:
        httpd.shutdown()
    _fail_if(errs, 'folded solutions')
