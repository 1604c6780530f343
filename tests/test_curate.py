"""Curation: each filter proven on hand-made teacher records, exact template strings, outputs, and the real recorded teacher."""
import json
import pytest
from fcot.core import FcotError
from fcot.curate import (CurateConfig, curate, format_prompt, format_completion, vanilla_samples, save_curated,
                         load_samples, to_dataset, looks_truncated, is_truncated, curate_recorded, SAMPLE_FIELDS)

Q = 'Tom has 3 apples and buys 5 more. How many apples does he have?'

def rec(i, ci, rationale, pred, gold='8', reason='stop', task='multiarith', **kw):
    return {'id': f'{task}-{i}', 'task': task, 'sample_index': i, 'completion_index': ci, 'question': f'Question {i}?',
            'answer': gold, 'reasoning_prompt': f"Q: Question {i}?\nA: Let's think step by step.",
            'reasoning_completion': rationale, 'reasoning_finish_reason': reason, 'completion': f' {pred}.',
            'prediction': pred, **kw}

def test_templates_exact_strings():
    assert format_prompt(Q) == Q + ' ###'
    assert format_completion('8', 'He has 3 + 5 = 8.') == ' He has 3 + 5 = 8. --> 8 END'
    assert format_completion('8', template='vanilla') == ' 8 END'
    assert format_prompt(Q, 'vanilla') == Q + ' ###'
    assert format_prompt(Q, 'natural') == f"Q: {Q}\nA: Let's think step by step."
    assert format_completion('8', 'He has 8.', 'natural') == ' He has 8.\nTherefore, the answer is 8 END'
    assert format_prompt(Q, 'ft_cot', 'encoder_decoder') == Q
    assert format_completion('8', 'He has 8.', 'ft_cot', 'encoder_decoder') == 'He has 8. --> 8 END'
    assert format_completion('8', None, 'vanilla', 'encoder_decoder') == '8 END'
    assert format_completion('8', 'r', stop='') == ' r --> 8'

def test_template_errors():
    with pytest.raises(FcotError, match='needs a decoder'): CurateConfig(template='natural', model_type='encoder_decoder')
    with pytest.raises(FcotError, match='unknown template'): CurateConfig(template='cot')
    with pytest.raises(FcotError, match='unknown model_type'): CurateConfig(model_type='encoder')

def test_wrong_answer_dropped_and_counted():
    samples, report = curate([rec(0, 0, ' 3 + 5 = 8.', '8'), rec(0, 1, ' 3 + 4 = 7.', '7')])
    assert [s['completion_index'] for s in samples] == [0]
    c = report.tasks['multiarith']
    assert (c.records, c.incorrect, c.kept) == (2, 1, 1)

def test_correctness_is_recomputed_numerically():
    # a stale `correct` flag is ignored; '3' matches the gold '3.0' numerically
    samples, report = curate([rec(0, 0, ' 1 + 2 = 3.', '3', gold='3.0', correct=False),
                              rec(1, 0, ' 1 + 1 = 3.', '3', gold='2', correct=True)])
    assert [s['id'] for s in samples] == ['multiarith-0'] and report.total.incorrect == 1
    assert samples[0]['completion'] == ' 1 + 2 = 3. --> 3.0 END'   # the gold answer, not the teacher's wording

def test_prediction_extracted_when_missing():
    r = rec(0, 0, ' 3 + 5 = 8.', None); del r['prediction']; r['completion'] = ' 8.'
    assert len(curate([r])[0]) == 1

def test_truncated_dropped_and_counted():
    samples, report = curate([rec(0, 0, ' We start with 3 apples and', '8', reason='length'), rec(1, 0, ' 3 + 5 = 8.', '8')])
    assert [s['id'] for s in samples] == ['multiarith-1'] and report.total.truncated == 1
    kept, _ = curate([rec(0, 0, ' cut', '8', reason='length')], CurateConfig(filter_truncated=False))
    assert len(kept) == 1

def test_truncation_heuristic_for_unknown_finish_reason():
    long_cut = ' '.join(['We add the apples of each friend and then'] * 12)
    assert looks_truncated(long_cut) and not looks_truncated(long_cut + '.') and not looks_truncated('3 + 5 = 8')
    r = rec(0, 0, long_cut + ' 8', '8', reason=None)
    assert is_truncated(r) and not is_truncated(r, CurateConfig(detect_truncation=False))
    assert not is_truncated(dict(r, reasoning_finish_reason='stop'))   # a known finish reason wins
    samples, report = curate([r])
    assert samples == [] and report.total.truncated == 1

