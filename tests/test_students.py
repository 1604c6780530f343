"""Student fine-tuning (fcot.students, fcot.training): overfitting tiny students, saving and loading, the completion-only loss,
exact resume, 2-process DDP on CPU (gloo) and LoRA. Offline: every model is built from a config."""
import json, shutil
from pathlib import Path

import pytest
import torch
import transformers

from fcot.core import FcotError, read_jsonl
from fcot.students import StudentConfig, CompletionLoss, build_student, collate, encode_sample, load_student, train_tokenizer
from fcot.training import greedy_complete, spawn_train, train_student

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()

SAMPLES = [
    {'prompt': 'How many legs do 3 ducks have? ###', 'completion': ' Each duck has 2 legs. 3 * 2 = 6. --> 6 END'},
    {'prompt': 'How many legs do 4 cats have? ###', 'completion': ' Each cat has 4 legs. 4 * 4 = 16. --> 16 END'},
    {'prompt': 'Tom has 5 apples and eats 2. How many are left? ###',
     'completion': ' Tom starts with 5 apples. He eats 2, so 5 - 2 = 3. --> 3 END'},
    {'prompt': 'A box holds 6 eggs. How many eggs are in 2 boxes? ###', 'completion': ' Each box holds 6 eggs. 2 * 6 = 12. --> 12 END'},
    {'prompt': 'Ann had 7 pens and gave away 4. How many does she have? ###',
     'completion': ' Ann had 7 pens. She gave 4 away, so 7 - 4 = 3. --> 3 END'},
]
NO_DROPOUT_GPT2 = {'embd_pdrop': 0.0, 'resid_pdrop': 0.0, 'attn_pdrop': 0.0}


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_decoder_overfits_and_answers_after_reload(tmp_path):
    cfg = StudentConfig(model='gpt2-tiny', output_dir=str(tmp_path/'run'), epochs=50, lr=3e-3, batch_size=2,
                        tokenizer_kind='bpe', vocab_size=400, scratch_config=NO_DROPOUT_GPT2, progress=False)
    out = train_student(cfg, SAMPLES)
    log = read_jsonl(out/'metrics.jsonl')
    assert [r['epoch'] for r in log] == list(range(1, 51))
    assert log[-1]['loss'] < 0.1 * log[0]['loss']
    assert all(r['tokens'] > 0 and r['tokens_per_s'] > 0 for r in log)
    assert (out/'model.safetensors').exists() and (out/'tokenizer.json').exists()
    model, tok = load_student(out)                                   # the real loading path
    assert type(model).__name__ == 'GPT2LMHeadModel'
    assert [greedy_complete(model, tok, s['prompt']) for s in SAMPLES] == [s['completion'] for s in SAMPLES]


def test_t5_overfits_and_answers_after_reload(tmp_path):
    samples = [{'prompt': s['prompt'][:-4], 'completion': s['completion']} for s in SAMPLES[:4]]   # question alone
    cfg = StudentConfig(model='t5-tiny', output_dir=str(tmp_path/'t5'), epochs=60, lr=3e-3, batch_size=2,
                        tokenizer_kind='word', scratch_config={'dropout_rate': 0.0}, progress=False)
    out = train_student(cfg, samples)
    log = read_jsonl(out/'metrics.jsonl')
    assert log[-1]['loss'] < 0.1 * log[0]['loss']
    model, tok = load_student(out)
    assert model.config.is_encoder_decoder
    assert [greedy_complete(model, tok, s['prompt']) for s in samples] == [s['completion'] for s in samples]


def test_loss_is_on_completion_tokens_only():
    tok = train_tokenizer([s['prompt'] + s['completion'] for s in SAMPLES], kind='word')
    model, tok = build_student('gpt2-tiny', tokenizer=tok)
    model.eval()
    encs = [encode_sample(s, tok, encoder_decoder=False) for s in SAMPLES[:3]]
    for s, e in zip(SAMPLES, encs):
        n_prompt = len(tok(s['prompt']).input_ids)
        n_comp = len(tok(s['completion'], add_special_tokens=False).input_ids) + 1       # + EOS
        assert e['labels'] == [-100]*n_prompt + e['input_ids'][n_prompt:]
        assert len(e['input_ids']) == n_prompt + n_comp and e['input_ids'][-1] == tok.eos_token_id
    batch = collate(encs, tok.pad_token_id, encoder_decoder=False)
    total, n = CompletionLoss(model)(batch)
    assert n == sum(len(tok(s['completion'], add_special_tokens=False).input_ids) + 1 for s in SAMPLES[:3])
    # the same loss as the model's own, given the masked labels; a loss over every token would differ
    ref = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'], labels=batch['labels']).loss
    assert torch.allclose(total / n, ref, atol=1e-5)
    unmasked = batch['input_ids'].masked_fill(batch['attention_mask'] == 0, -100)
    full = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'], labels=unmasked).loss
    assert not torch.allclose(full, ref, atol=1e-3)


