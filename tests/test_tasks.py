"Tests of fcot.tasks: the task registry, Kojima et al.'s verbalisation, the paper's splits, bad data and the verified download."
import functools, hashlib, http.server, json, shutil, threading
from collections import Counter
from pathlib import Path
import pytest
from fcot.core import FcotError, sha256_file
from fcot.tasks import (TASKS, PAPER_TASKS, TaskSpec, get_task, load_task, load_split, split_file, train_test_overlap, to_dataset, log_match,
                        read_log_questions, AQUA_TRAIN_SIZE)
from fcot.download import download_data, MANIFEST, SOURCES, DataFile
PAPER = {n: TASKS[n] for n in PAPER_TASKS}  # other modules may register more tasks

SIZES = {'single_eq': (508, 356, 152), 'addsub': (395, 276, 119), 'multiarith': (600, 420, 180), 'gsm8k': (8792, 7473, 1319),
         'svamp': (1000, 700, 300), 'date_understanding': (369, 258, 111), 'tracking_shuffled_objects': (750, 525, 225),
         'last_letter_concatenation': (500, 350, 150), 'coin_flip': (500, 350, 150), 'commonsense_qa': (10962, 9741, 1221),
         'strategy_qa': (2290, 1603, 687)}

# ---------------------------------------------------------------- registry
def test_registry_names_aliases_and_formats():
    assert list(PAPER_TASKS) == ['single_eq', 'addsub', 'multiarith', 'gsm8k', 'aqua', 'svamp', 'date_understanding',
                           'tracking_shuffled_objects', 'last_letter_concatenation', 'coin_flip', 'commonsense_qa', 'strategy_qa']
    kojima = {'singleeq': 'single_eq', 'addsub': 'addsub', 'multiarith': 'multiarith', 'gsm8k': 'gsm8k', 'aqua': 'aqua',
              'svamp': 'svamp', 'bigbench_date': 'date_understanding', 'object_tracking': 'tracking_shuffled_objects',
              'last_letters': 'last_letter_concatenation', 'coin_flip': 'coin_flip', 'commonsensqa': 'commonsense_qa',
              'strategyqa': 'strategy_qa'}
    for alias, name in kojima.items():
        assert get_task(alias).name == name and get_task(alias).kojima_name == alias
    assert get_task('StrategyQA').name == 'strategy_qa' and get_task(TASKS['aqua']) is TASKS['aqua']
    assert {n: s.letters for n, s in PAPER.items() if s.letters} == {
        'aqua': 'ABCDE', 'date_understanding': 'ABCDEF', 'tracking_shuffled_objects': 'ABC', 'commonsense_qa': 'ABCDE'}
    assert Counter(s.answer_type for s in PAPER.values()) == {'number': 5, 'letter': 4, 'yesno': 2, 'string': 1}
    assert get_task('gsm8k').answer_trigger == 'Therefore, the answer (arabic numerals) is'
    assert get_task('aqua').answer_trigger == 'Therefore, among A through E, the answer is'
    assert get_task('bigbench_date').answer_trigger == 'Therefore, among A through F, the answer is'
    assert get_task('coin_flip').answer_trigger == 'Therefore, the answer (Yes or No) is'
    assert get_task('last_letters').answer_trigger == 'Therefore, the answer is'
    assert get_task('object_tracking').log_file() == 'zero_shot_cot/log/shuffled_objects_zero_shot_cot.log'

def test_unknown_task_lists_known_names():
    with pytest.raises(FcotError, match=r"unknown task 'mnist'.*single_eq.*strategy_qa"): get_task('mnist')
    with pytest.raises(FcotError, match='unknown task'): load_task('mnist')

def test_triggers_match_log_headers(real_data):
    import re
    for s in PAPER.values():
        head = (real_data/s.log_file()).read_text(encoding='utf-8')[:3000]
        assert re.search(r"direct_answer_trigger='\\n(.*?)'", head).group(1) == s.answer_trigger, s.name

# ---------------------------------------------------------------- loading and verbalisation
@pytest.fixture(scope='module')
def records():
    from fcot.core import default_data_dir
    d = default_data_dir()
    if not (d/'zero_shot_cot'/'dataset').is_dir(): pytest.skip(f'real data not found at {d}')
    return {n: load_task(n) for n in PAPER_TASKS}