def test_duplicates_dropped_per_question_after_whitespace_normalisation():
    recs = [rec(0, 0, ' 3 + 5 = 8.\nSo 8.', '8'), rec(0, 1, '3 + 5 = 8.  So 8.  ', '8'),
            rec(0, 2, ' 3 + 5 = 8. So 8 apples.', '8'), rec(1, 0, ' 3 + 5 = 8.\nSo 8.', '8')]
    samples, report = curate(recs)
    assert [(s['id'], s['completion_index']) for s in samples] == [('multiarith-0', 0), ('multiarith-0', 2), ('multiarith-1', 0)]
    assert report.total.duplicate == 1
    assert samples[0]['completion'] == ' 3 + 5 = 8.\nSo 8. --> 8 END'   # stripped, inner line breaks kept
    assert len(curate(recs, CurateConfig(dedupe=False))[0]) == 4

def test_counts_per_task_and_filter_order():
    recs = [rec(0, 0, ' 3 + 5 = 8.', '8'), rec(0, 1, ' 3 + 5 = 8.', '8'), rec(0, 2, ' wrong', '7', reason='length'),
            rec(1, 0, None, '8'), rec(2, 0, ' 3 + 5 = 8.', '8'),
            rec(0, 0, ' yes it is.', 'yes', gold='yes', task='coin_flip')]
    samples, report = curate(recs, ids=['multiarith-0', 'multiarith-1', 'coin_flip-0'])
    m, c = report.tasks['multiarith'], report.tasks['coin_flip']
    assert (m.records, m.outside_split, m.no_rationale, m.incorrect, m.truncated, m.duplicate, m.kept) == (5, 1, 1, 1, 0, 1, 1)
    assert (c.records, c.kept) == (1, 1)
    t = report.total
    assert t.records == t.outside_split + t.no_rationale + t.incorrect + t.truncated + t.duplicate + t.kept == 6
    table = str(report)
    assert 'multiarith' in table and 'coin_flip' in table and table.splitlines()[-1].split()[0] == 'total'

def test_vanilla_from_task_records():
    recs = [{'id': 'multiarith-3', 'task': 'multiarith', 'index': 3, 'question': Q, 'answer': '8', 'choices': None}]
    assert vanilla_samples(recs) == [{'id': 'multiarith-3', 'task': 'multiarith', 'sample_index': 3, 'completion_index': 0,
                                      'prompt': Q + ' ###', 'completion': ' 8 END', 'answer': '8', 'template': 'vanilla'}]
    assert vanilla_samples(recs, 'encoder_decoder')[0]['prompt'] == Q

def test_outputs_jsonl_dataset_config(tmp_path):
    samples, report = curate([rec(0, 0, ' 3 + 5 = 8.', '8')])
    assert list(samples[0]) == list(SAMPLE_FIELDS)
    p = save_curated(tmp_path, samples, report, CurateConfig())
    assert load_samples(p) == samples
    assert json.loads((tmp_path/'curate_report.json').read_text())['multiarith']['kept'] == 1
    assert CurateConfig.load(tmp_path/'curate_config.json') == CurateConfig()
    ds = to_dataset(samples)
    assert ds.column_names == list(SAMPLE_FIELDS) and ds[0]['prompt'] == 'Question 0? ###'

def test_real_recorded_teacher(real_data):
    from fcot.tasks import load_split
    samples, report = curate_recorded('multiarith', data_dir=real_data)
    c = report.tasks['multiarith']
    assert c.records == 600 and c.kept == len(samples) > 0
    assert c.records == c.outside_split + c.no_rationale + c.incorrect + c.truncated + c.duplicate + c.kept
    train_ids = {r['id'] for r in load_split('multiarith', data_dir=real_data)['train']}
    assert c.outside_split == 600 - len(train_ids) and {s['id'] for s in samples} <= train_ids
    assert all(s['completion'].endswith(' END') and ' --> ' in s['completion'] and s['prompt'].endswith(' ###') for s in samples)
    gold = {r['id']: r['answer'] for r in load_split('multiarith', data_dir=real_data)['train']}
    assert all(s['completion'].endswith(f" --> {gold[s['id']]} END") for s in samples)
