"""The documentation site (`make docs`, `tools/build_docs.py`): built from the notebooks, a module's page opened in
headless Chromium shows that module's API docs; README.md is the index notebook's prose."""
import shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
from build_docs import page_name, readme_text

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


def test_page_names_follow_nbdev():
    assert [page_name(Path(p)) for p in ('00_core.ipynb', '04b_api.ipynb', '09_runs.ipynb')] == ['core', 'api', 'runs']


def test_readme_is_made_from_the_index_notebook(tmp_path):
    assert (ROOT/'README.md').read_text() == readme_text(ROOT/'nbs'/'index.ipynb')
    from execnb.nbio import new_nb, mk_cell, write_nb
    write_nb(new_nb([mk_cell('# t', cell_type='markdown'), mk_cell('1 + 1')]), tmp_path/'index.ipynb')
    with pytest.raises(SystemExit, match='has code cells'): readme_text(tmp_path/'index.ipynb')


def test_check_fails_when_readme_and_index_differ(tmp_path):
    "`build_docs.py --check` (run by `make test`) must fail on a README edited by hand: run it on a copy that differs."
    for f in ('settings.ini', 'README.md'): shutil.copy(ROOT/f, tmp_path/f)
    shutil.copytree(ROOT/'nbs', tmp_path/'nbs', ignore=shutil.ignore_patterns('paper'))
    (tmp_path/'tools').mkdir(); shutil.copy(ROOT/'tools'/'build_docs.py', tmp_path/'tools')
    ok = subprocess.run([sys.executable, 'tools/build_docs.py', '--check'], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    (tmp_path/'README.md').write_text((tmp_path/'README.md').read_text() + '\nedited by hand\n')
    bad = subprocess.run([sys.executable, 'tools/build_docs.py', '--check'], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0 and 'README.md differs' in bad.stderr, (bad.returncode, bad.stderr)


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('site')
    r = subprocess.run([sys.executable, 'tools/build_docs.py', '--out', str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return out


def test_site_has_a_page_per_notebook(site):
    nbs = [p for p in (ROOT/'nbs').glob('*.ipynb') if p.name != 'index.ipynb']
    assert {p.name for p in site.glob('*.html')} >= {f'{page_name(p)}.html' for p in nbs} | {'index.html'}
    index = (site/'index.html').read_text()
    assert 'href="stats.html"' in index and 'Set-up on a fresh machine' in index


@pytest.mark.skipif(not CHROMIUM, reason="no chromium on this machine (.ci/run installs Debian's `chromium`)")
def test_module_page_renders_its_api_docs_in_chromium(site):
    dom = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=5000',
                          '--dump-dom', (site/'stats.html').as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert '<html' in dom, dom[:500]
    for name in ('wilson', 'mcnemar', 'paired_diff', 'seed_summary'):   # fcot.stats' exported functions, each with its show_doc
        assert f'>{name}<' in dom or f'<h3>{name}' in dom or f'id="{name}"' in dom, name
    assert 'exact McNemar' in dom   # a docstring, as the reader sees it
