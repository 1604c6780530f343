"""Reproducing the paper (issues 5 and 6): the presets' code path end to end, resumability, determinism, the papermill
report notebooks (parameters honoured, skipped when up to date), missing cells shown as missing, and the paper preset's dry run."""
import csv, json
from pathlib import Path
import nbformat, pytest
from fcot.core import read_jsonl
from fcot.presets import smoke_config, preset_config, RunSpec
from fcot.reproduce import run_preset, plan
from fcot.report import notebook_dir, PAPER_NOTEBOOKS, PRESET_NOTEBOOKS, run_notebooks
from fcot.cli import main

def _numbers(rows):
    return [{k: v for k, v in r.items() if not k.endswith('seconds') and k != 'peak_gb'} for r in rows]   # measurements, not results

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
    assert run_notebooks('paper', tmp_path, ['main_results'], progress=False) == {'main_results': 'ran'}
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

def test_dev_split_is_held_out_and_fixed():
    from fcot.datasources import dev_split
    from fcot.runs import run_split
    recs = [{'id': f'q{i}'} for i in range(100)]
    train, dev = dev_split(recs, 0.15, seed=0)
    assert len(dev) == 15 and len(train) == 85 and not {r['id'] for r in train} & {r['id'] for r in dev}
    assert dev_split(recs, 0.15, seed=0) == (train, dev) and dev_split(recs, 0.15, seed=1)[1] != dev
    assert [r['id'] for r in dev] == sorted((r['id'] for r in dev), key=lambda s: int(s[1:]))   # original order kept
    cfg = smoke_config().replace(dev_fraction=0.25)
    full, small = (run_split(RunSpec('synth_coin_flip', 'ft_cot', n_train=k), cfg, ('train', 'dev', 'test')) for k in (None, 8))
    assert full['dev'] == small['dev'] and len(full['dev']) == 4          # every run of a task sees the same dev questions
    dev_ids = {r['id'] for r in full['dev']}
    assert not dev_ids & {r['id'] for r in full['train'] + small['train'] + full['test']}

def test_epoch_chosen_on_dev_and_test_scored_once(tmp_path):
    "With a dev split, each epoch is scored on dev only; the first best epoch's checkpoint is the one evaluated on test."
    from fcot.runs import run_one
    cfg = smoke_config().replace(dev_fraction=0.25, train={'epochs': 3})
    spec = RunSpec('synth_coin_flip', 'ft_cot', 1, None, 'offline', 'gpt2-tiny')
    row = run_one(spec, cfg, tmp_path)
    assert len(row['dev_curve']) == 3 and row['n_dev'] == 4 and row['n_train_questions'] == 12
    best = max(row['dev_curve']); assert row['epoch'] == row['dev_curve'].index(best) + 1
    preds = read_jsonl(tmp_path/spec.key/'predictions.jsonl')
    assert len(preds) == row['n_test'] == 8 and row['correct'] == sum(p['correct'] for p in preds)

def test_repeated_seeds_are_their_own_runs():
    cfg = smoke_config().replace(seeds=[0, 1, 2], seed_tasks=['synth_coin_flip'])
    extra = [s for s in cfg.runs() if s.seed is not None]
    assert sorted((s.method, s.seed) for s in extra) == [('ft_cot', 1), ('ft_cot', 2), ('vanilla', 1), ('vanilla', 2)]
    assert extra[0].key.endswith('-seed1') and RunSpec('synth_coin_flip', 'vanilla', model='gpt2-tiny').key.endswith('gpt2-tiny')

def test_smollm_presets_check_out(real_data, capsys):
    from fcot.reproduce import check_config, dry_run
    for name in ('smollm', 'smollm-quick'):
        cfg = preset_config(name)
        assert check_config(cfg) == [] and cfg.students == ['smollm2-135m'] and cfg.dev_fraction > 0
    plan_ = dry_run(preset_config('smollm-quick'), print_plan=False)
    assert plan_['unavailable'] == 1 and plan_['by_method']['few_shot_cot'] == 3 and plan_['by_method']['ft_cot'] == 14
    full = dry_run(preset_config('smollm'), print_plan=False)
    reasons = {s['reason'] for s in full['skipped']}
    assert any('AQUA' in r for r in reasons) and any('recorded teacher has no outputs' in r for r in reasons)
    assert main(['reproduce', '--preset', 'smollm-quick', '--dry-run']) == 0   # no GPU needed: not refused

def test_reuse_copies_shared_runs_and_refuses_other_settings(tmp_path, capsys):
    from fcot.core import FcotError
    a = run_preset(smoke_config(), tmp_path/'a', progress=False)
    narrower = smoke_config().replace(name='smoke-narrow', size_tasks=[], teacher_tasks=[])
    rows = run_preset(narrower, tmp_path/'b', progress=False, reuse=[tmp_path/'a'])
    assert rows and all(r.get('reused_from') == str(tmp_path/'a') for r in rows)          # nothing computed again
    by_key = {r['key']: r for r in a}
    assert all(r['accuracy'] == by_key[r['key']]['accuracy'] for r in rows)
    assert all((tmp_path/'b'/'runs'/r['key']/'predictions.jsonl').exists() for r in rows if r['method'] != 'random')
    with pytest.raises(FcotError, match=r'does runs differently \(train\.epochs\)'):
        run_preset(smoke_config().replace(name='other', train={'epochs': 2}), tmp_path/'c', progress=False, reuse=[tmp_path/'a'])