def test_sizes_and_record_shape(real_data, records):
    assert {n: len(r) for n, r in records.items()} == {**{n: s[0] for n, s in SIZES.items()}, 'aqua': 254}
    for n, recs in records.items():
        assert [r['id'] for r in recs[:2]] == [f"{n}-{r['index']}" for r in recs[:2]]
        assert set(recs[0]) == {'id', 'task', 'index', 'question', 'answer', 'choices'}
        assert all(isinstance(r['answer'], str) and r['answer'] for r in recs), n
    assert [r['index'] for r in records['aqua'][:2]] == [97467, 97468]
    assert [r['index'] for r in records['gsm8k'][7472:7474]] == [7472, 7473]

def test_verbalisation_examples(real_data, records):
    a = records['aqua'][0]
    # Kojima et al. put a space before every '(' and after every ')', also inside the options (as the log shows)
    assert a['question'].endswith('the base of the tower? Answer Choices: (A) 5 (\u221a3 + 1)  (B) 6 (\u221a3 + \u221a2)  '
                                  '(C) 7 (\u221a3 \u2013 1)  (D) 8 (\u221a3 \u2013 2)  (E) None of these')
    assert a['choices'] == ['5(\u221a3 + 1)', '6(\u221a3 + \u221a2)', '7(\u221a3 \u2013 1)', '8(\u221a3 \u2013 2)', 'None of these']
    assert a['answer'] in 'ABCDE'
    c = records['commonsense_qa'][0]
    assert c['question'].endswith('the school had made to change? Answer Choices: (A) ignore (B) enforce (C) authoritarian (D) yell at (E) avoid')
    assert c['answer'] == 'A' and c['choices'][1] == 'enforce'
    sv = records['svamp'][0]
    assert sv['question'] == 'Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack How much do you have to pay to buy each pack?'
    assert sv['answer'] == '51'
    t = records['tracking_shuffled_objects'][0]
    assert '\nWhich choice is true ? Answer Choices: (A) ' in t['question'] and t['answer'] in 'ABC'
    assert records['strategy_qa'][0]['answer'] == 'yes'
    assert records['last_letter_concatenation'][0]['answer'] == 'yajo'
    # numbers: no thousands commas, no trailing '.0', decimals kept
    assert any('.' in r['answer'] for r in records['single_eq'])
    assert not any(',' in r['answer'] or r['answer'].endswith('.0') for n in ('gsm8k', 'single_eq', 'addsub', 'svamp') for r in records[n])
    g = [r for r in records['gsm8k'] if r['index'] >= 7473]
    assert g[0]['answer'] == '18'

def test_every_logged_question_is_reproduced(real_data, records):
    for n in PAPER_TASKS:
        m = log_match(n, records=records[n])
        expected = {'gsm8k': 1319, 'commonsense_qa': 1221}.get(n, len(records[n]))
        assert (m['logged'], m['matched'], m['gold_agree']) == (expected, expected, expected), (n, m['unmatched'][:1])

def test_date_shuffle_reproduces_kojima_and_original_order_does_not(real_data, records):
    assert log_match('date_understanding', records=records['date_understanding'])['matched'] == 369
    orig = load_task('date_understanding', choice_order='original')
    assert Counter(r['answer'] for r in orig)['A'] == 364
    assert log_match('date_understanding', records=orig)['matched'] <= 1
    # same choices, same gold text, different order
    for o, k in zip(orig, records['date_understanding']):
        assert sorted(o['choices']) == sorted(k['choices'])
        assert o['choices'][' ABCDEF'.index(o['answer']) - 1] == k['choices'][' ABCDEF'.index(k['answer']) - 1]
    assert load_task('date_understanding')[5] == records['date_understanding'][5]  # deterministic, global random untouched
    with pytest.raises(FcotError, match='choice_order'): load_task('date_understanding', choice_order='shuffled')

def test_read_log_questions_multiline(tmp_path):
    log = tmp_path/'x.log'
    log.write_text('*****************************\nNamespace(x)\n*****************************\n*************************\n1st data\n'
                   'Q: line one\n\nline two\nA: Let\'s think step by step. Q: not a question\nGT : B\n*************************\n')
    assert read_log_questions(log) == [('line one\n\nline two', 'B')]

