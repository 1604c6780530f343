"""Offline tests of fcot.completions and fcot.teachers: a real OpenAI-compatible HTTP server on 127.0.0.1 with injected faults, crash and
resume with SIGKILL, concurrent cache writers, the Batch API round trip, the key never written, the recorded, vLLM
(request building, a fake engine) and local transformers (a tiny GPT-2 built from a config) backends."""
import json, os, signal, sqlite3, subprocess, sys, textwrap, time, types
from collections import Counter
from pathlib import Path
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openai_stub import StubServer, adder_respond, prompt_of
from fcot.core import FcotError, read_jsonl, write_json
from fcot.completions import CompletionCache, CompletionRequest, FunctionTeacher, RunStats, cache_key, run_requests
from fcot.teachers import CotConfig, sample_zero_shot_cot
from fcot.api import BatchPending, BatchTeacher, OpenAITeacher, ingest_batch_results
from fcot.backends import (RecordedTeacher, TeacherConfig, TransformersTeacher, VLLMTeacher, make_teacher, register_backend,
                           vllm_plan, TEACHER_BACKENDS)

ROOT = Path(__file__).resolve().parents[1]
TASK = types.SimpleNamespace(name='toy_sums', answer_type='number', letters=None)

def questions(n):
    return [{'id': f'toy_sums-{i}', 'task': 'toy_sums', 'index': i,
             'question': f'Sam has {i + 2} pens and gets {3 * i + 1} more. How many pens does Sam have?',
             'answer': str(i + 2 + 3 * i + 1)} for i in range(n)]

def fast_teacher(url, **kw):
    kw = {'concurrency': 4, 'timeout': 0.5, 'max_retries': 4, **kw}
    return OpenAITeacher('stub-adder', base_url=url, **kw)

def check_records(run, n, d):
    keys = [(r['id'], r['completion_index']) for r in run.records]
    assert len(keys) == n * d and len(set(keys)) == n * d, 'missing or duplicate records'
    assert all(r['correct'] for r in run.records), [r for r in run.records if not r['correct']][:1]
    for r in run.records:
        assert r['prompt'] == r['reasoning_prompt'] + r['reasoning_completion'] + '\nTherefore, the answer is'
        assert r['usage']['prompt_tokens'] > 0 and r['teacher'] == 'stub-adder'

# ---------------------------------------------------------------- faults
KINDS = ['429', '500', 'slow', 'bad_json', 'drop', None]

def test_faults_are_retried_and_every_answer_arrives(tmp_path):
    fault = lambda n, attempt: KINDS[n % len(KINDS)] if attempt == 0 else None
    with StubServer(faults=fault, slow_seconds=1.2, retry_after='0.3') as srv:
        run = sample_zero_shot_cot(fast_teacher(srv.url), questions(12), TASK, n_samples=2,
                                   cache=tmp_path/'c.sqlite', progress=False)
        injected = sum(srv.injected.values())
        gaps = [b - a for k, ts in srv.arrivals.items() if len(ts) > 1 and srv.order[k] % len(KINDS) == 0
                for a, b in zip(ts, ts[1:])]
    check_records(run, 12, 2)
    assert set(srv.injected) == {'429', '500', 'slow', 'bad_json', 'drop'}
    assert run.stats.retries == injected and run.stats.failures == 0   # one retry per fault, no more
    assert run.stats.calls == len(srv.order) and srv.paths == Counter({'/v1/completions': sum(srv.attempts.values())})
    assert gaps and min(gaps) >= 0.28, f'Retry-After (0.3 s) not honoured: {gaps}'
    assert len({r['reasoning_completion'] for r in run.records if r['id'] == 'toy_sums-0'}) == 2   # diverse

def test_chat_endpoint(tmp_path):
    with StubServer(faults=lambda n, a: '500' if a == 0 and n % 3 == 0 else None) as srv:
        t = make_teacher({'backend': 'openai-chat', 'model': 'stub-adder', 'base_url': srv.url, 'timeout': 2})
        run = sample_zero_shot_cot(t, questions(4), TASK, n_samples=2, progress=False)
    check_records(run, 4, 2)
    assert set(srv.paths) == {'/v1/chat/completions'} and run.stats.retries == srv.injected['500'] > 0

