"""Decoding throughput of fcot's batched decoder (fcot.decoding.batched_generate) against
  (1) a one-question-at-a-time `model.generate()` loop (goal: >= 10x), and
  (2) plain batched `model.generate()`: same batch size, no length sorting, no stop at END (goal: >= 1.5x),
on the same model and the same prompts, measured side by side in one run.

The model is a small GPT-2 built from a config with a word-level tokenizer trained on the task text, briefly
overfit on synthetic Fine-tune-CoT samples (`{question} ###` -> ` {rationale} --> {answer} END`) whose rationales
have 1..8 steps, so it writes END by itself at varied lengths. As with the paper's GPT-3 students (fine-tuned with
END as the stop sequence) it is trained without an end-of-sequence token after END, so only a decoder that
watches for END can stop early. A further row isolates the gain of length sorting alone (plain batched generate
with the same per-sequence END stop).

  .venv/bin/python bench/bench_decode.py [--n 256] [--batch-size 64] [--max-new-tokens 128] [--threads 1] [--device cpu]
"""
import argparse, random, time
import torch
from transformers import GPT2Config, GPT2LMHeadModel, StoppingCriteriaList
from fcot.curate import format_prompt, format_completion
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tests'))
from toy_models import tiny_tokenizer   # a test fixture
from fcot.core import cut_at_stop
from fcot.decoding import batched_generate, StopOnStrings

NAMES = ['Tom', 'Ann', 'Bob', 'Eve', 'Sam', 'Kim', 'Lee', 'Max']
OBJS = ['apples', 'pens', 'cards', 'books', 'coins', 'eggs']
FILLER = ['It is a sunny day .', 'The shop is near the park .', 'Everyone is happy .', 'This happens in spring .']

