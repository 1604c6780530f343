"Tests of fcot.recorded on the real Kojima et al. logs: parsing, the one-to-one mapping, acceptance, damaged records, file formats."
import json, re
import pytest
from fcot.core import FcotError, read_jsonl
from fcot.recorded import (kojima_order, load_reasoning_teacher_completions, load_recorded, log_path, match_log,
                           parse_log, recorded_questions, recorded_report, recorded_task, save_records,
                           string_comparison_cases, to_dataset)
from fcot.tasks import PAPER_TASKS, load_task

COUNTS = {'single_eq': 508, 'addsub': 395, 'multiarith': 600, 'gsm8k': 1319, 'aqua': 254, 'svamp': 1000,
          'date_understanding': 369, 'tracking_shuffled_objects': 750, 'last_letter_concatenation': 500,
          'coin_flip': 500, 'commonsense_qa': 1221, 'strategy_qa': 2290}

@pytest.mark.parametrize('method', ['zero_shot_cot', 'zero_shot'])
def test_parse_counts(real_data, method):
    assert set(COUNTS) == set(PAPER_TASKS)
    for task, n in COUNTS.items():
        log = parse_log(log_path(task, method, real_data))
        assert (len(log.records), len(log.damaged), log.data_size) == (n, 0, n), task
        assert log.accuracy is not None and [r['number'] for r in log.records] == list(range(1, n + 1))
        if method == 'zero_shot_cot':
            assert all(r['reasoning'] is not None and r['completion'] for r in log.records), task

def test_trigger_twice_and_colon_logs(real_data):
    "The answer trigger inside a rationale/completion does not move the split; ':'-stripped pred_before logs still parse."
    log = parse_log(log_path('last_letter_concatenation', data_dir=real_data))
    twice = [r for r in log.records if r['trigger_count'] > 1]
    assert len(twice) == 5
    for r in twice:
        assert re.sub(r'[\s:]', '', r['completion']) == re.sub(r'[\s:]', '', r['pred_before'])
    csqa = parse_log(log_path('commonsense_qa', data_dir=real_data))
    r = csqa.records[0]
    assert r['completion'] == ' probably (A), (B), (C), or (D).' and r['pred_after'] == 'A'
    assert r['reasoning'].startswith(' Candles are often used for light')

def test_kojima_order_is_the_recorded_one():
    "Values computed by an independent pure-Python Mersenne Twister (the earlier implementation); the logs' question match is the full check."
    assert kojima_order(1221)[:8] == [324, 669, 8, 352, 1137, 650, 140, 939] and kojima_order(1221)[-3:] == [853, 596, 766]
    assert kojima_order(600)[:8] == [324, 19, 307, 193, 315, 276, 545, 1] and sorted(kojima_order(395)) == list(range(395))

def test_one_to_one_mapping(real_data):
    for task, n in COUNTS.items():
        m = match_log(task, data_dir=real_data)
        assert not m.mismatches, (task, m.mismatches[:1])
        ids = [tr['id'] for _, tr, _, _ in m.pairs]
        assert len(ids) == len(set(ids)) == n, task
        assert all(lr['question'] == tr['question'] for lr, tr, _, _ in m.pairs), task
    # the file the log used: GSM8K test, CommonsenseQA dev
    gsm = {tr['index'] for _, tr, _, _ in match_log('gsm8k', data_dir=real_data).pairs}
    assert min(gsm) == 7473 and max(gsm) == 7473 + 1318

def test_teacher_view(real_data):
    qs = recorded_questions('date_understanding', real_data)
    recs = recorded_task('date_understanding', real_data)
    assert len(qs) == len(recs) == 369 and all(qs[r['id']] == r['question'] for r in recs)
    # with BIG-bench's original choice order the questions differ, and the gold is re-lettered to the teacher's order
    orig = load_task('date_understanding', real_data, choice_order='original')
    m = match_log('date_understanding', data_dir=real_data)
    from fcot.recorded import _teacher_view
    moved = 0
    by_id = {r['id']: r for r in orig}
    for lr, tr, _, gold in m.pairs:
        how, g = _teacher_view(lr['question'], by_id[tr['id']], 'ABCDEF')
        assert how != 'mismatch' and g == gold
        moved += how == 'choices reordered'
    assert moved > 100

def test_records_shape(real_data, tmp_path):
    recs = load_recorded('aqua', data_dir=real_data)
    keys = {'id', 'task', 'sample_index', 'completion_index', 'question', 'answer', 'reasoning_prompt',
            'reasoning_completion', 'reasoning_finish_reason', 'prompt', 'completion', 'finish_reason', 'prediction',
            'correct', 'teacher', 'usage'}
    assert len(recs) == 254 and set(recs[0]) == keys
    r = recs[0]
    assert r['reasoning_prompt'] == f"Q: {r['question']}\nA: Let's think step by step."
    assert r['prompt'] == r['reasoning_prompt'] + r['reasoning_completion'] + '\nTherefore, among A through E, the answer is'
    assert r['teacher'] == 'text-davinci-002' and r['reasoning_finish_reason'] is None and r['completion_index'] == 0
    save_records(tmp_path/'aqua.jsonl', recs)
    assert read_jsonl(tmp_path/'aqua.jsonl') == recs
    ds = to_dataset(recs)
    assert len(ds) == 254 and ds[3]['completion'] == recs[3]['completion']
    zs = load_recorded('coin_flip', 'zero_shot', real_data)
    assert zs[0]['reasoning_completion'] is None and zs[0]['prompt'].endswith('\nA: The answer (Yes or No) is')

