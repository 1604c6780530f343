"""Evaluation end to end on tiny students built from configs (GPT-2 and T5) with tokenizers trained offline:
an overfit student answers its questions through evaluate_student, stop at END per sequence, baselines, exemplar exclusion."""
import json
import pytest, torch
from fcot.core import FcotError, write_json
from fcot.curate import format_prompt, format_completion
from fcot.decoding import batched_generate, StopOnStrings
from fcot.evaluate import evaluate_student, evaluate_baselines, EvalConfig, exclude_exemplars, few_shot_exemplars
from toy_models import train_toy_decoder, tiny_tokenizer, toy_samples

torch.set_num_threads(1)

def task_records():
    return [{'id': f'multiarith-{i}', 'task': 'multiarith', 'index': i, 'question': q, 'answer': a, 'choices': None}
            for i, (q, _, a) in enumerate(toy_samples())]

@pytest.fixture(scope='module')
def decoder_path(tmp_path_factory):
    "The toy GPT-2 overfit on four samples, saved with save_pretrained and its tokenizer."
    model, tok = train_toy_decoder()
    path = tmp_path_factory.mktemp('gpt2')
    model.save_pretrained(path); tok.save_pretrained(path)
    return path

@pytest.fixture(scope='module')
def decoder(decoder_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    return AutoModelForCausalLM.from_pretrained(decoder_path).eval(), AutoTokenizer.from_pretrained(decoder_path)

class CountForward:
    "Counts the model's forward calls (decoding steps) during generate."
    def __init__(self, model): self.n = 0; self.h = model.register_forward_hook(self)
    def __call__(self, *a): self.n += 1
    def close(self): self.h.remove()

def test_overfit_student_answers_through_saved_path(decoder_path, tmp_path):
    res = evaluate_student(str(decoder_path), task_records(), progress=False, out_dir=tmp_path)
    assert res.accuracy == 1.0 and (res.correct, res.total) == (4, 4)
    s = res.samples[2]
    assert s['id'] == 'multiarith-2' and s['prediction'] == '12' and s['answer'] == '12' and s['correct'] is True
    assert s['prompt'] == toy_samples()[2][0] + ' ###'
    assert s['completion'].strip() == 'Each day 4 pages . 3 days . 4 * 3 = 12 . So 12 pages . --> 12'
    lines = [json.loads(l) for l in (tmp_path/'predictions.jsonl').read_text().splitlines()]
    assert [l['correct'] for l in lines] == [True] * 4 and set(lines[0]) >= {'id', 'prompt', 'completion', 'prediction', 'answer', 'correct'}
    assert json.loads((tmp_path/'metrics.json').read_text())['accuracy'] == 1.0
    assert EvalConfig.load(tmp_path/'eval_config.json').template == 'ft_cot'

def test_wrong_gold_is_scored_wrong(decoder):
    model, tok = decoder
    recs = task_records(); recs[0]['answer'] = '9'
    res = evaluate_student(model, recs, tokenizer=tok, progress=False)
    assert [s['correct'] for s in res.samples] == [False, True, True, True] and res.accuracy == 0.75

def test_stop_at_end_per_sequence_in_a_batch(decoder):
    model, tok = decoder
    prompts = [format_prompt(q) for q, _, _ in toy_samples()]
    want = [format_completion(a, r)[:-len('END')].strip() for q, r, a in toy_samples()]   # '{rationale} --> {answer}'
    count = CountForward(model)
    outs = batched_generate(model, tok, prompts, max_new_tokens=100, batch_size=4, progress=False)
    steps = count.n; count.close()
    assert [o.strip() for o in outs] == want   # every row cut at its own END, nothing after it
    longest = max(len(tok(w + 'END')['input_ids']) for w in want)
    assert steps <= longest + 1 < 100   # the batch finished when its longest row reached END
    count = CountForward(model)
    plain = batched_generate(model, tok, prompts, max_new_tokens=100, batch_size=4, early_stop=False,
                             sort_by_length=False, progress=False)
    plain_steps = count.n; count.close()
    assert [o.strip() for o in plain] == want and plain_steps > steps   # same text, but ran past END

def test_stop_criterion_marks_rows_independently(decoder):
    _, tok = decoder
    crit = StopOnStrings(tok, ['END'], start=1)
    ids = torch.tensor([tok('--> 8 END')['input_ids'], tok('--> 8 is')['input_ids']])
    assert crit(ids).tolist() == [True, False]
    ids2 = torch.tensor([tok('--> 8 END 3')['input_ids'], tok('--> 8 is END')['input_ids']])
    assert crit(ids2).tolist() == [True, True]
    assert StopOnStrings(tok, ['END'], start=3)(torch.tensor([tok('END --> 8')['input_ids']])).tolist() == [False]  # prompt ignored

def test_batching_and_sorting_do_not_change_outputs(decoder):
    model, tok = decoder
    prompts = [format_prompt(q) for q, _, _ in toy_samples()]
    a = batched_generate(model, tok, prompts, 60, batch_size=3, progress=False)
    b = batched_generate(model, tok, prompts, 60, batch_size=1, sort_by_length=False, progress=False)
    assert a == b

def test_baselines_prompts_and_two_stage_zero_shot_cot(decoder):
    model, tok = decoder
    cfg = EvalConfig(progress=False, max_reasoning_tokens=12, max_answer_tokens=6)
    res = evaluate_baselines(model, task_records(), templates=('zero_shot', 'zero_shot_cot', 'vanilla', 'ft_cot'), config=cfg, tokenizer=tok)
    assert set(res) == {'zero_shot', 'zero_shot_cot', 'vanilla', 'ft_cot'} and res['ft_cot'].accuracy == 1.0
    q = toy_samples()[0][0]
    assert res['zero_shot'].samples[0]['prompt'] == f'Q: {q}\nA: The answer is'
    z = res['zero_shot_cot'].samples[0]
    assert z['prompt'] == f"Q: {q}\nA: Let's think step by step." + z['reasoning'] + '\nTherefore, the answer is'
    assert res['vanilla'].samples[0]['prompt'] == q + ' ###'

def test_few_shot_cot_excludes_exemplar_questions(decoder, tmp_path):
    model, tok = decoder
    recs = task_records()
    prompt = f"Q: {recs[1]['question']}\nA: 9 - 2 = 7 . The answer is 7 ."
    write_json(tmp_path/'reasoning_teacher'/'few_shot_cot_prompts.json',
               {'multiarith': {'prompt': prompt, 'sample_indices': [3], 'comment': 'test'}})
    res = evaluate_student(model, recs, template='few_shot_cot', tokenizer=tok, progress=False, data_dir=str(tmp_path),
                           max_new_tokens=10)
    assert res.excluded == ['multiarith-1', 'multiarith-3'] and res.total == 2
    assert res.samples[0]['prompt'] == prompt + f"\nQ: {recs[0]['question']}\nA:"
    keep = evaluate_student(model, recs, template='few_shot_cot', tokenizer=tok, progress=False, data_dir=str(tmp_path),
                            max_new_tokens=4, exclude_exemplars=False)
    assert keep.total == 4 and keep.excluded == []

def test_real_few_shot_exemplars_excluded(real_data):
    from fcot.tasks import load_split
    test = load_split('date_understanding', data_dir=real_data, parts=('test',))['test']
    ex = few_shot_exemplars('date_understanding', real_data)
    assert len(ex['questions']) == 6 and ex['prompt'].count('The answer is') == 6
    kept, excluded = exclude_exemplars(test, ex)
    assert excluded and len(kept) + len(excluded) == len(test)
    by_id = {r['id']: r for r in test}
    assert all(by_id[i]['index'] in ex['sample_indices'] for i in excluded)
    with pytest.raises(FcotError, match='no Few-shot-CoT exemplars'): few_shot_exemplars('tracking_shuffled_objects', real_data)

def _train_toy_t5(steps=150):
    from transformers import T5Config, T5ForConditionalGeneration
    torch.manual_seed(0)
    data = [(format_prompt(q, model_type='encoder_decoder'), format_completion(a, r, model_type='encoder_decoder'))
            for q, r, a in toy_samples()]
    tok = tiny_tokenizer([p + ' ' + c for p, c in data])
    model = T5ForConditionalGeneration(T5Config(vocab_size=len(tok), d_model=64, d_ff=128, d_kv=32, num_layers=2,
                                                num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                                                decoder_start_token_id=tok.pad_token_id))
    enc = tok([p for p, _ in data], padding=True, return_tensors='pt')
    lab = [tok(c)['input_ids'] + [tok.eos_token_id] for _, c in data]
    L = max(map(len, lab))
    labels = torch.tensor([l + [-100] * (L - len(l)) for l in lab])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad(); loss.backward(); opt.step()
    return model.eval(), tok

def test_encoder_decoder_student(tmp_path):
    model, tok = _train_toy_t5()
    model.save_pretrained(tmp_path); tok.save_pretrained(tmp_path)
    res = evaluate_student(str(tmp_path), task_records(), progress=False, batch_size=3)
    assert res.samples[0]['prompt'] == toy_samples()[0][0]   # the question alone
    assert res.accuracy == 1.0, res.samples
    assert res.samples[1]['completion'].strip() == '9 - 2 = 7 . --> 7'
    with pytest.raises(FcotError, match='needs a decoder'):
        evaluate_student(str(tmp_path), task_records(), template='natural', progress=False)

def test_errors(decoder):
    model, tok = decoder
    with pytest.raises(FcotError, match='needs the tokenizer'): evaluate_student(model, task_records())
    with pytest.raises(FcotError, match='unknown evaluation template'): evaluate_student(model, task_records(), template='cot', tokenizer=tok)
    with pytest.raises(FcotError, match='no records'): evaluate_student(model, [], tokenizer=tok)
    with pytest.raises(FcotError, match='does not fit'):
        batched_generate(model, tok, ['word ' * 200], 8, progress=False)
