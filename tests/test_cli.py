"""The `fcot` command line: the whole pipeline (sample -> curate -> train -> evaluate) on a synthetic task with the
offline teacher, configs saved next to results, dry runs, option precedence, and the errors a user can make."""
import contextlib, io, json, os, subprocess, sys
from pathlib import Path
import pytest
import torch

from fcot.cli import main, build_parser
from fcot.runconfig import config_from_args, RunConfig
from fcot.core import read_json, read_jsonl

torch.set_num_threads(1)
TASK, SPLIT = 'synth_coin_flip', 'train=12,test=4,seed=0,n_people=2'

def run(*argv):
    "Run `fcot argv` in process: (exit status, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()

def ok(*argv) -> str:
    rc, out, err = run(*argv)
    assert rc == 0, f'fcot {argv} -> {rc}\n{out}\n{err}'
    return out

def error(*argv) -> str:
    "The one-line error of a failing command (exit status 2)."
    rc, out, err = run(*argv)
    assert rc == 2, f'fcot {argv} -> {rc}\n{out}\n{err}'
    assert err.startswith('fcot: error: ') or 'usage: fcot' in err, err
    return err

@pytest.fixture(scope='module')
def pipeline(tmp_path_factory):
    "Run the four steps once; returns the work folder and each step's stdout."
    w = tmp_path_factory.mktemp('cli')
    outs = {}
    outs['sample'] = ok('sample', TASK, '--backend', 'offline', '-D', 2, '--split', SPLIT, '--set', 'offline.step_error=0.25',
                        '--out', w/'teacher.jsonl', '--cache', w/'cache.sqlite', '-q')
    outs['curate'] = ok('curate', TASK, '--records', w/'teacher.jsonl', '--split', SPLIT, '--out', w/'curated')
    outs['train'] = ok('train', '--samples', w/'curated'/'samples.jsonl', '--out', w/'student', '--model', 'gpt2-tiny',
                       '--epochs', 1, '--batch-size', 8, '--set', 'scratch_config={"n_layer": 1}', '-q')
    outs['evaluate'] = ok('evaluate', '--model', w/'student', TASK, '--split', SPLIT, '--limit', 3,
                          '--max-new-tokens', 12, '--out', w/'eval', '-q')
    return w, outs

def test_sample_writes_records_and_its_config(pipeline):
    w, outs = pipeline
    recs = read_jsonl(w/'teacher.jsonl')
    assert len(recs) == 24 and {r['completion_index'] for r in recs} == {0, 1} and all(r['task'] == TASK for r in recs)
    saved = read_json(w/'teacher.sample_run.json')
    assert saved['command'] == 'sample' and saved['task'] == TASK and saved['split'] == SPLIT
    assert saved['teacher']['backend'] == 'offline' and saved['cot']['n_samples'] == 2 and saved['offline'] == {'step_error': 0.25}
    assert (w/'teacher.run.json').exists()                       # the library's run stats
    assert 'wrote 24 teacher records' in outs['sample'] and 'run stats:' in outs['sample'] and 'cache hits' in outs['sample']

def test_rerun_from_saved_config_is_all_cache_hits(pipeline):
    w, _ = pipeline
    out = ok('sample', '--config', w/'teacher.sample_run.json', '-q')
    assert 'run stats: 0 calls, 48 cache hits' in out, out       # 24 rationales + 24 answers, none asked again
    assert len(read_jsonl(w/'teacher.jsonl')) == 24

def test_curate_outputs_and_report(pipeline):
    w, outs = pipeline
    report = read_json(w/'curated'/'curate_report.json')[TASK]
    samples = read_jsonl(w/'curated'/'samples.jsonl')
    teacher_ok = sum(r['correct'] for r in read_jsonl(w/'teacher.jsonl'))
    assert report['records'] == 24 and report['kept'] == len(samples) > 0 and report['incorrect'] == 24 - teacher_ok
    assert all(s['prompt'].endswith(' ###') and s['completion'].endswith(' END') for s in samples)
    assert read_json(w/'curated'/'curate_run.json')['curate']['template'] == 'ft_cot'
    assert read_json(w/'curated'/'curate_config.json')['model_type'] == 'decoder'
    assert 'incorrect' in outs['curate'] and 'total' in outs['curate']