def test_acceptance(real_data):
    rows, dis, probs = recorded_report(data_dir=real_data, progress=False)
    assert not probs
    total = sum(r['matched'] for r in rows)
    assert total == sum(COUNTS.values()) and 1 - len(dis) / total >= 0.995
    for r in rows:
        assert r['matched'] == r['records'] == COUNTS[r['task']]
        assert abs(r['accuracy log (string)'] - r['accuracy log (stated)']) < 0.01, r['task']
        assert r['gold = log GT'] == 100.0, r['task']
        delta = abs(r['accuracy fcot'] - r['accuracy re-derived'])
        if r['task'] == 'addsub':  # one record is 0.25 points: fcot reads ' .5' as 0.5 (gold), Kojima as 5
            assert delta <= 100 / 395 + 0.01
        else: assert delta <= 0.2, r['task']
    flips = sorted(d['id'] for d in dis if d['correct'] != d['log_correct'])
    assert flips == ['addsub-257', 'commonsense_qa-10012', 'commonsense_qa-10355', 'single_eq-325']
    moved = {r['task'] for r in rows if abs(r['accuracy re-derived'] - r['accuracy log (stated)']) > 0.01}
    assert moved == {'single_eq', 'addsub', 'gsm8k'}
    assert {'pred_after': '12.30', 'gt': '12.3'}.items() <= string_comparison_cases('addsub', data_dir=real_data)[2].items()

def test_damaged_record_skipped(real_data, tmp_path):
    text = log_path('addsub', data_dir=real_data).read_text(encoding='utf-8')
    a, b = text.index('\n5st data\n'), text.index('\n9st data\n')
    rec5 = text[a:text.index('\n6st data\n')]
    text = text.replace(rec5, re.sub(r'\npred_before : .*?\n(?=pred_after)', '\n', rec5, flags=re.S))
    b = text.index('\n9st data\n'); rec9 = text[b:text.index('\n10st data\n')]
    text = text.replace(rec9, rec9.replace('\nTherefore, the answer (arabic numerals) is', '\nSo'))
    bad = tmp_path/'addsub_zero_shot_cot.log'
    bad.write_text(text, encoding='utf-8')
    log = parse_log(bad)
    assert len(log.records) == 393 and [d['record'] for d in log.damaged] == [5, 9]
    assert all(d['file'] == str(bad) and d['reason'] for d in log.damaged)
    problems = []
    recs = load_recorded('addsub', data_dir=real_data, path=bad, problems=problems)
    assert len(recs) == 393 and [p['record'] for p in problems] == [5, 9]
    good = {r['id']: r for r in load_recorded('addsub', data_dir=real_data)}
    assert all(good[r['id']] == r for r in recs)

def test_reasoning_teacher_format(tmp_path):
    q = 'Sam has 3 apples and buys 4. How many?'
    raw = {'metadata': {'dataset_key': 'multiarith', 'base_model': 'text-davinci-002', 'completion_key': 'zs_cot'},
           'data': {'12': [{'sample_index': 12, 'completion_index': i, 'question': q, 'answer': '7',
                            'reasoning_prompt': f"Q: {q}\nA: Let's think step by step.",
                            'reasoning_completion': c, 'reasoning_finish_reason': 'stop',
                            'prompt': f"Q: {q}\nA: Let's think step by step.{c}\nTherefore, the answer (arabic numerals) is",
                            'completion': a, 'finish_reason': 'stop'}
                           for i, (c, a) in enumerate([(' 3 + 4 = 7.', ' 7.'), (' 3 * 4 = 12.', ' 12 apples.')])],
                    '2': [{'sample_index': 2, 'completion_index': 0, 'question': 'Q2', 'answer': '1', 'prompt': 'Q: Q2\nA:',
                           'completion': ' 1', 'finish_reason': 'length'}]}}
    (tmp_path/'c.json').write_text(json.dumps(raw))
    recs = load_reasoning_teacher_completions(tmp_path/'c.json')
    assert [(r['id'], r['completion_index'], r['prediction'], r['correct']) for r in recs] == \
        [('multiarith-2', 0, '1', True), ('multiarith-12', 0, '7', True), ('multiarith-12', 1, '12', False)]
    assert recs[1]['reasoning_completion'] == ' 3 + 4 = 7.' and recs[1]['teacher'] == 'text-davinci-002'
    assert recs[0]['reasoning_prompt'] is None and recs[0]['finish_reason'] == 'length'
    (tmp_path/'bad.json').write_text(json.dumps({'metadata': {}, 'data': []}))
    with pytest.raises(FcotError, match='not a reasoning-teacher completion file'):
        load_reasoning_teacher_completions(tmp_path/'bad.json', task='multiarith')
