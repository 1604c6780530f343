"""Reproducing the paper (issues 5 and 6): the presets' code path end to end, resumability, determinism, the papermill
report notebooks (parameters honoured, skipped when up to date), missing cells shown as missing, and the paper preset's dry run."""
import csv, json
from pathlib import Path
import nbformat, pytest
from fcot.core import read_jsonl
from fcot.reproduce import run_preset, smoke_config, plan, preset_config, RunSpec
from fcot.report import notebook_dir, PAPER_NOTEBOOKS, PRESET_NOTEBOOKS, run_notebooks
from fcot.cli import main

def _numbers(rows):
    return [{k: v for k, v in r.items() if not k.endswith('seconds')} for r in rows]

def test_same_seed_same_numbers(tmp_path):
    a = run_preset(smoke_config(), tmp_path/'a', progress=False)
    b = run_preset(smoke_config(), tmp_path/'b', progress=False, workers=2)   # side by side in two processes
    assert _numbers(a) == _numbers(b)
    c = run_preset(smoke_config().replace(seed=1), tmp_path/'c', progress=False)
    outcome = lambda rows: [(r.get('samples'), r.get('teacher_accuracy'), r['accuracy']) for r in rows if r['method'] == 'ft_cot']
    assert outcome(c) != outcome(a)   # the seed is what fixes the numbers: another seed, other questions, other results

def test_reproduce_runs_everything_then_skips_what_is_done(tmp_path, capsys):
    assert main(['reproduce', '--preset', 'smoke', '--out-dir', str(tmp_path), '--workers', '1']) == 0
    rows = read_jsonl(tmp_path/'results.jsonl')
    assert len(rows) == len(plan(smoke_config())[0])
    for nb in PAPER_NOTEBOOKS:   # each executed notebook is saved beside its outputs
        assert (tmp_path/f'{nb}.ipynb').exists() and (tmp_path/nb).is_dir(), nb
    assert (tmp_path/'diversity'/'diversity.png').stat().st_size > 10_000 and (tmp_path/'diversity'/'diversity.pdf').exists()
    for ext in ('csv', 'md', 'tex'): assert (tmp_path/'main_results'/f'main_table.{ext}').exists()
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob('*.ipynb')}
    capsys.readouterr()
    assert main(['reproduce', '--preset', 'smoke', '--out-dir', str(tmp_path)]) == 0
    assert 'up to date' in capsys.readouterr().out
    assert read_jsonl(tmp_path/'results.jsonl') == rows                                       # no run repeated
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob('*.ipynb')} == mtimes              # no notebook re-executed
    # new results make the notebooks stale: they are rendered again
    from fcot.reproduce import add_result
    add_result(tmp_path, RunSpec('synth_coin_flip', 'vanilla', n_train=16, model='api:babbage-002'), 0.5)
    assert set(run_notebooks('smoke', tmp_path, ['main_results'], progress=False).values()) == {'ran'}

def _tags(cell): return cell.get('metadata', {}).get('tags', [])

@pytest.mark.parametrize('name', sorted(p.stem for p in notebook_dir().glob('*.ipynb')))
def test_parameters_cell_is_tagged(name):
    "nbdev_clean must keep the papermill tag: without it papermill injects values above the defaults, which then override them."
    nb = nbformat.read(notebook_dir()/f'{name}.ipynb', as_version=4)
    code = [c for c in nb.cells if c.cell_type == 'code']
    tagged = [c for c in code if 'parameters' in _tags(c)]
    assert len(tagged) == 1 and code[0] is tagged[0], f'{name}: the first code cell must be the only one tagged "parameters"'

def test_notebook_uses_a_non_default_parameter(tmp_path):
    "Run one notebook with a non-default preset through papermill: the outputs must be the smoke preset's, not the default's."
    run_preset(smoke_config(), tmp_path, progress=False)
    assert run_notebooks('smoke', tmp_path, ['diversity'], progress=False) == {'diversity': 'ran'}
    rows = list(csv.DictReader(open(tmp_path/'diversity'/'diversity.csv')))
    assert [r['task'] for r in rows] == ['Coin Flip (synthetic)']            # the default preset (cpu) would show arithmetic too
    assert list(rows[0]) == ['task', 'vanilla', 'D=1', 'D=2']               # smoke's diversity grid, not cpu's [1, 2, 4, 8]
    nb = nbformat.read(tmp_path/'diversity.ipynb', as_version=4)
    code = [c for c in nb.cells if c.cell_type == 'code']
    assert 'parameters' in _tags(code[0]) and 'injected-parameters' in _tags(code[1])   # injected after the defaults
    assert "preset = \"smoke\"" in code[1].source or "preset = 'smoke'" in code[1].source