# ---------------------------------------------------------------- splits
def test_split_sizes(real_data):
    for n, (total, ntrain, ntest) in SIZES.items():
        s = load_split(n, data_dir=real_data)
        assert (len(s['train']), len(s['test'])) == (ntrain, ntest), n
        assert not {r['index'] for r in s['train']} & {r['index'] for r in s['test']}
    assert len(load_split('aqua', parts=('test',))['test']) == 254
    assert [len(load_split(n, 'template')[p]) for n in ('multiarith', 'date_understanding') for p in ('train', 'test')] == [413, 187, 261, 108]

def test_split_follows_split_file_order(real_data):
    idx = json.loads((real_data/'reasoning_teacher/split/gsm8k__default.json').read_text())
    s = load_split('gsm8k')
    assert [r['index'] for r in s['test'][:5]] == idx['test'][:5]
    assert s['test'][0]['question'] == load_task('gsm8k')[idx['test'][0]]['question']

def test_template_split_only_where_it_exists(real_data):
    with pytest.raises(FcotError, match=r"task gsm8k has no 'template' split; available: default"): load_split('gsm8k', 'template')
    assert split_file('multiarith', 'template').name == 'multiarith__template.json'

def test_overlap(real_data):
    assert len(train_test_overlap(load_split('multiarith'))) == 5
    assert len(train_test_overlap(load_split('strategy_qa'))) == 1
    assert train_test_overlap(load_split('addsub')) == []
    recs = [{'question': 'q1'}, {'question': 'q2'}]
    assert train_test_overlap({'train': recs[:1], 'test': recs}) == [recs[0]]

def _fake_aqua(path, n):
    with open(path, 'w') as f:
        for i in range(n): f.write(json.dumps({'question': f'q{i}', 'options': ['A)1', 'B)2', 'C)3', 'D)4', 'E)5'], 'correct': 'A'}) + '\n')

def test_aqua_train_missing_and_given(real_data, tmp_path):
    with pytest.raises(FcotError, match=r'AQuA-RAT train file .*aqua_train=.*parts=\(.test.,\)'): load_split('aqua')
    with pytest.raises(FcotError, match='AQUA train file not found'): load_task('aqua', aqua_train=tmp_path/'none.json')
    _fake_aqua(tmp_path/'small.json', 3)
    recs = load_task('aqua', aqua_train=tmp_path/'small.json')
    assert [r['index'] for r in recs[:4]] == [0, 1, 2, 3] and recs[0]['question'] == 'q0 Answer Choices: (A) 1 (B) 2 (C) 3 (D) 4 (E) 5'
    with pytest.raises(FcotError, match='does not have the official 97,467'): load_split('aqua', aqua_train=tmp_path/'small.json')
    _fake_aqua(tmp_path/'full.json', AQUA_TRAIN_SIZE)
    s = load_split('aqua', aqua_train=tmp_path/'full.json')
    assert (len(s['train']), len(s['test'])) == (10000, 254) and s['test'][0]['index'] == 97467

# ---------------------------------------------------------------- datasets
def test_to_dataset(real_data):
    recs = load_split('aqua', parts=('test',))['test'][:2] + load_task('coin_flip')[:2]
    ds = to_dataset(recs)
    assert ds.column_names == ['id', 'task', 'index', 'question', 'answer', 'choices']
    assert ds[0]['choices'] == recs[0]['choices'] and ds[2]['choices'] == [] and ds[3]['answer'] == recs[3]['answer']

# ---------------------------------------------------------------- bad input
def _copy(real, dest, *rels):
    for rel in rels:
        (dest/rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real/rel, dest/rel)

def test_missing_data_dir(tmp_path):
    with pytest.raises(FcotError, match=r'data directory not found: .*nowhere.*FCOT_DATA_DIR'): load_task('addsub', tmp_path/'nowhere')

def test_missing_file(real_data, tmp_path):
    _copy(real_data, tmp_path, 'zero_shot_cot/dataset/AddSub/AddSub.json')
    with pytest.raises(FcotError, match=r'data file missing: .*MultiArith.json'): load_task('multiarith', tmp_path)
    with pytest.raises(FcotError, match=r'data file missing: .*addsub__default.json'): load_split('addsub', data_dir=tmp_path)

def test_truncated_json(real_data, tmp_path):
    rel = 'zero_shot_cot/dataset/Bigbench_Date/task.json'
    (tmp_path/rel).parent.mkdir(parents=True)
    (tmp_path/rel).write_text((real_data/rel).read_text()[:20000])
    with pytest.raises(FcotError, match=r'task.json is not valid JSON .*truncated'): load_task('date_understanding', tmp_path)

