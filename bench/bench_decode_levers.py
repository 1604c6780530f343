"""The usual levers for faster greedy decoding, measured side by side in one run on a real pretrained student, each against
batched `model.generate(stop_strings=[...])` on the same prompts, with the greedy outputs compared text for text.

`bench_decode_pretrained.py` measures what fcot ships (`fcot.decoding.batched_generate`, which drops finished rows from
the batch). This script measures the levers that fcot does *not* ship, to show why:

- **refill**: continuous batching; as rows finish, the next prompts are prefilled and join the running batch (their
  key/value caches left-padded to the running width);
- **static cache + torch.compile**: a fixed-shape `StaticCache` and a compiled decoding step (inductor, with
  `emulate_precision_casts` so that bf16 rounding follows eager), batches padded to full size;
- **prompt lookup** (speculative decoding with n-gram drafts from the prompt and the text so far): an estimate from the
  measured cost of a forward pass over 1..4 new tokens and the drafts' acceptance on the reference outputs;
- **larger batches**: fcot's decoder at 2x and 4x the batch size (a different setting, not a different decoder).

Same student as `bench_decode_pretrained.py` (SmolLM2-135M fine-tuned here for one epoch on Last Letter, or `--student`),
the task's test prompts, bf16 weights. In bf16 the text of a row can change with the rows batched with it (their padding
changes the order of sums), so text is compared with generate over fcot's length-sorted batches. New tokens/s counts the reference's tokens up to and including the stop.

    .venv/bin/python bench/bench_decode_levers.py [--n 150] [--batch-size 64] [--max-new-tokens 128] [--threads 2] [--student DIR]

About 5 minutes (compiling takes about one).
"""
import argparse, shutil, sys, tempfile, time, warnings
from collections import deque
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from bench_decode_pretrained import fine_tuned_student, generate_stop_strings


def _cache_of(out):
    return out.cache if getattr(out, 'cache', None) is not None else out.past_key_values


def _left_join(a, b, width: int, d: int):
    "Rows of `a` then of `b`, each left-padded with zeros to `width` along dimension `d` (negative)."
    shape = list(a.shape); shape[0] += b.shape[0]; shape[d] = width
    out = a.new_zeros(shape)
    out[:a.shape[0]].narrow(d, width - a.shape[d], a.shape[d]).copy_(a)
    out[a.shape[0]:].narrow(d, width - b.shape[d], b.shape[d]).copy_(b)
    return out


def greedy_refill(model, seqs, max_new: int, eos, pad: int, batch_size: int, stop_fn, refill: int):
    "Greedy decoding with finished rows dropped and, once `refill` rows are free, the next prompts joining the batch."
    import torch
    from fcot.decoding import _pad_batch
    queue, new, rows, eos = deque(range(len(seqs))), [[] for _ in seqs], [], set(eos)
    cache = mask = last = nxt = None
    while queue or rows:
        free = batch_size - len(rows)
        if queue and (not rows or free >= min(refill, len(queue))):
            idx = [queue.popleft() for _ in range(min(free, len(queue)))]
            ids, m = _pad_batch([seqs[i] for i in idx], pad, left=True)
            pos = (m.cumsum(-1) - 1).clamp(min=0)
            out = model(input_ids=ids, attention_mask=m, position_ids=pos, use_cache=True, logits_to_keep=1)
            c, t = _cache_of(out), out.logits[:, -1].argmax(-1)
            if not rows: cache, mask, last, nxt = c, m, pos[:, -1], t
            else:
                lead = int(mask.any(0).long().argmax())   # drop the leading positions no row attends to
                for l in cache.layers: l.keys, l.values = l.keys[..., lead:, :], l.values[..., lead:, :]
                mask = mask[:, lead:]
                width = max(mask.shape[1], m.shape[1])
                for l, lc in zip(cache.layers, c.layers):
                    l.keys, l.values = _left_join(l.keys, lc.keys, width, -2), _left_join(l.values, lc.values, width, -2)
                mask, last, nxt = _left_join(mask, m, width, -1), torch.cat([last, pos[:, -1]]), torch.cat([nxt, t])
            rows = rows + idx
        done = []
        for r, t in zip(rows, nxt.tolist()):
            new[r].append(t)
            done.append(t in eos or len(new[r]) >= max_new or stop_fn(new[r]))
        if any(done):
            keep = [j for j, d in enumerate(done) if not d]
            rows = [rows[j] for j in keep]
            if not rows: continue
            k = torch.tensor(keep)
            cache.batch_select_indices(k)
            mask, last, nxt = mask[k], last[k], nxt[k]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], 1); last = last + 1
        out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last[:, None], use_cache=True, cache=cache)
        cache, nxt = _cache_of(out), out.logits[:, -1].argmax(-1)
    return new


