"""Failure cases of a careful first hour (issue 13) that fail loudly and lose nothing: each test is one case, and each
failed on the code before the fix. The kill, lock, resume and config cases live beside their modules' tests
(test_reproduce, test_students, test_cli, test_tasks, test_teachers)."""
import json, os, stat
from pathlib import Path
import pytest
from fcot.core import FcotError, write_json, write_jsonl, read_json
from fcot.cli import main
from test_cli import run, error, TASK, SPLIT, pipeline

def test_data_where_fails_for_a_missing_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('FCOT_DATA_DIR', str(tmp_path/'nowhere'))
    assert main(['data', 'where']) == 2 and 'fcot data download' in capsys.readouterr().err

def test_recorded_teacher_accepts_its_name(real_data, tmp_path):
    rc, out, err = run('sample', 'multiarith', '--backend', 'recorded', '--model', 'text-davinci-002', '--limit', 2, '--out', tmp_path/'r.jsonl', '-q')
    assert rc == 0, err
    assert 'Leave --model out' in error('sample', 'multiarith', '--backend', 'recorded', '--model', 'nosuch.log', '--limit', 2, '--out', tmp_path/'r.jsonl')

def test_records_that_are_not_objects_are_named(tmp_path):
    (tmp_path/'bad.jsonl').write_text('[1, 2, 3]\n')
    assert 'teacher record 1 is not a completion record' in error('curate', TASK, '--records', tmp_path/'bad.jsonl', '--split', SPLIT, '--out', tmp_path/'c')

def test_gsm8k_answer_without_final_line(tmp_path):
    from fcot.tasks import read_gsm8k
    p = tmp_path/'g.jsonl'
    p.write_text(json.dumps({'question': 'q?', 'answer': 'She has 3 + 4 = 7 apples.'}) + '\n')
    with pytest.raises(FcotError, match=r"record 1: the answer has no '#### <number>' line"): read_gsm8k(p)

def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        for f in (write_json(tmp_path/'a.json', {}), write_jsonl(tmp_path/'b.jsonl', [{}])):
            assert stat.S_IMODE(f.stat().st_mode) == 0o644, oct(f.stat().st_mode)
    finally: os.umask(old)

def test_no_records_at_all_is_an_error_even_when_failures_are_allowed(tmp_path):
    from openai_stub import StubServer
    with StubServer(faults=lambda n, a: 'bad_json') as srv:
        err = error('sample', TASK, '--backend', 'openai', '--model', 'm', '--base-url', srv.url, '--split', SPLIT,
                    '--set', 'cot.allow_failures=true', '--cache', 'none', '--out', tmp_path/'r.jsonl', '-q')
    assert 'completions failed' in err and 'nothing to save' in err and not (tmp_path/'r.jsonl').exists()

def test_credentials_in_the_url_are_not_written(tmp_path, monkeypatch):
    from openai_stub import StubServer
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-test-0123456789abcdef')
    with StubServer() as srv:
        url = srv.url.replace('http://', 'http://user:hunter2secret@')
        rc, out, err = run('sample', TASK, '--backend', 'openai', '--model', 'm', '--base-url', url, '--split', SPLIT,
                           '--cache', 'none', '--out', tmp_path/'r.jsonl', '-q')
    assert rc == 0, err
    written = ''.join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    assert 'hunter2secret' not in written and 'sk-test-0123456789abcdef' not in written and '***@' in written

def test_unwritable_output_is_found_before_any_call(tmp_path):
    "With an output path that cannot be written, no (paid) teacher call is made (it used to make them all, then fail)."
    from openai_stub import StubServer
    (tmp_path/'afile').write_text('')
    with StubServer() as srv:
        err = error('sample', TASK, '--backend', 'openai', '--model', 'm', '--base-url', srv.url, '--split', SPLIT,
                    '--cache', 'none', '--out', tmp_path/'afile'/'r.jsonl')
        assert sum(srv.attempts.values()) == 0
    assert 'cannot write' in err and 'Nothing was started' in err