def test_train_saves_student_and_config(pipeline):
    w, outs = pipeline
    st = w/'student'
    assert (st/'model.safetensors').exists() and (st/'train_done.json').exists()
    saved = read_json(st/'train_run.json')
    assert saved['student']['epochs'] == 1 and saved['student']['scratch_config'] == {'n_layer': 1}
    assert saved['template'] == 'ft_cot' and saved['student']['output_dir'] == str(w/'student')
    assert read_json(st/'config.json')['n_layer'] == 1
    assert 'student saved to' in outs['train']

def test_evaluate_writes_predictions_metrics_config(pipeline):
    w, outs = pipeline
    preds, m = read_jsonl(w/'eval'/'predictions.jsonl'), read_json(w/'eval'/'metrics.json')
    assert len(preds) == 3 and m['total'] == 3 and m['template'] == 'ft_cot' and m['task'] == TASK
    assert m['accuracy'] == sum(p['correct'] for p in preds) / 3
    assert read_json(w/'eval'/'eval_config.json')['max_new_tokens'] == 12
    saved = read_json(w/'eval'/'evaluate_run.json')
    assert saved['limit'] == 3 and saved['eval']['template'] == 'ft_cot'  # the student's template, read from train_run.json
    assert f"{TASK} ft_cot: accuracy {m['accuracy']:.4f}" in outs['evaluate']

def test_dry_run_makes_no_calls(tmp_path, monkeypatch):
    from fcot.offline import OfflineTeacher
    def no_calls(self, *a, **k): raise AssertionError('a dry run called the teacher')
    monkeypatch.setattr(OfflineTeacher, 'complete', no_calls)
    out = ok('sample', TASK, '--backend', 'offline', '-D', 8, '--split', SPLIT, '--out', tmp_path/'t.jsonl',
             '--cache', tmp_path/'c.sqlite', '--dry-run')
    assert 'dry run:' in out and 'up to 192 calls' in out, out     # 12 questions x 8 rationales x 2 stages
    assert not (tmp_path/'t.jsonl').exists() and not (tmp_path/'t.sample_run.json').exists()

def test_option_precedence(tmp_path):
    (tmp_path/'cfg.json').write_text(json.dumps({'epochs': 5, 'warmup_steps': 7, 'lr': 0.1, 'samples': 'a.jsonl'}))
    args = build_parser().parse_args(['train', '--config', str(tmp_path/'cfg.json'), '--out', 'o', '--epochs', '3',
                                      '--set', 'lr=0.01', '--set', 'student.lora_targets=["c_attn"]'])
    rc = config_from_args('train', args)
    s = rc.section('student')
    assert (s.epochs, s.warmup_steps, s.lr, s.lora_targets, s.output_dir) == (3, 7, 0.01, ['c_attn'], 'o')
    assert rc['samples'] == 'a.jsonl' and s.batch_size == 8     # untouched options keep the library defaults

def test_vanilla_curation_needs_no_teacher(tmp_path):
    out = ok('curate', TASK, '--template', 'vanilla', '--split', SPLIT, '--out', tmp_path)
    samples = read_jsonl(tmp_path/'samples.jsonl')
    assert len(samples) == 12 and all(s['template'] == 'vanilla' and s['completion'] == f" {s['answer']} END" for s in samples)
    assert 'wrote 12 vanilla samples' in out

@pytest.fixture(scope='module')
def t5_student(tmp_path_factory):
    from fcot.students import build_student
    d = tmp_path_factory.mktemp('t5')
    m, tok = build_student('t5-tiny', texts=['a coin is heads up . yes no'] * 4, vocab_size=300)
    m.save_pretrained(d); tok.save_pretrained(d)
    return d