@pytest.mark.parametrize('transfer', ['chunked', 'close'])
def test_chunked_and_connection_close_responses(transfer):
    with StubServer(transfer=transfer) as srv:
        run = sample_zero_shot_cot(fast_teacher(srv.url), questions(3), TASK, n_samples=2, progress=False)
    check_records(run, 3, 2)
    assert run.stats.retries == 0

def test_runs_inside_a_running_event_loop():
    import asyncio
    async def notebook_cell():   # Jupyter runs cells inside an event loop: the client moves to a worker thread
        with StubServer() as srv:
            return sample_zero_shot_cot(fast_teacher(srv.url), questions(2), TASK, progress=False)
    check_records(asyncio.run(notebook_cell()), 2, 1)

def test_retries_are_bounded(tmp_path):
    with StubServer(faults=lambda n, a: '500') as srv:
        t = fast_teacher(srv.url, max_retries=3, max_total_retries=5)
        stats = RunStats()
        res = run_requests(t, [CompletionRequest(f'Q: {i}?\nA:') for i in range(4)], stats=stats, progress=False)
        assert res == [None] * 4 and stats.failures == 4 and stats.retries == 5 and stats.calls == 0
        assert sum(srv.attempts.values()) == 4 + 5 and 'HTTP 500' in stats.errors[0]
        with pytest.raises(FcotError, match=r'4 of 4 toy_sums completions failed.*run again to retry'):
            sample_zero_shot_cot(t, questions(4), TASK, cache=tmp_path/'c.sqlite', progress=False)
        with pytest.raises(FcotError, match='nothing to save'):   # allow_failures goes past some failures, never to no records at all
            sample_zero_shot_cot(t, questions(2), TASK, allow_failures=True, progress=False)

def test_connection_refused_gives_up(tmp_path):
    t = OpenAITeacher('m', base_url='http://127.0.0.1:9/v1', timeout=0.5, max_retries=2)
    stats = RunStats()
    assert run_requests(t, [CompletionRequest('Q: x\nA:')], stats=stats, progress=False) == [None]
    assert stats.retries == 2 and 'connection error' in stats.errors[0]

def test_refused_key_stops_with_a_clear_message(monkeypatch):
    monkeypatch.setenv('FCOT_TEST_WRONG_KEY', 'sk-wrong-123456')
    with StubServer(api_key='sk-right') as srv:
        t = fast_teacher(srv.url, api_key_env='FCOT_TEST_WRONG_KEY')
        with pytest.raises(FcotError, match='FCOT_TEST_WRONG_KEY') as e:
            sample_zero_shot_cot(t, questions(3), TASK, progress=False)
    assert 'sk-wrong-123456' not in str(e.value) and srv.auth_failures >= 1
    with StubServer() as srv:
        with pytest.raises(FcotError, match='404'):
            run_requests(OpenAITeacher('m', base_url=srv.url.replace('/v1', '/nope')), [CompletionRequest('x')],
                         progress=False)

def test_openai_needs_a_key_only_when_it_calls(monkeypatch, capsys):
    monkeypatch.delenv('FCOT_TEST_NO_KEY', raising=False)
    t = OpenAITeacher('gpt-3.5-turbo-instruct', base_url='https://api.openai.com/v1', api_key_env='FCOT_TEST_NO_KEY')
    est = sample_zero_shot_cot(t, questions(2), TASK, dry_run=True)   # estimating costs nothing and needs no key
    assert est['calls'] == 4
    with pytest.raises(FcotError, match='no API key .* FCOT_TEST_NO_KEY'):
        sample_zero_shot_cot(t, questions(2), TASK, progress=False)

# ---------------------------------------------------------------- cache, reruns, dry run
def test_rerun_makes_no_calls(tmp_path):
    with StubServer() as srv:
        t = fast_teacher(srv.url)
        first = sample_zero_shot_cot(t, questions(5), TASK, n_samples=3, cache=tmp_path/'c.sqlite', progress=False)
        sent = sum(srv.attempts.values())
        again = sample_zero_shot_cot(t, questions(5), TASK, n_samples=3, cache=tmp_path/'c.sqlite', progress=False)
        assert sum(srv.attempts.values()) == sent == 30
    assert again.stats.calls == 0 and again.stats.cache_hits == 30 and again.records == first.records
    assert first.stats.prompt_tokens > 0 and again.stats.prompt_tokens == 0