class Crash(Exception):
    pass


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    # default dropout (0.1): exercises the random states saved with each checkpoint; 5 samples, batch 2: a short last batch
    base = dict(model='gpt2-tiny', epochs=3, lr=1e-3, batch_size=2, vocab_size=300, warmup_steps=2, progress=False)
    def noisy_eval(model, tok, epoch):                # evaluation draws random numbers: must not change training
        torch.rand(5); return {'dev_accuracy': 0.5}
    full = train_student(StudentConfig(output_dir=str(tmp_path/'full'), **base), SAMPLES, eval_fn=noisy_eval)
    assert read_jsonl(full/'metrics.jsonl')[0]['dev_accuracy'] == 0.5

    def crash_at_2(model, tok, epoch):
        if epoch == 2: raise Crash()
    cfg = StudentConfig(output_dir=str(tmp_path/'cut'), **base)
    with pytest.raises(Crash): train_student(cfg, SAMPLES, eval_fn=crash_at_2)
    assert sorted(p.name for p in (tmp_path/'cut'/'checkpoints').iterdir()) == ['epoch-001', 'epoch-002']
    assert not (tmp_path/'cut'/'train_done.json').exists()
    with pytest.raises(FcotError, match='resume=True'): train_student(cfg.replace(resume=False), SAMPLES)
    cut = train_student(cfg, SAMPLES)
    a, b = weights(load_student(full)[0]), weights(load_student(cut)[0])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    la, lb = read_jsonl(full/'metrics.jsonl'), read_jsonl(cut/'metrics.jsonl')
    assert la[2]['loss'] == lb[-1]['loss'] and lb[-1]['epoch'] == 3
    # and a resumed run really differs from a fresh one with another seed (the comparison can fail)
    other = train_student(StudentConfig(output_dir=str(tmp_path/'other'), **{**base, 'seed': 1}), SAMPLES)
    c = weights(load_student(other)[0])
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_two_process_ddp_matches_one_process(tmp_path):
    base = dict(model='gpt2-tiny', epochs=2, lr=1e-3, batch_size=4, vocab_size=300, scratch_config=NO_DROPOUT_GPT2,
                progress=False)
    one = train_student(StudentConfig(output_dir=str(tmp_path/'one'), **base), SAMPLES)
    two = spawn_train(StudentConfig(output_dir=str(tmp_path/'two'), **base), SAMPLES, nprocs=2)
    assert json.loads((two/'train_done.json').read_text())['processes'] == 2
    l1, l2 = read_jsonl(one/'metrics.jsonl'), read_jsonl(two/'metrics.jsonl')
    assert len(l2) == 2 and l2[-1]['loss'] < l2[0]['loss']
    for r1, r2 in zip(l1, l2):
        assert r2['loss'] == pytest.approx(r1['loss'], rel=1e-4) and r2['tokens'] == r1['tokens']
    a, b = weights(load_student(one)[0]), weights(load_student(two)[0])
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_lora_trains_only_adapters_and_resumes(tmp_path):
    pytest.importorskip('peft')
    model, tok = build_student('gpt2-tiny', texts=[s['prompt'] + s['completion'] for s in SAMPLES], vocab_size=300)
    model.save_pretrained(tmp_path/'base'); tok.save_pretrained(tmp_path/'base')   # a "pretrained" local student
    before = weights(model)
    base = dict(model=str(tmp_path/'base'), epochs=2, lr=1e-2, batch_size=2, lora=True, lora_r=4, lora_merge=False,
                progress=False)
    out = train_student(StudentConfig(output_dir=str(tmp_path/'lora'), **base), SAMPLES)
    assert (out/'adapter_config.json').exists() and not (out/'model.safetensors').exists()
    lora, _ = load_student(out)
    after = weights(lora)
    adapters = [k for k in after if 'lora_' in k]
    assert adapters and any(k.endswith('lora_B.default.weight') and after[k].abs().sum() > 0 for k in adapters)
    frozen = {k.replace('base_model.model.', '').replace('base_layer.', ''): v for k, v in after.items() if 'lora_' not in k}
    assert frozen.keys() == before.keys() and all(torch.equal(frozen[k], before[k]) for k in before)
    # resuming a LoRA run from its adapter checkpoint gives the uninterrupted result
    def crash(model, tok, epoch):
        if epoch == 1: raise Crash()
    cfg = StudentConfig(output_dir=str(tmp_path/'lora2'), **base)
    with pytest.raises(Crash): train_student(cfg, SAMPLES, eval_fn=crash)
    again = weights(load_student(train_student(cfg, SAMPLES))[0])
    assert all(torch.equal(after[k], again[k]) for k in after)