def test_errors_are_one_line_exit_2(pipeline, tmp_path, t5_student):
    w, _ = pipeline
    cases = [
        (['sample', 'no_such_task', '--backend', 'offline'], 'unknown task'),
        (['sample', TASK, '--set', 'teacher.backend=carrier_pigeon'], "unknown teacher backend 'carrier_pigeon'"),
        (['sample', TASK, '--backend', 'recorded', '--model', tmp_path/'none.jsonl'], 'recorded completion file not found'),
        (['sample', TASK, '--backend', 'offline', '--set', 'offline.colour=1', '--cache', 'none'], 'bad offline teacher option'),
        (['sample', TASK, '--backend', 'offline', '-D', 4, '--temperature', 0, '--cache', 'none'], 'needs a temperature > 0'),
        (['sample', '--backend', 'offline'], "needs 'task'"),
        (['sample', TASK, '--config', tmp_path/'missing.json'], 'file not found'),
        (['curate', TASK, '--records', tmp_path/'missing.jsonl', '--split', SPLIT, '--out', tmp_path/'c'], 'teacher records file not found'),
        (['curate', TASK, '--split', SPLIT, '--out', tmp_path/'c'], 'needs teacher rationales'),
        (['curate', TASK, '--recorded', '--split', SPLIT, '--out', tmp_path/'c'], 'no recorded teacher for the synthetic task'),
        (['curate', TASK, '--records', w/'teacher.jsonl', '--template', 'natural', '--model-type', 'encoder_decoder',
          '--out', tmp_path/'c'], "template 'natural' continues a Zero-shot-CoT prompt and needs a decoder"),
        (['train', '--samples', tmp_path/'nothing', '--out', tmp_path/'s'], 'samples file not found'),
        (['train', '--samples', w/'curated', '--out', tmp_path/'s', '--model', 't5-tiny'], 'curated for a decoder student'),
        (['train', '--samples', w/'curated', '--out', tmp_path/'s', '--model', './no/such/student'], 'student model folder not found'),
        (['train', '--samples', w/'curated'], 'needs --out'),
        (['evaluate', '--model', tmp_path/'no_student', TASK, '--out', tmp_path/'e'], 'student model folder not found'),
        (['evaluate', '--model', 'gpt2-tiny', TASK, '--out', tmp_path/'e'], 'untrained preset'),
        (['evaluate', '--model', w/'student', TASK, '--template', 'chain', '--out', tmp_path/'e'], 'unknown evaluation template'),
        (['evaluate', '--model', t5_student, TASK, '--split', SPLIT, '--template', 'natural', '--out', tmp_path/'e'],
         "template 'natural' continues a Zero-shot-CoT prompt and needs a decoder"),
        (['report', 'no_such_report'], "no report notebook named 'no_such_report'"),
    ]
    for argv, msg in cases:
        err = error(*argv)
        assert msg in err, (argv, err)
        assert err.count('\n') == 1 and 'Traceback' not in err, err
    assert not (tmp_path/'s').exists()        # configuration errors stop before any training output

def test_unknown_hub_model_is_a_clear_error(pipeline, tmp_path, monkeypatch):
    w, _ = pipeline
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    err = error('train', '--samples', w/'curated', '--out', tmp_path/'s', '--model', 'no-such-model-xyz', '-q')
    assert "could not load student model 'no-such-model-xyz'" in err

def test_api_keys_are_never_arguments_nor_echoed(monkeypatch):
    secret = 'sk-test-DO-NOT-ECHO-123'
    for argv in (['sample', TASK, '--backend', 'offline', '--api-key', secret],
                 ['sample', TASK, '--backend', 'offline', f'--api-key={secret}'],
                 ['sample', TASK, '--backend', 'offline', '--set', f'api_key={secret}'],
                 ['sample', TASK, '--backend', 'offline', '--set', f'teacher.api_key={secret}']):
        rc, out, err = run(*argv)
        assert rc == 2 and secret not in out + err and 'key' in err, (argv, err)