def test_a_failing_run_loses_nothing_else(tmp_path, monkeypatch):
    import fcot.reproduce as R
    from fcot.core import FcotError
    real, bad = R.run_one, RunSpec('synth_coin_flip', 'vanilla', n_train=8, model='gpt2-tiny').key
    def flaky(spec, cfg, work_dir, progress=False):
        if spec.key == bad: raise RuntimeError('disk on fire')
        return real(spec, cfg, work_dir, progress)
    monkeypatch.setattr(R, 'run_one', flaky)
    with pytest.raises(FcotError, match=r'1 of 10 run\(s\) failed.*disk on fire'):
        run_preset(smoke_config(), tmp_path, progress=False)
    assert len(read_jsonl(tmp_path/'results.jsonl')) == 9 and read_jsonl(tmp_path/'failed.jsonl')[0]['key'] == bad
    monkeypatch.setattr(R, 'run_one', real)
    assert len(run_preset(smoke_config(), tmp_path, progress=False)) == 10 and not (tmp_path/'failed.jsonl').exists()

def test_workers_end_with_their_parent(tmp_path):
    "After kill -9 of `fcot reproduce`, its worker processes do not run on (they used to, training into the same folders)."
    import os, signal, subprocess, sys, time
    code = ("from fcot.presets import smoke_config\nfrom fcot.reproduce import run_preset\n"
            "if __name__ == '__main__': run_preset(smoke_config().replace(train={'epochs': 50}, n_train=64), %r, progress=False, workers=2)" % str(tmp_path/'o'))
    (tmp_path/'go.py').write_text(code)
    p = subprocess.Popen([sys.executable, str(tmp_path/'go.py')])
    def children():
        out = []
        for d in Path('/proc').iterdir():
            if d.name.isdigit():
                try: st = (d/'stat').read_text()
                except OSError: continue
                if int(st.rsplit(')', 1)[1].split()[1]) == p.pid and ('spawn_main' in (d/'cmdline').read_text() or 'resource_tracker' in (d/'cmdline').read_text()): out.append(int(d.name))
        return out
    for _ in range(120):
        kids = children()
        if len(kids) >= 3: break
        time.sleep(0.5)
    assert len(kids) >= 3, 'the workers and their resource tracker did not start'
    time.sleep(3)
    p.send_signal(signal.SIGKILL); p.wait()
    alive = lambda pid: Path(f'/proc/{pid}').exists() and 'Z' not in Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    for _ in range(20):
        if not any(alive(k) for k in kids): break
        time.sleep(0.5)
    assert not any(alive(k) for k in kids), [k for k in kids if alive(k)]

def test_two_runs_in_one_folder_are_refused(tmp_path):
    import fcntl, os
    from fcot.core import FcotError
    (tmp_path/'.lock').write_text(f'process 4242 on elsewhere')
    with open(tmp_path/'.lock', 'a+') as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)     # as a running `fcot reproduce` holds it
        with pytest.raises(FcotError, match='in use by process 4242 on elsewhere'):
            run_preset(smoke_config(), tmp_path, progress=False)
        assert not (tmp_path/'results.jsonl').exists()
    assert len(run_preset(smoke_config(), tmp_path, progress=False)) == 10   # once it is released, the run goes ahead

def test_cpu_preset_smoke_runs_and_tests_every_effect(tmp_path):
    "The embedded default's grid at a tiny size (issue 11): every run, then its report notebook with one verdict per effect."
    from fcot.presets import cpu_config, cpu_smoke_config
    from fcot.significance import paper_claims
    cfg = cpu_smoke_config()
    assert len(plan(cfg)[0]) == len(plan(cpu_config())[0])                      # the same grid as `make demo`
    rows = run_preset(cfg, tmp_path, progress=False, workers=2)
    assert len(rows) == len(plan(cfg)[0])
    assert run_notebooks('cpu-smoke', tmp_path, ['cpu_preset'], progress=False) == {'cpu_preset': 'ran'}
    claims = list(csv.DictReader(open(tmp_path/'cpu_preset'/'claims.csv')))
    assert [c['claim'] for c in claims] == [c['claim'] for c in paper_claims(cfg)]
    assert all(c['tested on'] != '0' for c in claims)                            # every effect has its runs
    overview = list(csv.DictReader(open(tmp_path/'cpu_preset'/'overview.csv')))
    assert len(overview) == sum(len(c['pairs']) for c in paper_claims(cfg)) and all(r['McNemar p'] for r in overview)
    assert (tmp_path/'cpu_preset'/'studies.png').stat().st_size > 10_000

def test_saved_flat_preset_configs_read_as_their_presets():
    "The committed outputs were written when the training settings were flat (`epochs`, `eval_dtype`, ...): they must load as today's presets."
    from fcot.core import read_json
    from fcot.presets import PresetConfig, preset_config
    saved = sorted((Path(__file__).resolve().parents[1]/'outputs').glob('*/preset_config.json'))
    assert saved, 'no committed preset outputs'
    for f in saved:
        d = read_json(f)
        cfg, now = PresetConfig.from_dict(d), preset_config(d['name'])
        if cfg.train.precision != now.train.precision:   # made where the other precision is the fast one (bf16 with AMX, else fp32)
            now = now.replace(train={'precision': cfg.train.precision}, eval={'dtype': cfg.eval.dtype})
        assert cfg == now, f
    flat = read_json(saved[0])
    if 'epochs' in flat:   # the old form: reading it moves the flat settings into the nested configs
        cfg = PresetConfig.from_dict(flat)
        assert (cfg.train.epochs, cfg.train.lr, cfg.eval.dtype) == (flat['epochs'], flat['lr'], flat['eval_dtype'])