def test_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import errno, fcot.curate
    def full(*a, **k): raise OSError(errno.ENOSPC, 'No space left on device', str(tmp_path/'c'/'samples.jsonl'))
    monkeypatch.setattr(fcot.curate, 'write_jsonl', full)
    rc, out, err = run('sample', TASK, '--backend', 'offline', '--split', SPLIT, '--out', tmp_path/'r.jsonl', '-q')
    assert rc == 0, err
    rc, out, err = run('curate', TASK, '--records', tmp_path/'r.jsonl', '--split', SPLIT, '--out', tmp_path/'c')
    assert rc == 2 and err.startswith('fcot: error: No space left on device') and 'samples.jsonl' in err and 'Traceback' not in err

def test_offline_hub_names_do_not_wait_for_retries(monkeypatch):
    "With no route to the hub, a hub name is looked up in the local cache only (seconds), not retried for half a minute."
    import fcot.students as S, transformers
    monkeypatch.setattr(S, '_HUB', {'huggingface.co': False})
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    seen = {}
    def fake(name, **kw): seen.update(kw); raise OSError('not in the local cache')
    monkeypatch.setattr(transformers.AutoConfig, 'from_pretrained', fake)
    with pytest.raises(FcotError, match="could not load student model 'gpt2'"): S.load_student('gpt2')
    assert seen.get('local_files_only') is True

def test_toy_backend_needs_no_model(tmp_path):
    rc, out, err = run('sample', TASK, '--backend', 'toy', '--split', SPLIT, '--out', tmp_path/'r.jsonl', '-q')
    assert rc == 0, err

@pytest.mark.parametrize('content, message', [(b'[{"sQuestion": "caf\xe9", "lSolutions": [1]}]', 'not UTF-8'),
                                              (b'[{"sQuestion": "q?", "lSolutions": []}]', r"has \[\] as the field 'lSolutions'"),
                                              (b'[{"sQuestion": null, "lSolutions": [1]}]', "lacks the field 'sQuestion'")])
def test_damaged_dataset_files_are_named(tmp_path, content, message):
    from fcot.tasks import load_task
    d = tmp_path/'zero_shot_cot'/'dataset'/'SingleEq'; d.mkdir(parents=True)
    (d/'questions.json').write_bytes(content)
    with pytest.raises(FcotError, match=message): load_task('single_eq', tmp_path)

def test_jsonl_that_is_not_utf8(tmp_path):
    from fcot.core import read_jsonl
    (tmp_path/'r.jsonl').write_bytes(b'{"a": 1}\n{"b": "\xff"}\n')
    with pytest.raises(FcotError, match='not UTF-8'): read_jsonl(tmp_path/'r.jsonl')

def test_truncated_student_weights_are_named(tmp_path):
    from fcot.students import build_student
    m, t = build_student('gpt2-tiny', texts=['a coin is heads up'] * 5, vocab_size=300)
    m.save_pretrained(tmp_path/'s'); t.save_pretrained(tmp_path/'s')
    f = tmp_path/'s'/'model.safetensors'; f.write_bytes(f.read_bytes()[:500])
    err = error('evaluate', '--model', tmp_path/'s', TASK, '--split', SPLIT, '--out', tmp_path/'e')
    assert 'is damaged' in err and 'truncated model.safetensors' in err

def test_long_retry_after_fails_clearly_and_budget_is_explained(tmp_path):
    from openai_stub import StubServer
    with StubServer(faults=lambda n, a: '429', retry_after='3600') as srv:
        err = error('sample', TASK, '--backend', 'openai', '--model', 'm', '--base-url', srv.url, '--split', SPLIT,
                    '--cache', 'none', '--out', tmp_path/'r.jsonl', '-q')
    assert 'asked to wait 3600 s' in err and 'try again later' in err
    with StubServer(faults=lambda n, a: '500') as srv:
        err = error('sample', TASK, '--backend', 'openai', '--model', 'm', '--base-url', srv.url, '--split', SPLIT,
                    '--set', 'teacher.max_total_retries=3', '--cache', 'none', '--out', tmp_path/'r.jsonl', '-q')
    assert "retry budget (max_total_retries 3) was spent by 3 retries" in err