def test_real_subprocess_help():
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    r = subprocess.run([sys.executable, '-m', 'fcot.cli', 'train', '--help'], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '--samples' in r.stdout and 'torchrun --nproc_per_node' in r.stdout and '-m fcot.cli train' in r.stdout
    r = subprocess.run([sys.executable, '-m', 'fcot.cli', 'evaluate', '--model', '/no/such/dir', TASK, '--out', 'x'],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith('fcot: error: student model folder not found'), r.stderr

def test_help_lists_every_command():
    rc, out, _ = run('--help')
    assert rc == 0 and all(c in out for c in ('sample', 'curate', 'train', 'evaluate', 'data', 'report'))

def test_recorded_teacher_on_a_real_task(real_data, tmp_path):
    out = ok('sample', 'multiarith', '--backend', 'recorded', '--limit', 3, '--cache', 'none', '--out', tmp_path/'r.jsonl', '-q')
    recs = read_jsonl(tmp_path/'r.jsonl')
    assert len(recs) == 3 and all(r['teacher'] == 'text-davinci-002' and r['reasoning_completion'] for r in recs)
    assert 'wrote 3 teacher records' in out
    out = ok('curate', 'multiarith', '--recorded', '--out', tmp_path/'cur')
    report = read_json(tmp_path/'cur'/'curate_report.json')['multiarith']
    assert report['outside_split'] > 0 and report['kept'] == len(read_jsonl(tmp_path/'cur'/'samples.jsonl')) > 0

def test_wrong_values_are_named_not_tracebacks(pipeline, tmp_path):
    "A value of the wrong type or out of range, from a flag, --set or a config file, is one error naming the field (issue 13)."
    w, _ = pipeline
    samples = w/'curated'/'samples.jsonl'
    assert 'StudentConfig.epochs = -1 is not allowed: it must be >= 1' in error('train', '--samples', samples, '--out', tmp_path/'s', '--model', 'gpt2-tiny', '--epochs', -1)
    assert 'StudentConfig.batch_size = 0' in error('train', '--samples', samples, '--out', tmp_path/'s', '--model', 'gpt2-tiny', '--batch-size', 0)
    assert 'StudentConfig.lr' in error('train', '--samples', samples, '--out', tmp_path/'s', '--model', 'gpt2-tiny', '--set', 'student.lr="fast"')
    assert not (tmp_path/'s').exists()                                     # nothing trained, nothing written
    assert "CotConfig.n_samples = 'two'" in error('sample', TASK, '--backend', 'offline', '--split', SPLIT, '--set', 'cot.n_samples="two"', '--out', tmp_path/'r.jsonl')
    assert 'CotConfig.max_tokens = -5' in error('sample', TASK, '--backend', 'offline', '--split', SPLIT, '--set', 'cot.max_tokens=-5', '--out', tmp_path/'r.jsonl')
    bad = tmp_path/'preset.json'
    from fcot.presets import smoke_config
    bad.write_text(json.dumps(smoke_config().to_dict() | {'train': {'epochs': 'many'}}))
    assert "PresetConfig.train: StudentConfig.epochs = 'many' (str)" in error('reproduce', '--preset', bad, '--out-dir', tmp_path/'o')
    assert 'workers must be an integer >= 1' in error('reproduce', '--preset', 'smoke', '--out-dir', tmp_path/'o', '--workers', 0)

@pytest.mark.parametrize('command', ['sample', 'curate', 'train', 'evaluate'])
def test_every_default_in_the_help_is_the_dataclass_default(command):
    "Defaults are written once, in the config dataclasses: the help shows theirs, for every config flag (issue 12)."
    import argparse
    from fcot.runconfig import option_info, _Formatter
    p = build_parser(expand=command)
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    fmt = _Formatter(command)
    flags = [a for a in sub._actions if getattr(a, 'fcot_key', None) and '.' in a.fcot_key and a.nargs != 0]
    assert len(flags) >= 8
    for a in flags:
        _, default, _ = option_info(command, a.fcot_key)
        text = fmt._get_help_string(a)
        if 'default' in text and '(default ' not in text: continue   # a computed default, described in words
        shown = 'none' if default is None else json.dumps(default) if isinstance(default, (list, dict, bool)) else str(default)
        assert text.endswith(f'(default {shown})'), (a.option_strings, text, default)
    every = {a.fcot_key for a in sub._actions if getattr(a, 'fcot_key', None)}
    from fcot.runconfig import _command_specs
    import dataclasses
    for name, cls in _command_specs()[command].sections.items():   # every field of every section has a flag
        assert {f'{name}.{f.name}' for f in dataclasses.fields(cls)} <= every

def test_generated_flags_set_any_field_and_values_are_checked_by_the_config(tmp_path):
    p = build_parser(expand='train')
    a = p.parse_args(['train', '--samples', 'x.jsonl', '--student.warmup_ratio', '0.1', '--epochs', '3', '--device', 'cpu',
                      '--student.lora_targets', '["c_attn"]'])
    rc = config_from_args('train', a)
    assert rc['student']['warmup_ratio'] == 0.1 and rc['student']['epochs'] == 3 and rc['student']['device'] == 'cpu'
    assert rc['student']['lora_targets'] == ['c_attn']
    rc = config_from_args('train', p.parse_args(['train', '--samples', 'x', '--model', '12345']))
    assert rc['student']['model'] == '12345'   # a string field keeps its text, digits or not
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(['train', '--samples', 'x.jsonl', '--out', str(tmp_path/'s'), '--epochs', 'two']) == 2
    assert "StudentConfig.epochs = 'two' (str) is not allowed: it must be an integer" in err.getvalue()