def test_truncated_jsonl(real_data, tmp_path):
    rels = ['gsm8k/train.jsonl', 'gsm8k/test.jsonl']
    _copy(real_data, tmp_path, *rels)
    text = (real_data/rels[1]).read_text()
    (tmp_path/rels[1]).write_text(text[:len(text) // 2])   # cut mid-line
    with pytest.raises(FcotError, match=r'test.jsonl, line \d+: not a valid JSON record'): load_task('gsm8k', tmp_path)

def test_wrong_format(tmp_path):
    rel = 'zero_shot_cot/dataset/SVAMP/SVAMP.json'
    (tmp_path/rel).parent.mkdir(parents=True)
    (tmp_path/rel).write_text(json.dumps([{'Body': 'x', 'Answer': 1.0}]))
    with pytest.raises(FcotError, match=r"SVAMP.json: a record lacks the field 'Question'"): load_task('svamp', tmp_path)
    (tmp_path/rel).write_text(json.dumps({'examples': []}))
    with pytest.raises(FcotError, match='expected a JSON list'): load_task('svamp', tmp_path)

def test_split_index_out_of_range(real_data, tmp_path):
    _copy(real_data, tmp_path, 'zero_shot_cot/dataset/AddSub/AddSub.json')
    sp = tmp_path/'reasoning_teacher/split/addsub__default.json'
    sp.parent.mkdir(parents=True)
    sp.write_text(json.dumps({'train': [0, 1], 'test': [2, 395]}))
    with pytest.raises(FcotError, match=r'addsub__default.json: 1 test index\(es\) \(e.g. 395\) are not records of task addsub'):
        load_split('addsub', data_dir=tmp_path)
    sp.write_text(json.dumps({'train': [0, 1]}))
    with pytest.raises(FcotError, match=r"addsub__default.json: no 'test' list"): load_split('addsub', data_dir=tmp_path)
    sp.write_text('{"train": [0, 1], "te')
    with pytest.raises(FcotError, match='addsub__default.json is not valid JSON'): load_split('addsub', data_dir=tmp_path)

# ---------------------------------------------------------------- download (offline: a local HTTP server plays GitHub)
def test_manifest_describes_real_data(real_data):
    local = sorted(str(p.relative_to(real_data)) for p in real_data.rglob('*') if p.is_file() and p.name != 'README.md')
    assert local == sorted(f.path for f in MANIFEST)
    for f in MANIFEST: assert (real_data/f.path).stat().st_size == f.size, f.path
    small = [f for f in MANIFEST if f.size < 10000]
    assert small and all(sha256_file(real_data/f.path) == f.sha256 for f in small)
    urls = {f.path: f.url() for f in MANIFEST}
    assert urls['gsm8k/train.jsonl'] == 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/train.jsonl'
    assert urls['zero_shot_cot/log/aqua_zero_shot_cot.log'] == 'https://raw.githubusercontent.com/kojima-takeshi188/zero_shot_cot/main/log/aqua_zero_shot_cot.log'
    assert urls['reasoning_teacher/few_shot_cot_prompts.json'] == 'https://raw.githubusercontent.com/itsnamgyu/reasoning-teacher/main/data/few_shot_cot_prompts.json'

FEW = ['reasoning_teacher/split/addsub__default.json', 'reasoning_teacher/split/date_understanding__template.json',
       'zero_shot_cot/dataset/last_letters/last_letters.json']

@pytest.fixture
def server(real_data, tmp_path):
    "A local HTTP server serving copies of a few small real files under the URL layout of their repositories."
    www = tmp_path/'www'
    for p in FEW:
        f = next(m for m in MANIFEST if m.path == p)
        (www/f.source/f.remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real_data/p, www/f.source/f.remote)
    h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    h.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield www, {k: f'http://127.0.0.1:{srv.server_address[1]}/{k}' for k in SOURCES}
    srv.shutdown(); srv.server_close()

def test_download_verifies_and_skips(server, real_data, tmp_path):
    www, base = server
    dest = tmp_path/'data'
    r = download_data(dest, sources=base, files=FEW, progress=False)
    assert r['downloaded'] == FEW and r['skipped'] == []
    for p in FEW: assert (dest/p).read_bytes() == (real_data/p).read_bytes()
    assert not list(dest.rglob('*.part'))
    r = download_data(dest, sources=base, files=FEW, progress=False)
    assert r['downloaded'] == [] and r['skipped'] == FEW
    # a damaged local copy is fetched again; force re-fetches everything
    (dest/FEW[0]).write_text('{}')
    assert download_data(dest, sources=base, files=FEW, progress=False)['downloaded'] == [FEW[0]]
    assert download_data(dest, sources=base, files=FEW, force=True, progress=False)['downloaded'] == FEW
    # the downloaded split loads like the real one
    _copy(real_data, dest, 'zero_shot_cot/dataset/AddSub/AddSub.json')
    assert len(load_split('addsub', data_dir=dest)['test']) == 119

def test_download_corrupted_file_raises(server, tmp_path):
    www, base = server
    f = next(m for m in MANIFEST if m.path == FEW[2])
    served = www/f.source/f.remote
    served.write_bytes(served.read_bytes().replace(b'yajo', b'yajx'))   # same size, different bytes
    with pytest.raises(FcotError, match=r'downloaded zero_shot_cot/dataset/last_letters/last_letters.json .* does not match .*Retry'):
        download_data(tmp_path/'data', sources=base, files=[FEW[2]], progress=False)
    assert not (tmp_path/'data'/FEW[2]).exists() and not list((tmp_path/'data').rglob('*.part'))
    served.write_bytes(b'short')
    with pytest.raises(FcotError, match='got 5 bytes'): download_data(tmp_path/'data', sources=base, files=[FEW[2]], progress=False)

def test_download_missing_upstream_and_bad_args(server, tmp_path):
    www, base = server
    with pytest.raises(FcotError, match=r'could not download gsm8k/test.jsonl from http://127.0.0.1.*retry'):
        download_data(tmp_path/'data', sources=base, files=['gsm8k/test.jsonl'], progress=False)
    with pytest.raises(FcotError, match='not in the data manifest'): download_data(tmp_path/'data', files=['x.json'], progress=False)
    with pytest.raises(FcotError, match='unknown data source'): download_data(tmp_path/'data', sources={'hf': 'http://x'}, progress=False)

def _data_with_split(tmp_path, real_data, task, split: dict):
    "A data folder holding the real data and a split file of our own for `task`."
    root = tmp_path/'data'
    (root/'reasoning_teacher'/'split').mkdir(parents=True)
    (root/'zero_shot_cot').symlink_to(real_data/'zero_shot_cot')
    (root/'reasoning_teacher'/'split'/f'{task}__default.json').write_text(json.dumps(split))
    return root

def test_split_order_is_the_files_even_when_unsorted(real_data, tmp_path):
    "Every shipped split file is sorted, so only an unsorted one shows that the order comes from the file (issue 12)."
    order = {'train': [7, 3, 11, 0, 5], 'test': [42, 9, 1]}
    s = load_split('coin_flip', data_dir=_data_with_split(tmp_path, real_data, 'coin_flip', order))
    assert [r['index'] for r in s['train']] == order['train'] and [r['index'] for r in s['test']] == order['test']

@pytest.mark.parametrize('split, message', [({'train': [1, 2, 2], 'test': [3]}, 'appear more than once'),
                                            ({'train': [1, True], 'test': [3]}, 'True'),
                                            ({'train': [1, 2, 3], 'test': [3, 4]}, 'in both train and test')])
def test_damaged_split_files_are_refused(real_data, tmp_path, split, message):
    with pytest.raises(FcotError, match=message):
        load_split('coin_flip', data_dir=_data_with_split(tmp_path, real_data, 'coin_flip', split))

def test_no_registry_changes_at_import_and_synthetic_tasks_are_found():
    "Importing fcot.synthetic registers nothing (issue 12); get_task finds the synthetic tasks whatever was imported before."
    import subprocess, sys
    code = ("import fcot.tasks as T, fcot.synthetic, fcot.offline, fcot.presets, fcot.reproduce, fcot.cli\n"
            "assert not any(n.startswith('synth_') for n in T.TASKS), sorted(T.TASKS)\n"
            "print(T.get_task('synth_coin_flip').answer_type, T.get_task('SYNTH-addition').name, 'synth_coin_flip' in T.TASKS)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ['yesno', 'synth_addition', 'True']
    fresh = subprocess.run([sys.executable, '-c', "import fcot.tasks as T; print(T.get_task('synth_multiplication').name)"],
                           capture_output=True, text=True)
    assert fresh.stdout.strip() == 'synth_multiplication', fresh.stderr[-2000:]
