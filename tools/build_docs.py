"""Builds the documentation site from the notebooks into `_docs/` (settings.ini's `doc_path`), and README.md from
`nbs/index.ipynb` (settings.ini's `readme_nb`).

With Quarto on the PATH this is nbdev's own `nbdev_docs`. Without it (the `quarto-cli` package on PyPI is an sdist that
downloads Quarto from GitHub while it installs, which a machine limited to the package registries cannot do), the site
comes from the same nbdev processing (`nbdev.serve.proc_nbs`: `show_doc` API docs for every exported symbol, `#| hide`
cells dropped) rendered by nbconvert's HTML exporter: one page per notebook, named as nbdev names them (`00_core.ipynb`
becomes `core.html`), and `index.html` from the index notebook with a list of the pages.

    .venv/bin/python tools/build_docs.py            # make docs: the site and README.md
    .venv/bin/python tools/build_docs.py --check    # fails when README.md is not what nbs/index.ipynb says (make test)
"""
import argparse, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_text(index_nb: Path) -> str:
    "README.md as the index notebook's markdown cells, in order (the index notebook holds no code)."
    from execnb.nbio import read_nb
    cells = read_nb(index_nb).cells
    if any(c.cell_type == 'code' for c in cells):
        sys.exit(f"{index_nb} has code cells; the index notebook is prose only (README.md is made from it).")
    return '\n\n'.join(c.source.strip() for c in cells if c.cell_type == 'markdown') + '\n'


def page_name(nb: Path) -> str:
    "nbdev's page name for a notebook: the numeric prefix dropped (`00_core` -> `core`, `04b_api` -> `api`)."
    return re.sub(r'^\d+[a-z]?_', '', nb.stem)


_QUARTO_ATTRS = re.compile(r'\{target="_blank"[^}]*\}')   # pandoc link attributes in show_doc's markdown, which nbconvert shows as text

def _as_page(nb):
    "What Quarto would show of a processed notebook: its front matter as a title, no source for `#| echo: false` cells."
    import yaml
    from nbformat.v4 import new_markdown_cell
    raw = [c for c in nb.cells if c.cell_type == 'raw']
    front = yaml.safe_load(raw[0].source.strip().strip('-')) if raw and raw[0].source.startswith('---') else {}
    nb.cells = [c for c in nb.cells if c.cell_type != 'raw']
    if isinstance(front, dict) and front.get('title'):
        nb.cells.insert(0, new_markdown_cell(f"# {front['title']}" + (f"\n\n> {front['description']}" if front.get('description') else '')))
    for c in nb.cells:
        if c.cell_type != 'code': continue
        if re.search(r'^#\|\s*echo:\s*false', c.source, re.M): c.metadata.setdefault('transient', {})['remove_source'] = True
        for o in c.get('outputs', []):
            md = o.get('data', {}).get('text/markdown')
            if md: o['data']['text/markdown'] = _QUARTO_ATTRS.sub('', md if isinstance(md, str) else ''.join(md))
    return nb


def html_site(cfg, out: Path):
    "The site without Quarto: nbdev's processed notebooks through nbconvert's HTML exporter."
    from nbconvert import HTMLExporter
    from nbdev.serve import proc_nbs
    import nbformat
    from nbformat.v4 import new_markdown_cell
    cache = proc_nbs(cfg.nbs_path, n_workers=1)
    exporter = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
    pages = []
    for nb in sorted(cache.glob('*.ipynb')):
        if nb.name == cfg.readme_nb: continue
        name = page_name(nb)
        page = _as_page(nbformat.reads(nb.read_text(), as_version=4))
        body, _ = exporter.from_notebook_node(page)
        (out/f'{name}.html').write_text(body)
        desc = re.search(r'^> (.*)$', page.cells[0].source, re.M) if page.cells else None
        pages.append(f"- [{nb.stem}]({name}.html)" + (f": {desc.group(1)}" if desc else ''))
    index = nbformat.reads((cache/cfg.readme_nb).read_text(), as_version=4)
    index.cells.append(new_markdown_cell("## Notebooks and their modules\n\n" + '\n'.join(pages)))
    body, _ = exporter.from_notebook_node(_as_page(index))
    (out/'index.html').write_text(body)
    return pages


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--check', action='store_true', help='only check that README.md matches the index notebook')
    ap.add_argument('--out', help="where the site goes (default: settings.ini's doc_path)")
    a = ap.parse_args()
    from nbdev.config import get_config
    cfg = get_config(path=ROOT)
    index_nb, readme = cfg.nbs_path/cfg.readme_nb, cfg.config_path/'README.md'
    text = readme_text(index_nb)
    if a.check:
        if readme.read_text() != text:
            sys.exit(f"FAIL: README.md differs from {index_nb.relative_to(ROOT)}: edit the notebook, then run `make docs`.")
        print(f"README.md matches {index_nb.relative_to(ROOT)}"); return
    if shutil.which('quarto') and not a.out:
        subprocess.run([str(Path(sys.executable).parent/'nbdev_docs')], check=True, cwd=ROOT)
    else:
        out = Path(a.out) if a.out else cfg.doc_path
        pages = html_site(cfg, out)
        print(f"{len(pages) + 1} pages in {out} (nbdev's processed notebooks through nbconvert)")
    if not a.out: readme.write_text(text)   # README.md is the index notebook's markdown, whichever way the site was built;
                                            # a site built elsewhere (--out, as the tests do) leaves the checkout alone


if __name__ == '__main__':
    main()