def make_samples(n: int, seed: int = 0):
    "Synthetic word problems; more days mean a longer question and a longer rationale."
    rng, out = random.Random(seed), []
    for _ in range(n):
        name, obj = rng.choice(NAMES), rng.choice(OBJS)
        a, b, d = rng.randint(1, 20), rng.randint(1, 9), rng.randint(1, 8)
        filler = ' '.join(rng.sample(FILLER, k=min(len(FILLER), d // 2)))
        q = f"{name} has {a} {obj} . {filler} {name} gets {b} more {obj} each day for {d} days . How many {obj} does {name} have ?"
        steps, cur = [], a
        for i in range(1, d + 1):
            steps.append(f"Day {i} : {cur} + {b} = {cur + b} ."); cur += b
        out.append((' '.join(q.split()), ' '.join(steps), str(cur)))
    return out

def train_model(samples, steps: int, seed: int = 0):
    torch.manual_seed(seed)
    data = [(format_prompt(q), format_completion(a, r)) for q, r, a in samples]
    tok = tiny_tokenizer([p + c for p, c in data] + [' '.join(str(i) for i in range(400))])
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=128, n_layer=2, n_head=4,
                                       bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    seqs = [(tok(p)['input_ids'], tok(c)['input_ids']) for p, c in data]   # no EOS after END (stop-sequence style)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for step in range(steps):
        batch = random.Random(step).sample(seqs, k=min(32, len(seqs)))
        L = max(len(p) + len(c) for p, c in batch)
        x = torch.full((len(batch), L), tok.pad_token_id); y = torch.full((len(batch), L), -100)
        for i, (p, c) in enumerate(batch):
            x[i, :len(p)+len(c)] = torch.tensor(p + c); y[i, len(p):len(p)+len(c)] = torch.tensor(c)
        loss = model(input_ids=x, attention_mask=(x != tok.pad_token_id).long(), labels=y).loss
        opt.zero_grad(); loss.backward(); opt.step()
    return model.eval(), tok, loss.item()

def one_at_a_time(model, tok, prompts, max_new_tokens):
    "The naive loop: one generate() call per question (given the END stop too, which only helps it)."
    outs = []
    with torch.inference_mode():
        for p in prompts:
            ids = tok(p, return_tensors='pt')['input_ids']
            crit = StoppingCriteriaList([StopOnStrings(tok, ['END'], ids.shape[1])])
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 do_sample=False, use_cache=True, stopping_criteria=crit, pad_token_id=tok.pad_token_id)
            outs.append(cut_at_stop(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True), ['END'])[0])
    return outs

def hf_stop_strings(model, tok, prompts, max_new_tokens, batch_size):
    "Batched `generate(stop_strings=['END'], tokenizer=tok)`: transformers' own stop-string criterion, unsorted batches."
    tok.padding_side = 'left'
    outs = []
    for b in range(0, len(prompts), batch_size):
        enc = tok(prompts[b:b+batch_size], return_tensors='pt', padding=True, return_token_type_ids=False).to(model.device)
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, stop_strings=['END'],
                             tokenizer=tok, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        outs += [cut_at_stop(tok.decode(o[enc['input_ids'].shape[1]:], skip_special_tokens=True), ['END'])[0] for o in out]
    return outs

def timed(fn, repeats=1):
    best, out = float('inf'), None
    for _ in range(repeats):
        t = time.perf_counter(); out = fn(); best = min(best, time.perf_counter() - t)
    return best, out

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=256)
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--max-new-tokens', type=int, default=128)
    ap.add_argument('--train-steps', type=int, default=300)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--device', default='cpu')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    samples = make_samples(a.n)
    t = time.perf_counter()
    model, tok, loss = train_model(samples, a.train_steps)
    model.to(a.device)
    print(f"trained a {sum(p.numel() for p in model.parameters())/1e6:.2f}M-parameter GPT-2 for {a.train_steps} steps "
          f"in {time.perf_counter()-t:.0f}s (final loss {loss:.3f}); device {a.device}, {a.threads} thread(s)")
    prompts = [format_prompt(q) for q, _, _ in samples]
    kw = dict(max_new_tokens=a.max_new_tokens, batch_size=a.batch_size, progress=False)
    batched_generate(model, tok, prompts[:a.batch_size], **kw)   # warm-up

    t_fcot, out_fcot = timed(lambda: batched_generate(model, tok, prompts, **kw), a.repeats)
    t_plain, out_plain = timed(lambda: batched_generate(model, tok, prompts, sort_by_length=False, early_stop=False, **kw), a.repeats)
    t_nosort, _ = timed(lambda: batched_generate(model, tok, prompts, sort_by_length=False, **kw), a.repeats)
    t_one, out_one = timed(lambda: one_at_a_time(model, tok, prompts, a.max_new_tokens), 1)
    t_ours_gen, out_ours_gen = timed(lambda: batched_generate(model, tok, prompts, sort_by_length=False, shrink=False, **kw), a.repeats)
    try: t_hf, out_hf = timed(lambda: hf_stop_strings(model, tok, prompts, a.max_new_tokens, a.batch_size), a.repeats)
    except ValueError as e:   # StopStringCriteria detokenizes every vocabulary entry; a word-level tokenizer breaks it
        t_hf, out_hf, hf_error = float('nan'), [''] * len(prompts), f'{type(e).__name__}: {e}'
    else: hf_error = None

    ends = sum('-->' in o for o in out_fcot)
    ok = sum(o.split('-->')[-1].strip() == ans for o, (_, _, ans) in zip(out_fcot, samples))
    lens = sorted(len(tok(o)['input_ids']) for o in out_fcot)
    print(f"{a.n} questions, batch {a.batch_size}, max_new_tokens {a.max_new_tokens}; completions reach END after "
          f"{lens[0]}..{lens[-1]} tokens (median {lens[len(lens)//2]}); {ends} have '-->', {ok} answer correctly")
    assert out_fcot == out_plain == out_one == out_ours_gen, 'the decoders disagree'
    same_hf = sum(x.strip() == y.strip() for x, y in zip(out_hf, out_fcot))
    rows = [('fcot batched_generate (sorted, stop at END)', t_fcot),
            ('plain batched generate() (unsorted, no END stop)', t_plain),
            ('batched generate() + END stop, unsorted', t_nosort),
            ('one-question-at-a-time generate() loop', t_one),
            ("generate() + fcot's StopOnStrings, unsorted", t_ours_gen),
            ("generate(stop_strings=['END']) (transformers'), unsorted", t_hf)]
    print(f"\n{'decoder':52s} {'seconds':>8s} {'questions/s':>12s} {'fcot speed-up':>14s}")
    for name, s in rows:
        print(f"{name:52s} {s:8.2f} {a.n/s:12.1f} {s/t_fcot:13.2f}x")
    print(f"\nvs one-at-a-time loop: {t_one/t_fcot:.1f}x (goal >= 10x)   vs plain batched generate(): {t_plain/t_fcot:.2f}x (goal >= 1.5x)")
    if hf_error: print(f"stopping at END inside generate(): transformers' stop_strings cannot run with this tokenizer ({hf_error}); "
                       f"fcot's StopOnStrings works with any tokenizer ({t_ours_gen:.2f}s)")
    else: print(f"stopping at END inside generate(): fcot's StopOnStrings {t_ours_gen:.2f}s vs transformers' stop_strings {t_hf:.2f}s "
                f"= {t_hf/t_ours_gen:.2f}x; the same completions for {same_hf}/{a.n} questions")

if __name__ == '__main__':
    main()