def test_cells_not_run_are_missing_not_zero(tmp_path):
    "The paper preset with no stored results: every cell of the main table is missing, none is zero."
    assert run_notebooks('paper', tmp_path, ['main_results'], progress=False, params={'run_missing': False}) == {'main_results': 'ran'}
    rows = list(csv.DictReader(open(tmp_path/'main_results'/'main_table.csv')))
    assert len(rows) > 20 and all(v == '' for r in rows for k, v in r.items() if k)
    md = (tmp_path/'main_results'/'main_table.md').read_text()
    assert '| 0.0 |' not in md and md.count('–') > 200

def test_paper_preset_dry_run(real_data, capsys):
    assert main(['reproduce', '--preset', 'paper', '--dry-run']) == 0
    out = capsys.readouterr().out
    assert 'preset paper:' in out and 'teacher: about' in out and 'training tokens' in out

def test_paper_preset_needs_a_gpu(capsys):
    import torch
    if torch.cuda.is_available(): pytest.skip('this machine has a GPU')
    assert main(['reproduce', '--preset', 'paper']) == 2
    assert 'needs a GPU' in capsys.readouterr().err

def test_recorded_preset_code_path(real_data, tmp_path):
    "The recorded preset end to end on a few questions: the teacher row agrees with the recorded-teacher report."
    from fcot.recorded import task_report
    cfg = preset_config('recorded-smoke')
    rows = {r['key']: r for r in run_preset(cfg, tmp_path, progress=False)}
    teacher = rows[RunSpec('multiarith', 'teacher', teacher='text-davinci-002').key]
    assert teacher['n_test'] == 6
    full = run_preset(cfg.replace(n_test=None, name='recorded-smoke-full', students=['gpt2-tiny'], train_tasks=[],
                                  template_tasks=[], size_tasks=[], tasks={'multiarith': {}}), tmp_path/'full', progress=False)
    t = [r for r in full if r['method'] == 'teacher'][0]
    assert round(100 * t['accuracy'], 2) == task_report('multiarith')[0]['accuracy test']
    skipped = {s['key']: s['reason'] for s in read_jsonl(tmp_path/'unavailable.jsonl')}
    assert any('AQUA' in why for why in skipped.values())
    assert RunSpec('aqua', 'teacher', teacher='text-davinci-002').key in rows           # AQUA's test part is still evaluated
    ft = rows[RunSpec('multiarith', 'ft_cot', 1, None, 'text-davinci-002', 'gpt2-tiny').key]
    assert ft['curation']['records'] == ft['n_train_questions'] == 420 and 0 < ft['samples'] < 420
    tpl = rows[RunSpec('multiarith', 'ft_cot', 1, None, 'text-davinci-002', 'gpt2-tiny', 'template').key]
    assert tpl['n_train_questions'] != 420                                              # the template split is another split

def test_nbdev_clean_keeps_the_parameters_tag(tmp_path):
    "Cleaning a notebook (as before every commit) must not strip papermill's tag (settings.ini: allowed_cell_metadata_keys)."
    import shutil, subprocess, sys
    from fcot.core import project_root
    nb = tmp_path/'diversity.ipynb'
    shutil.copy(notebook_dir()/'diversity.ipynb', nb)
    raw = nbformat.read(nb, as_version=4)
    raw.cells[1].metadata['editable'] = False                  # metadata nbdev_clean removes, next to the tag it must keep
    nbformat.write(raw, nb)
    clean = Path(sys.executable).parent/'nbdev_clean'
    subprocess.run([str(clean), '--fname', str(nb)], cwd=project_root(), check=True)
    cells = [c for c in nbformat.read(nb, as_version=4).cells if c.cell_type == 'code']
    assert 'parameters' in _tags(cells[0]) and 'editable' not in cells[0].metadata