def test_bad_device_is_named(pipeline, tmp_path):
    w, _ = pipeline
    err = error('train', '--samples', w/'curated'/'samples.jsonl', '--out', tmp_path/'s', '--model', 'gpt2-tiny', '--device', 'gpu7')
    assert "StudentConfig.device = 'gpu7' is not a device" in err

def test_records_that_cannot_be_written_are_rescued(tmp_path, monkeypatch):
    "Paid-for completions survive a failure to write the records file: they are kept in the user cache, and the error says where."
    import errno, fcot.teachers as T
    from fcot.offline import OfflineTeacher
    from fcot.synthetic import make_split
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path/'cache'))
    real = T.write_jsonl
    def flaky(path, recs):
        if 'rescued' not in str(path): raise OSError(errno.ENOSPC, 'No space left on device', str(path))
        return real(path, recs)
    monkeypatch.setattr(T, 'write_jsonl', flaky)
    recs = make_split(TASK, 4, 2, seed=0, n_people=2)['train']
    with pytest.raises(FcotError, match=r'the 4 records are kept in .*rescued'):
        T.sample_zero_shot_cot(OfflineTeacher(), recs, TASK, out=tmp_path/'r.jsonl', progress=False)
    assert len(list((tmp_path/'cache'/'fcot'/'rescued').glob('*.jsonl'))) == 1

def test_more_wrong_training_and_evaluation_values(pipeline, tmp_path):
    w, _ = pipeline
    train = ('train', '--samples', w/'curated'/'samples.jsonl', '--out', tmp_path/'s', '--model', 'gpt2-tiny')
    assert 'StudentConfig.grad_accum = 0' in error(*train, '--grad-accum', 0)
    assert 'StudentConfig.max_length = 0' in error(*train, '--max-length', 0)
    assert 'StudentConfig.batch_size = -4' in error(*train, '--batch-size', -4)
    assert 'EvalConfig.max_new_tokens = -1' in error('evaluate', '--model', w/'student', TASK, '--split', SPLIT, '--max-new-tokens', -1, '--out', tmp_path/'e')

@pytest.mark.parametrize('step', ['curate', 'train', 'evaluate'])
def test_output_folder_that_cannot_be_made_is_one_line(pipeline, step):
    "Output under a read-only file system (/proc: read-only even for root) gives one error line, not a traceback."
    w, _ = pipeline
    argv = {'curate': ('curate', TASK, '--records', w/'teacher.jsonl', '--split', SPLIT, '--out', '/proc/fcot-out'),
            'train': ('train', '--samples', w/'curated'/'samples.jsonl', '--out', '/proc/fcot-out', '--model', 'gpt2-tiny', '--epochs', 1),
            'evaluate': ('evaluate', '--model', w/'student', TASK, '--split', SPLIT, '--limit', 2, '--out', '/proc/fcot-out')}[step]
    rc, out, err = run(*argv)
    assert rc == 2 and 'fcot: error:' in err and '/proc/fcot-out' in err and 'Traceback' not in err, err

def test_full_disk_while_saving_a_checkpoint(pipeline, tmp_path, monkeypatch):
    import errno, fcot.training as T
    def full(path, *a, **k): raise OSError(errno.ENOSPC, 'No space left on device', str(path))
    monkeypatch.setattr(T, '_save_checkpoint', full)
    w, _ = pipeline
    rc, out, err = run('train', '--samples', w/'curated'/'samples.jsonl', '--out', tmp_path/'s', '--model', 'gpt2-tiny', '--epochs', 1)
    import re
    assert rc == 2 and re.search(r'fcot: error: No space left on device \(\S*epoch-001\)', err) and 'Traceback' not in err, err

def test_error_bodies_echoing_the_key_are_masked():
    from fcot.completions import RunStats
    s = RunStats(); s.error('HTTP 400: {"error": "bad request", "headers": {"Authorization": "Bearer sk-live-abcdef123456"}}')
    assert 'sk-live-abcdef123456' not in s.errors[0] and '***' in s.errors[0]