def test_clear_errors(tmp_path):
    with pytest.raises(FcotError, match='folder not found'): load_student(tmp_path/'missing'/'student')
    with pytest.raises(FcotError, match='could not load student model'):
        load_student('no-such-org/no-such-student', local_files_only=True)
    (tmp_path/'empty').mkdir()
    with pytest.raises(FcotError, match='no saved model'): load_student(tmp_path/'empty')
    with pytest.raises(FcotError, match='precision fp16 needs a GPU'):
        train_student(StudentConfig(output_dir=str(tmp_path/'x'), precision='fp16', device='cpu', progress=False), SAMPLES)
    with pytest.raises(FcotError, match="no text field 'completion'"):
        train_student(StudentConfig(output_dir=str(tmp_path/'y')), [{'prompt': 'q', 'answer': '1'}])
    with pytest.raises(FcotError, match=r"unknown StudentConfig option\(s\) \['learning_rate'\]"):
        StudentConfig.from_dict({'learning_rate': 1e-3})

def test_metrics_row_survives_a_death_after_the_checkpoint(tmp_path):
    "Killed between saving an epoch's checkpoint and writing its metrics row, a resumed run still has every epoch's row (issue 13)."
    base = dict(model='gpt2-tiny', epochs=2, lr=1e-3, batch_size=2, vocab_size=300, progress=False, output_dir=str(tmp_path/'s'))
    def crash_at_1(model, tok, epoch):
        if epoch == 1: raise Crash()
        return {'dev_accuracy': 0.25}
    with pytest.raises(Crash): train_student(StudentConfig(**base), SAMPLES, eval_fn=crash_at_1)
    assert not (tmp_path/'s'/'metrics.jsonl').exists() and (tmp_path/'s'/'checkpoints'/'epoch-001').exists()
    out = train_student(StudentConfig(**base), SAMPLES, eval_fn=lambda m, t, e: {'dev_accuracy': 0.5})
    rows = read_jsonl(out/'metrics.jsonl')
    assert [r['epoch'] for r in rows] == [1, 2] and rows[0]['dev_accuracy'] == 0.5 and rows[0]['loss'] > 0

def test_a_damaged_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    "A truncated trainer_state.pt or model file in the newest checkpoint: resume from the intact one before it, and say so (issue 13)."
    base = dict(model='gpt2-tiny', epochs=3, lr=1e-3, batch_size=2, vocab_size=300, warmup_steps=2, progress=False, keep_checkpoints=0)
    full = train_student(StudentConfig(output_dir=str(tmp_path/'full'), **base), SAMPLES)
    def crash_at_3(model, tok, epoch):
        if epoch == 3: raise Crash()
    for name in ('trainer_state.pt', 'model.safetensors'):
        cfg = StudentConfig(output_dir=str(tmp_path/name), **base)
        with pytest.raises(Crash): train_student(cfg, SAMPLES, eval_fn=lambda m, t, e: crash_at_3(m, t, e) or {})
        shutil.rmtree(tmp_path/name/'checkpoints'/'epoch-003')            # as if it died during epoch 3...
        f = tmp_path/name/'checkpoints'/'epoch-002'/name                    # ...with epoch 2's checkpoint cut short
        f.write_bytes(f.read_bytes()[:200])
        capsys.readouterr()
        cut = train_student(cfg.replace(progress=True), SAMPLES)
        assert 'epoch-002 is damaged' in capsys.readouterr().out
        a, b = weights(load_student(full)[0]), weights(load_student(cut)[0])
        assert all(torch.equal(a[k], b[k]) for k in a), name               # resumed from epoch 1: the same student

def test_resume_refuses_other_samples_and_rebuilds_a_stale_init(tmp_path):
    "A checkpoint trained on other samples (another template) is never continued; a failed run's init/ is not reused (issue 13)."
    base = dict(model='gpt2-tiny', epochs=2, lr=1e-3, batch_size=2, vocab_size=300, progress=False, output_dir=str(tmp_path/'s'))
    def crash(model, tok, epoch): raise Crash()
    with pytest.raises(Crash): train_student(StudentConfig(**base), SAMPLES, eval_fn=crash)
    vanilla = [{**s, 'completion': ' ' + s['completion'].split('-->')[-1].strip()} for s in SAMPLES]
    with pytest.raises(FcotError, match='trained on other samples'): train_student(StudentConfig(**base), vanilla)
    # a run that failed after building its student (init/) but before any checkpoint, then another architecture
    odd = StudentConfig(**{**base, 'output_dir': str(tmp_path/'t'), 'scratch_config': {'n_layer': 1}})
    with pytest.raises(Crash): train_student(odd.replace(save_every_epoch=False), SAMPLES, eval_fn=crash)
    assert (tmp_path/'t'/'init').exists() and not (tmp_path/'t'/'checkpoints').exists()
    out = train_student(odd.replace(scratch_config=None), SAMPLES)
    assert load_student(out)[0].config.n_layer == 2          # gpt2-tiny's own depth, as student_config.json says