def greedy_static_compiled(model, seqs, max_new: int, eos, pad: int, batch_size: int, stop_fn, step):
    "Greedy decoding batch by batch with a StaticCache and the compiled `step`; batches padded to `batch_size` rows."
    import torch
    from transformers import StaticCache
    eos, new, L = set(eos), [], max(map(len, seqs))   # every batch padded to one shape: one compiled graph
    for b in range(0, len(seqs), batch_size):
        chunk = seqs[b:b + batch_size]
        rows_in = chunk + [chunk[-1]] * (batch_size - len(chunk))
        ids = torch.tensor([[pad] * (L - len(s)) + list(s) for s in rows_in])
        m = torch.tensor([[0] * (L - len(s)) + [1] * len(s) for s in rows_in])
        cache = StaticCache(config=model.config, max_cache_len=L + max_new)
        mask = torch.zeros(batch_size, L + max_new, dtype=torch.long); mask[:, :L] = m
        pos = (m.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=m, position_ids=pos, cache=cache, use_cache=True, logits_to_keep=1,
                    cache_position=torch.arange(L))
        nxt, last, rows, done = out.logits[:, -1].argmax(-1), pos[:, -1], [[] for _ in chunk], [False] * len(chunk)
        for s in range(max_new):
            for j, t in enumerate(nxt.tolist()[:len(chunk)]):
                if done[j]: continue
                rows[j].append(t)
                done[j] = t in eos or len(rows[j]) >= max_new or stop_fn(rows[j])
            if all(done): break
            mask[:, L + s] = 1; last = last + 1
            nxt = step(nxt[:, None], mask, last[:, None], cache, torch.tensor([L + s]))[:, -1].argmax(-1)
        new += rows
    return new


