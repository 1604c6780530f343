"""Failure cases of a careful first hour (issue 13) that fail loudly and lose nothing: each test is one case, and each
failed on the code before the fix. The kill, lock, resume and config cases live beside their modules' tests
(test_reproduce, test_students, test_cli, test_tasks, test_teachers)."""
import json, os, stat
from pathlib import Path
import pytest
from fcot.core import FcotError, write_json, write_jsonl, read_json
from fcot.cli import main
from test_cli import run, error, TASK, SPLIT

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