def test_dry_run_spends_nothing(tmp_path, capsys):
    with StubServer() as srv:
        t = fast_teacher(srv.url, price=(10.0, 30.0))
        est = sample_zero_shot_cot(t, questions(10), TASK, n_samples=4, dry_run=True)
        assert sum(srv.attempts.values()) == 0
    out = capsys.readouterr().out
    assert 'dry run' in out and f"{est['calls']:,} calls" in out and '$' in out
    assert est['calls'] == 80 and est['completion_tokens'] == 80 * 128 and est['dollars'] > 0.3

def test_concurrent_writers(tmp_path):
    code = textwrap.dedent('''
        import sys
        from fcot.completions import CompletionCache, Completion
        c = CompletionCache(sys.argv[1], timeout=30)
        w = int(sys.argv[2])
        for i in range(150):
            k = f'key-{i + 50 * w}'
            c.put(k, Completion(f'{k} by {w}', 'stop'))
        print('ok')
    ''')
    procs = [subprocess.Popen([sys.executable, '-c', code, str(tmp_path/'c.sqlite'), str(w)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    c = CompletionCache(tmp_path/'c.sqlite')
    assert len(c) == 250   # keys 0..249, overlapping ranges stored once
    got = c.get_many([f'key-{i}' for i in range(250)])
    assert all(v.text.startswith(k + ' by ') for k, v in got.items())
    assert c._con.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'

CHILD = textwrap.dedent('''
    import sys, types
    sys.path.insert(0, sys.argv[4])
    from test_teachers import questions, TASK
    from fcot.teachers import sample_zero_shot_cot
    from fcot.api import OpenAITeacher
    t = OpenAITeacher('stub-adder', base_url=sys.argv[1], concurrency=2, timeout=5)
    sample_zero_shot_cot(t, questions(int(sys.argv[3])), TASK, n_samples=2, cache=sys.argv[2], progress=False)
    print('finished')
''')

def test_sigkill_and_resume(tmp_path):
    n, d, cache = 12, 2, tmp_path/'c.sqlite'
    with StubServer(latency=0.04) as srv:
        child = subprocess.Popen([sys.executable, '-c', CHILD, srv.url, str(cache), str(n), str(Path(__file__).parent)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while srv.total_answered < 14 and time.time() < deadline and child.poll() is None: time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL); child.wait()
        assert child.returncode == -signal.SIGKILL, child.stderr.read()
        con = sqlite3.connect(str(cache))
        committed = {(p, json.loads(q)['seed']) for p, q in con.execute('SELECT prompt, params FROM completions')}
        con.close()
        assert 0 < len(committed) < 2 * n * d, 'kill should land mid-run'
        before = Counter(srv.answered)
        run = sample_zero_shot_cot(OpenAITeacher('stub-adder', base_url=srv.url, concurrency=2, timeout=5),
                                   questions(n), TASK, n_samples=d, cache=cache, progress=False)
    check_records(run, n, d)
    assert run.stats.cache_hits >= len(committed) and run.stats.calls == 2 * n * d - len(committed)
    assert all(srv.answered[k] == 1 for k in committed), 'a finished completion was requested again'
    repeated = {k for k, v in srv.answered.items() if v > 1}
    assert repeated <= set(before) - committed and len(repeated) <= 2   # at most the requests in flight at the kill

# ---------------------------------------------------------------- the key
def test_api_key_is_never_written(tmp_path, monkeypatch, capsys):
    key = 'sk-fcot-test-SECRET-4f9a1c2e7b'
    monkeypatch.setenv('FCOT_TEST_KEY', key)
    cfg = TeacherConfig(backend='openai', model='stub-adder', api_key_env='FCOT_TEST_KEY', timeout=2)
    with StubServer(api_key=key, faults=lambda n, a: '429' if a == 0 and n == 1 else None) as srv:
        cfg.base_url = srv.url
        cfg.save(tmp_path/'teacher.json')
        t = make_teacher(cfg)
        cache = CompletionCache(tmp_path/'cache.sqlite')   # kept open: its WAL file is scanned too
        run = sample_zero_shot_cot(t, questions(3), TASK, n_samples=2, cache=cache,
                                   out=tmp_path/'out'/'records.jsonl', progress=True)
        run.to_dataset().save_to_disk(str(tmp_path/'ds'))
    assert srv.auth_failures == 0 and len(run) == 6   # the key was used
    written = [p for p in tmp_path.rglob('*') if p.is_file()]
    assert any(p.name.endswith('-wal') for p in written) and (tmp_path/'out'/'records.run.json').exists()
    for p in written: assert key.encode() not in p.read_bytes(), f'API key written to {p}'
    cap = capsys.readouterr()
    for text in (cap.out, cap.err, repr(t), json.dumps(t.describe()), json.dumps(run.stats.to_dict()), repr(run)):
        assert key not in text

# ---------------------------------------------------------------- Batch API
def _fake_batch_output(request_file, out_file):
    lines = []
    for r in read_jsonl(request_file):
        text, fr = adder_respond(r['body'])
        body = {'choices': [{'text': text, 'finish_reason': fr, 'index': 0}],
                'usage': {'prompt_tokens': len(prompt_of(r['body']).split()), 'completion_tokens': 3}}
        lines.append({'id': 'x', 'custom_id': r['custom_id'], 'response': {'status_code': 200, 'body': body}, 'error': None})
    lines.append({'custom_id': 'broken', 'response': {'status_code': 500, 'body': {}}, 'error': None})
    out_file.write_text(''.join(json.dumps(l) + '\n' for l in lines))

def test_batch_api_roundtrip(tmp_path):
    online = OpenAITeacher('gpt-3.5-turbo-instruct', base_url='http://127.0.0.1:9/v1')
    bt, cache, qs = BatchTeacher(online, tmp_path/'batches', submit=False), tmp_path/'c.sqlite', questions(3)
    assert bt.price == (0.75, 1.0)
    for stage in (1, 2):
        with pytest.raises(BatchPending, match='Submit it to the OpenAI Batch API'):
            sample_zero_shot_cot(bt, qs, TASK, n_samples=2, cache=cache, progress=False)
        files = sorted((tmp_path/'batches').glob('*.jsonl'), key=os.path.getmtime)
        reqs = read_jsonl(files[-1])
        assert len(reqs) == 6 and reqs[0]['url'] == '/v1/completions' and reqs[0]['method'] == 'POST'
        assert ('seed' in reqs[0]['body']) == (stage == 1)
        _fake_batch_output(files[-1], tmp_path/f'out{stage}.jsonl')
        got = ingest_batch_results(tmp_path/f'out{stage}.jsonl', cache, online)
        assert got['ingested'] == 6 and got['failed'] == 1
    run = sample_zero_shot_cot(bt, qs, TASK, n_samples=2, cache=cache, progress=False)
    assert run.stats.calls == 0 and len(run) == 6 and all(r['correct'] for r in run.records)
    # the online teacher of the same endpoint shares the cache: nothing left to call (its address is unreachable: a call would fail)
    again = sample_zero_shot_cot(OpenAITeacher('gpt-3.5-turbo-instruct', base_url='http://127.0.0.1:9/v1'), qs, TASK, n_samples=2,
                                 cache=cache, progress=False)
    assert again.stats.calls == 0 and again.records == run.records
    with StubServer() as srv:   # another server with the same model name does not get the first one's completions (issue 13)
        sample_zero_shot_cot(OpenAITeacher('gpt-3.5-turbo-instruct', base_url=srv.url), qs, TASK, n_samples=2, cache=cache, progress=False)
        assert sum(srv.attempts.values()) > 0

def test_batch_api_end_to_end_resumes_after_an_interruption(tmp_path):
    "Upload, create, poll, download, ingest through the SDK against a local Batch API; a stopped run polls the same batch."
    qs, cache = questions(4), tmp_path/'c.sqlite'
    with StubServer(batch_line_seconds=0.05) as srv:
        cfg = {'backend': 'openai', 'model': 'stub-adder', 'base_url': srv.url, 'batch_dir': str(tmp_path/'b'),
               'batch_poll': 0.02, 'batch_wait': 0.1}
        with pytest.raises(BatchPending, match='Run the same command again to go on waiting'):
            sample_zero_shot_cot(make_teacher(cfg), qs, TASK, n_samples=2, cache=cache, progress=False)
        assert srv.uploads == 1 and len(srv.batches) == 1 and len(list((tmp_path/'b').glob('*.state.json'))) == 1
        run = sample_zero_shot_cot(make_teacher({**cfg, 'batch_wait': None}), qs, TASK, n_samples=2, cache=cache, progress=False)
        assert srv.uploads == 2 and len(srv.batches) == 2     # stage 1 was not uploaded again; stage 2 is the second batch
    check_records(run, 4, 2)
    assert run.stats.calls == 16 and run.stats.failures == 0 and not list((tmp_path/'b').glob('*.state.json'))
    assert isinstance(make_teacher(cfg), BatchTeacher) and make_teacher(cfg).price == (0.0, 0.0)

@pytest.mark.parametrize('how', ['failed lines', 'expired'])
def test_batch_api_keeps_what_finished_and_resends_the_rest(tmp_path, how):
    qs, cache = questions(6), tmp_path/'c.sqlite'
    kw = {'batch_fail': lambda i: i % 3 == 0} if how == 'failed lines' else {'batch_status': 'expired'}
    with StubServer(**kw) as srv:
        bt = BatchTeacher(OpenAITeacher('stub-adder', base_url=srv.url), tmp_path/'b', poll=0.02, progress=False)
        reqs = [CompletionRequest(f"Q: {q['question']}\nA: Let's think step by step.", 64) for q in qs]
        st = RunStats()
        first = run_requests(bt, reqs, cache, st, progress=False)
        lost = sum(r is None for r in first)
        assert 0 < lost < len(reqs) and st.failures == lost and st.errors
        srv.batch_fail, srv.batch_status = None, 'completed'
        st2 = RunStats()
        second = run_requests(bt, reqs, cache, st2, progress=False)
    assert st2.cache_hits == len(reqs) - lost and st2.calls == lost and all(r is not None for r in second)
    assert len(srv.files['file-0'].decode().splitlines()) == len(reqs)
    assert srv.batches['batch-1']['request_counts']['total'] == lost    # only the missing lines went again

# ---------------------------------------------------------------- recorded, vLLM, the hook
def test_recorded_official_format(tmp_path):
    qs = questions(2)
    data = {}
    for q in qs:
        rp = f"Q: {q['question']}\nA: Let's think step by step."
        data[str(q['index'])] = [{'sample_index': q['index'], 'completion_index': j, 'question': q['question'],
                                  'answer': q['answer'], 'reasoning_prompt': rp,
                                  'reasoning_completion': f" Rationale {j}: the total is {q['answer']}.",
                                  'reasoning_finish_reason': 'stop',
                                  'prompt': rp + f" Rationale {j}: the total is {q['answer']}." + '\nTherefore, the answer is',
                                  'completion': f" {q['answer']}.", 'finish_reason': 'stop'} for j in range(2)]
    write_json(tmp_path/'B_toy.json', {'metadata': {'model': 'text-davinci-002'}, 'data': data})
    t = make_teacher({'backend': 'recorded', 'model': str(tmp_path/'B_toy.json')})
    run = sample_zero_shot_cot(t, qs, TASK, n_samples=2, progress=False)
    assert len(run) == 4 and run.accuracy == 1.0 and run.records[1]['reasoning_completion'].startswith(' Rationale 1')
    assert run.records[0]['teacher'] == 'text-davinci-002' and run.stats.calls == 8

def test_vllm_request_building_and_fake_engine(monkeypatch):
    reqs = [CompletionRequest("Q: a\nA: Let's think step by step.", 64, 0.7, 0.95, ['\n\n'], j, 100 + j) for j in (2, 0, 1)]
    reqs.append(CompletionRequest('Q: b\nA:', 16))
    plan = vllm_plan(reqs)
    assert plan[0][1] == {'n': 3, 'temperature': 0.7, 'top_p': 0.95, 'max_tokens': 64, 'stop': ['\n\n'], 'seed': 100}
    assert plan[0][2] == [1, 2, 0] and plan[1][1]['n'] == 1
    if 'vllm' not in sys.modules:
        with pytest.raises(FcotError, match='pip install vllm'): VLLMTeacher('m').complete(reqs)
    made = {}
    class SamplingParams:
        def __init__(self, **kw): self.kw = kw
    class LLM:
        def __init__(self, model, **kw): made['engine'] = (model, kw)
        def generate(self, prompts, params):
            made['params'] = [p.kw for p in params]
            return [types.SimpleNamespace(prompt_token_ids=[1, 2, 3], outputs=[
                types.SimpleNamespace(text=f'{p[:4]}#{s}', finish_reason='stop', token_ids=[7] * (s + 1))
                for s in range(sp.kw['n'])]) for p, sp in zip(prompts, params)]
    monkeypatch.setitem(sys.modules, 'vllm', types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    out = make_teacher({'backend': 'vllm', 'model': 'big/model', 'tensor_parallel_size': 4}).complete(reqs)
    assert made['engine'] == ('big/model', {'tensor_parallel_size': 4, 'enable_prefix_caching': True, 'seed': 0})
    assert [c.text for c in out] == ['Q: a#2', 'Q: a#0', 'Q: a#1', 'Q: b#0'] and out[0].usage['completion_tokens'] == 3

def test_offline_teacher_hook(tmp_path):
    @register_backend('procedural-test')
    def _make(cfg):
        return FunctionTeacher(lambda r: ' 2 + 2 = 4.' if r.meta.get('stage') == 'reasoning' else ' 4.',
                               model='procedural', backend='procedural')
    try:
        t = make_teacher(TeacherConfig(backend='procedural-test'))
        qs = [{'id': 'q-0', 'index': 0, 'question': 'What is 2 + 2?', 'answer': '4'}]
        run = sample_zero_shot_cot(t, qs, TASK, cache=tmp_path/'c.sqlite', progress=False)
        assert run.records[0]['prediction'] == '4' and run.records[0]['correct'] and run.records[0]['teacher'] == 'procedural'
    finally: TEACHER_BACKENDS.pop('procedural-test')
    assert CotConfig.from_dict(CotConfig(n_samples=8).to_dict()) == CotConfig(n_samples=8)
    with pytest.raises(FcotError, match="unknown TeacherConfig option"): TeacherConfig.from_dict({'api_key': 'x'})

# ---------------------------------------------------------------- local transformers
@pytest.fixture(scope='module')
def tiny_lm(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    torch.set_num_threads(1); torch.manual_seed(0)
    text = ["Q: Sam has 3 pens and gets 4 more. How many pens does Sam have?",
            "A: Let's think step by step. Sam has 3 + 4 = 7 pens.", "Therefore, the answer is 7.",
            "The quick brown fox jumps over the lazy dog."] * 5
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(text, trainers.BpeTrainer(vocab_size=300, special_tokens=['<|endoftext|>'],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token='<|endoftext|>', bos_token='<|endoftext|>')
    eos = tok.eos_token_id
    cfg = GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=32, n_layer=1, n_head=2, bos_token_id=eos,
                     eos_token_id=eos)
    path = tmp_path_factory.mktemp('tiny-gpt2')
    GPT2LMHeadModel(cfg).save_pretrained(path); tok.save_pretrained(path)
    return path

def test_transformers_backend(tiny_lm, tmp_path):
    import torch; torch.set_num_threads(1)
    with pytest.raises(FcotError, match='cannot load the teacher model'): TransformersTeacher(tmp_path/'none').load()
    t = make_teacher({'backend': 'transformers', 'model': str(tiny_lm), 'batch_size': 4})
    assert isinstance(t, TransformersTeacher) and t.name == str(tiny_lm)
    short, long = 'Q: Sam has 3 pens.\nA:', "Q: Sam has 3 pens and gets 4 more. How many pens does Sam have?\nA: Let's think"
    alone = t.complete([CompletionRequest(short, 12)])[0]
    both = t.complete([CompletionRequest(long, 12), CompletionRequest(short, 12)])
    assert t._tok.padding_side == 'left' and both[1].text == alone.text   # left padding leaves the short prompt intact
    assert alone.usage['prompt_tokens'] == len(t._tok(short).input_ids) and alone.finish_reason in ('stop', 'length')
    if alone.finish_reason == 'length': assert alone.usage['completion_tokens'] == 12
    full = alone.text
    assert len(full) >= 6, full
    stop = full[3:6]
    cut = t.complete([CompletionRequest(short, 12, stop=[stop])])[0]
    assert cut.text == full[:full.find(stop)] and cut.finish_reason == 'stop'
    samples = t.complete([CompletionRequest(short, 12, 1.0, sample_index=j, seed=j) for j in range(3)])
    assert len({s.text for s in samples}) >= 2   # num_return_sequences gives different samples
    run = sample_zero_shot_cot(t, questions(2), TASK, n_samples=2, max_tokens=10, answer_max_tokens=4,
                               cache=tmp_path/'c.sqlite', progress=False)
    assert len(run) == 4 and all(r['teacher'] == str(tiny_lm) and r['usage']['completion_tokens'] > 0 for r in run.records)
    assert run.stats.calls <= 8 and run.stats.failures == 0

def test_cache_keys_tell_endpoints_apart():
    "Two servers serving one model name must not share cached completions (issue 13): the key includes the endpoint."
    from fcot.completions import CompletionRequest, cache_key
    from fcot.api import OpenAITeacher, BatchTeacher
    r = CompletionRequest('Q: 1+1?\nA:', 16, 0.0, 1.0, None, 0, None, {})
    a, b = OpenAITeacher('m', base_url='http://127.0.0.1:8001/v1'), OpenAITeacher('m', base_url='http://127.0.0.1:8002/v1')
    a2 = OpenAITeacher('m', base_url='http://user:SECRET@127.0.0.1:8001/v1/')
    assert cache_key(a.backend, a.cache_id, r) != cache_key(b.backend, b.cache_id, r)
    assert a.cache_id == a2.cache_id and 'SECRET' not in a2.cache_id          # credentials are not part of what is cached
    assert BatchTeacher(a, '/tmp').cache_id == a.cache_id

def test_samples_of_a_question_stay_apart_without_seeds():
    "With seed=None the D requests of a question differ only by sample_index: they must not collapse into one cached completion."
    from fcot.teachers import _stage1_requests, CotConfig
    from fcot.completions import cache_key
    recs = [{'id': 'q1', 'task': 'coin_flip', 'question': 'A coin is heads up. Is it still heads up?', 'answer': 'yes'}]
    reqs = _stage1_requests(recs, CotConfig(n_samples=4, seed=None).check())
    assert len(reqs) == 4 and all(r.seed is None for r in reqs)
    assert len({cache_key('openai', 'm', r) for r in reqs}) == 4

# ---------------------------------------------------------------- a real server: `transformers serve`
@pytest.fixture(scope='module')
def served_lm(tiny_lm):
    "`transformers serve` (FastAPI + uvicorn) on 127.0.0.1, serving the tiny GPT-2 of `tiny_lm` with a plain chat template."
    pytest.importorskip('fastapi'); pytest.importorskip('uvicorn')
    import socket, urllib.request
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_lm)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tok.save_pretrained(tiny_lm)
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    cli = Path(sys.executable).with_name('transformers')
    proc = subprocess.Popen([str(cli), 'serve', str(tiny_lm), '--host', '127.0.0.1', '--port', str(port), '--device', 'cpu'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    try:
        for _ in range(600):
            try: urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=1); break
            except OSError:
                assert proc.poll() is None, 'transformers serve exited'
                time.sleep(0.1)
        else: pytest.fail('transformers serve did not come up in 60 s')
        yield f'http://127.0.0.1:{port}/v1', str(tiny_lm)
    finally:
        proc.terminate(); proc.wait(timeout=30)

@pytest.mark.parametrize('chat', [False, True], ids=['completions', 'chat'])
def test_against_transformers_serve(served_lm, chat, tmp_path):
    "fcot's teacher against a real OpenAI-compatible server (not a stub): both stages, D = 2, every record and its usage."
    url, model = served_lm
    t = OpenAITeacher(model, base_url=url, chat=chat, concurrency=2, timeout=60, max_retries=1)
    run = sample_zero_shot_cot(t, questions(2), TASK, n_samples=2, max_tokens=8, answer_max_tokens=4,
                               cache=tmp_path/'c.sqlite', allow_failures=False, progress=False)
    stage2 = len({r['prompt'] for r in run.records})   # equal rationales share one stage-2 call
    assert len(run) == 4 and run.stats.failures == 0 and run.stats.calls == 4 + stage2
    assert all(r['usage']['prompt_tokens'] > 0 and r['usage']['completion_tokens'] > 0 for r in run.records)
    assert all(r['reasoning_finish_reason'] in ('length', 'stop') and r['finish_reason'] in ('length', 'stop') for r in run.records)
    again = sample_zero_shot_cot(t, questions(2), TASK, n_samples=2, max_tokens=8, answer_max_tokens=4,
                                 cache=tmp_path/'c.sqlite', progress=False)
    assert again.stats.calls == 0 and again.records == run.records