def forward_cost(model, batch: int, context: int, qs=(1, 2, 3, 4), reps: int = 5) -> dict:
    "Median seconds of one forward pass over q new tokens per row, after `context` cached tokens, at this batch size."
    import copy, torch
    x = torch.randint(0, model.config.vocab_size, (batch, context))
    cache = _cache_of(model(input_ids=x, use_cache=True, logits_to_keep=1))
    out = {}
    for q in qs:
        ts = []
        for _ in range(reps):
            c = copy.deepcopy(cache); y = torch.randint(0, model.config.vocab_size, (batch, q))
            t = time.perf_counter()
            model(input_ids=y, attention_mask=torch.ones(batch, context + q, dtype=torch.long), cache=c, use_cache=True, logits_to_keep=q)
            ts.append(time.perf_counter() - t)
        out[q] = sorted(ts)[reps // 2]
    return out


def lookup_steps(context: list[int], target: list[int], k: int, ngram: int = 3) -> int:
    "Forward passes greedy decoding of `target` needs when each proposes up to `k` tokens copied after the latest match of the last 1..`ngram` tokens."
    seq, i, steps = list(context) + target[:1], 1, 0   # the first token comes from the prompt's forward pass
    while i < len(target):
        draft = []
        for n in range(min(ngram, len(seq) - 1), 0, -1):
            tail = seq[-n:]
            j = next((j for j in range(len(seq) - n - 1, -1, -1) if seq[j:j + n] == tail), None)
            if j is not None: draft = seq[j + n:j + n + k]; break
        acc = 0
        while acc < len(draft) and i + acc < len(target) and draft[acc] == target[i + acc]: acc += 1
        seq += target[i:i + acc + 1]; i += acc + 1; steps += 1
    return steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=150, help='test prompts (Last Letter has 150)')
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--max-new-tokens', type=int, default=128)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--student', default=None, help='a fine-tuned student folder (default: fine-tune one here, about 2 minutes)')
    a = ap.parse_args()
    import torch, transformers
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error(); transformers.utils.logging.disable_progress_bar(); warnings.filterwarnings('ignore')
    import torch._inductor.config as inductor_config
    inductor_config.emulate_precision_casts = True
    from fcot.decoding import batched_generate, _special_ids, _decode_new
    from fcot.students import load_student
    from fcot.presets import smollm_quick_config, RunSpec
    from fcot.runs import run_split
    work = Path(tempfile.mkdtemp(prefix='fcot-bench-levers-'))
    folder = Path(a.student) if a.student else fine_tuned_student(work, a.threads)
    model, tok = load_student(folder, dtype=torch.bfloat16); model.eval()
    test = run_split(RunSpec('last_letter_concatenation', 'ft_cot', model='x'), smollm_quick_config(), ('test',))['test'][:a.n]
    prompts = [f"{r['question']} ###" for r in test]
    pad, eos = _special_ids(model, tok)
    ids = [tok(p)['input_ids'] for p in prompts]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))   # fcot's length-sorted order
    stop_fn = lambda toks: 'END' in tok.decode(toks[-5:])

    def in_order(new):   # token rows in `order` -> texts in prompt order
        texts = [None] * len(ids)
        for i, t in zip(order, _decode_new(tok, new, eos, pad, ['END'])): texts[i] = t
        return texts

    def step(i, mask, p, cache, cp):
        return model(input_ids=i, attention_mask=mask, position_ids=p, cache=cache, use_cache=True, cache_position=cp).logits
    compiled = torch.compile(step, dynamic=False)
    seqs = [ids[i] for i in order]
    with torch.inference_mode():
        batched_generate(model, tok, prompts[:4], 8, progress=False)   # warm-up
        t = time.perf_counter()
        greedy_static_compiled(model, seqs, a.max_new_tokens, eos, pad, a.batch_size, lambda toks: len(toks) >= 3, compiled)
        compile_s = time.perf_counter() - t
        runs = [('generate(stop_strings), batches as given', lambda: generate_stop_strings(model, tok, prompts, a, False)),
                ('generate(stop_strings), length-sorted batches', lambda: generate_stop_strings(model, tok, prompts, a, True)),
                ('fcot batched_generate (drops finished rows; shipped)',
                 lambda: batched_generate(model, tok, prompts, a.max_new_tokens, a.batch_size, progress=False)),
                (f'refill when {max(1, a.batch_size // 8)} rows are free',
                 lambda: in_order(greedy_refill(model, seqs, a.max_new_tokens, eos, pad, a.batch_size, stop_fn, max(1, a.batch_size // 8)))),
                ('refill when 1 row is free',
                 lambda: in_order(greedy_refill(model, seqs, a.max_new_tokens, eos, pad, a.batch_size, stop_fn, 1))),
                ('static cache + torch.compile (after compiling)',
                 lambda: in_order(greedy_static_compiled(model, seqs, a.max_new_tokens, eos, pad, a.batch_size, stop_fn, compiled))),
                (f'fcot batched_generate at batch {2 * a.batch_size}',
                 lambda: batched_generate(model, tok, prompts, a.max_new_tokens, 2 * a.batch_size, progress=False)),
                (f'fcot batched_generate at batch {4 * a.batch_size}',
                 lambda: batched_generate(model, tok, prompts, a.max_new_tokens, 4 * a.batch_size, progress=False))]
        rows = {}
        for name, fn in runs:
            t = time.perf_counter(); texts = fn(); rows[name] = (time.perf_counter() - t, texts)
        cost = forward_cost(model, a.batch_size, len(seqs[0]) + 60)
    shutil.rmtree(work, ignore_errors=True)
    base_s = rows['generate(stop_strings), batches as given'][0]
    ref = rows['generate(stop_strings), length-sorted batches'][1]   # the levers decode in this order too
    targets = [tok(t + ' END', add_special_tokens=False).input_ids[:a.max_new_tokens] for t in ref]
    new_tokens = sum(map(len, targets))
    print(f"{a.n} Last Letter test prompts, batch {a.batch_size}, max {a.max_new_tokens} new tokens, bf16, {a.threads} threads; "
          f"{new_tokens} new tokens in all; compiling took {compile_s:.0f} s (not counted below)\n")
    print("speed against generate with its batches as given (as a user calls it); same text against generate with fcot's "
          "length-sorted batches (the same rows batched together, so the same arithmetic)")
    print(f"{'decoder':58s}{'seconds':>9s}{'new tok/s':>11s}{'vs generate(stop_strings)':>27s}{'same text':>11s}")
    for name, (s, texts) in rows.items():
        same = sum(x.strip() == y.strip() for x, y in zip(texts, ref))
        print(f"{name:58s}{s:9.1f}{new_tokens / s:11.0f}{base_s / s:26.2f}x{same:>6d}/{len(ref)}")
    # prompt lookup: a batch runs until its longest row is done, one forward pass per step
    print(f"\nprompt lookup (estimate): one forward pass at batch {a.batch_size} over q new tokens per row costs "
          + ', '.join(f"q={q}: {s * 1e3:.0f} ms" for q, s in cost.items()))
    batches = [order[b:b + a.batch_size] for b in range(0, len(order), a.batch_size)]
    plain = sum(max(len(targets[i]) for i in bt) for bt in batches) * cost[1]
    for k in (1, 2, 3):
        steps = sum(max(lookup_steps(ids[i], targets[i], k) for i in bt) for bt in batches)
        print(f"  drafts of up to {k} token(s): {steps} steps x {cost[k + 1] * 1e3:.0f} ms against "
              f"{sum(max(len(targets[i]) for i in bt) for bt in batches)} x {cost[1] * 1e3:.0f} ms: {plain / (steps * cost[k + 1]):.2f}x")


if __name__ == '__main__':
    main()
