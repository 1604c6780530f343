"""Decoding throughput on a real pretrained student: fcot's evaluation decoding (`fcot.decoding.batched_generate`, which
drops finished rows from the batch) against batched `model.generate(stop_strings=[...], tokenizer=...)` on the same prompts,
measured side by side in one run, with the greedy outputs compared text for text.

The student is SmolLM2-135M (`smollm2-135m`, from the package registry) fine-tuned here for one epoch on Last Letter
Concatenation's Fine-tune-CoT samples (the recorded text-davinci-002 teacher; needs the shared data), so that it writes
`{rationale} --> {answer} END` and stops at varied lengths, as in evaluation. Prompts are that task's test questions
(`{question} ###`). New tokens/s counts the tokens up to and including the stop, the same count for every decoder.
Goal: >= 1.5x the new tokens/s of batched generate(stop_strings). The decoders take turns `--repeats` times (times are
medians; fcot's first turn includes timing its matmul orders and widths, about 3 s once per process). The last line
estimates what a decoder that calls the model's forward as transformers ships it can reach at this batch size: that forward
timed for the prefill and for one step of the full batch, times the number of full-batch steps that the new tokens amount
to; fcot gets past it by computing a Llama model's decoding step in one function, features first
(`fcot.cpu_decoding._llama_step`, in bf16 with fcot's C++ attention, RMSNorm and argmax kernels where a compiler built them;
`FCOT_CPU_KERNELS=0` measures it without them; other models: weight-first matmuls, `_weight_first_linears`, and its own
attention for one query per row, `_decoding_attention`). `bench_decode_levers.py` measures the levers fcot does not
ship (refilling the batch, a static cache with torch.compile, prompt lookup, larger batches) against the same baseline.

    .venv/bin/python bench/bench_decode_pretrained.py [--n 64] [--batch-size 64] [--max-new-tokens 128] [--threads 2] [--repeats 3] [--dtype bf16|fp32]
                                                      [--fp32-reference]

The dtype defaults to bf16 where this machine computes it (`fcot.students.bf16_is_fast`), else fp32. In bf16 greedy text
changes at near-ties with the order of a sum, so texts are also compared by their extracted answers, with each decoder's
accuracy; `--fp32-reference` compares every decoder with `generate` in fp32 instead of in the same dtype (decoded once more).
"""
import argparse, shutil, statistics, tempfile, time, warnings
from pathlib import Path


def fine_tuned_student(work: Path, threads: int, precision: str) -> Path:
    from fcot.presets import smollm_quick_config, RunSpec
    from fcot.runs import run_split, teacher_records
    from fcot.curate import curate, CurateConfig
    from fcot.students import StudentConfig
    from fcot.training import train_student
    cfg = smollm_quick_config()
    split = run_split(RunSpec('last_letter_concatenation', 'ft_cot', model='smollm2-135m'), cfg, ('train',))
    recs, _ = teacher_records('text-davinci-002', cfg, split['train'], 'last_letter_concatenation')
    samples, _ = curate(recs, CurateConfig())
    return train_student(StudentConfig(model='smollm2-135m', output_dir=str(work/'student'), epochs=1, lr=1e-4, precision=precision,
                                       save_every_epoch=False, progress=False), samples)


def generate_stop_strings(model, tok, prompts, a, sort: bool):
    "Batched generate() with the stop string, as a user would call it (left padding, same batch size)."
    import torch
    order = sorted(range(len(prompts)), key=lambda i: -len(tok(prompts[i]).input_ids)) if sort else list(range(len(prompts)))
    out = [None] * len(prompts)
    tok.padding_side = 'left'
    with torch.inference_mode():
        for b in range(0, len(order), a.batch_size):
            idx = order[b:b + a.batch_size]
            enc = tok([prompts[i] for i in idx], return_tensors='pt', padding=True)
            g = model.generate(**enc, max_new_tokens=a.max_new_tokens, do_sample=False, stop_strings=['END'], tokenizer=tok,
                               pad_token_id=tok.pad_token_id)
            for i, row in zip(idx, g[:, enc.input_ids.shape[1]:].tolist()): out[i] = row
    texts = []
    for row in out:
        cut = next((j for j, t in enumerate(row) if t == tok.eos_token_id), len(row))
        t = tok.decode(row[:cut], skip_special_tokens=True)
        texts.append(t[:t.find('END')] if 'END' in t else t)
    return texts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=64, help='test prompts')
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--max-new-tokens', type=int, default=128)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3, help='runs of each decoder, taking turns; times are medians')
    ap.add_argument('--dtype', default=None, choices=['bf16', 'fp32'], help='default: bf16 where this machine computes it, else fp32')
    ap.add_argument('--student', default=None, help='a fine-tuned student folder (default: fine-tune one here, about 2 minutes)')
    ap.add_argument('--fp32-reference', action='store_true', help='compare texts and answers with generate in fp32 (bf16 runs)')
    a = ap.parse_args()
    import torch, transformers
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error(); transformers.utils.logging.disable_progress_bar(); warnings.filterwarnings('ignore')
    from fcot.decoding import batched_generate
    from fcot.students import load_student, fast_precision
    a.dtype = a.dtype or fast_precision()
    from fcot.presets import smollm_quick_config, RunSpec
    from fcot.runs import run_split
    work = Path(tempfile.mkdtemp(prefix='fcot-bench-decode-'))
    t = time.perf_counter()
    folder = Path(a.student) if a.student else fine_tuned_student(work, a.threads, a.dtype)
    print(f"student: {folder} ({'given' if a.student else f'fine-tuned here in {time.perf_counter() - t:.0f} s'})")
    model, tok = load_student(folder, dtype={'bf16': torch.bfloat16, 'fp32': torch.float32}[a.dtype])
    test = run_split(RunSpec('last_letter_concatenation', 'ft_cot', model='x'), smollm_quick_config(), ('test',))['test'][:a.n]
    prompts = [f"{r['question']} ###" for r in test]
    batched_generate(model, tok, prompts[:4], 8, progress=False)   # warm-up
    decoders = [('fcot batched_generate (drops finished rows)',
                 lambda: batched_generate(model, tok, prompts, a.max_new_tokens, a.batch_size, progress=False)),
                ('fcot batched_generate, shrink=False (generate + own stop)',
                 lambda: batched_generate(model, tok, prompts, a.max_new_tokens, a.batch_size, shrink=False, progress=False)),
                ('generate(stop_strings), length-sorted batches', lambda: generate_stop_strings(model, tok, prompts, a, True)),
                ('generate(stop_strings), batches as given', lambda: generate_stop_strings(model, tok, prompts, a, False))]
    times, texts = {}, {}
    for rep in range(a.repeats):   # the decoders take turns, so that a slow spell of the machine hits them alike
        for name, fn in decoders:
            t = time.perf_counter(); texts[name] = fn(); times.setdefault(name, []).append(time.perf_counter() - t)
    rows = {name: (statistics.median(times[name]), texts[name]) for name, _ in decoders}
    ref, ref_name = rows['generate(stop_strings), length-sorted batches'][1], f'generate(stop_strings), length-sorted, {a.dtype}'
    if a.fp32_reference and a.dtype != 'fp32':
        ref, ref_name = generate_stop_strings(load_student(folder, dtype=torch.float32)[0], tok, prompts, a, True), 'generate(stop_strings), fp32'
    shutil.rmtree(work, ignore_errors=True)
    new_tokens = sum(min(a.max_new_tokens, len(tok(t + ' END', add_special_tokens=False).input_ids)) for t in ref)
    lens = sorted(len(tok(t, add_special_tokens=False).input_ids) for t in ref)
    print(f"{a.n} prompts, batch {a.batch_size}, max {a.max_new_tokens} new tokens, {a.dtype}, {a.threads} threads; completions "
          f"{lens[0]}..{lens[-1]} tokens (median {lens[len(lens) // 2]}), {new_tokens} new tokens in all")
    base = rows['generate(stop_strings), batches as given'][0]
    from fcot.answers import extract, answers_match
    from fcot.stats import wilson, mcnemar
    answer = lambda t: extract(t, 'last_letter_concatenation')
    right = lambda ts: [answer(t) is not None and answers_match(answer(t), r['answer'], 'string') for t, r in zip(ts, test)]
    print(f"texts and answers compared with {ref_name}; accuracy with its 95% Wilson interval")
    print(f"\n{'decoder':58s}{'seconds (range)':>17s}{'new tok/s':>11s}{'vs generate(stop_strings)':>27s}{'same text':>11s}{'same answer':>13s}{'accuracy':>22s}")
    for name, (s, texts) in rows.items():
        same = sum(x.strip() == y.strip() for x, y in zip(texts, ref))
        same_ans = sum(answer(x) == answer(y) for x, y in zip(texts, ref))
        k = sum(right(texts)); lo, hi = wilson(k, len(texts))
        span = f"{s:.1f} ({min(times[name]):.1f}-{max(times[name]):.1f})"
        print(f"{name:58s}{span:>17s}{new_tokens / s:11.0f}{base / s:26.2f}x{same:>6d}/{len(ref)}{same_ans:>8d}/{len(ref)}"
              f"{f'{k}/{len(texts)} [{lo:.2f}, {hi:.2f}]':>22s}")
    m = mcnemar(right(rows['fcot batched_generate (drops finished rows)'][1]), right(rows['generate(stop_strings), batches as given'][1]))
    print(f"fcot against generate(stop_strings), right answers on the same questions: exact McNemar p = {m['p']:.3g} "
          f"({m['a_only']} right only with fcot, {m['b_only']} only with generate)")
    fc = rows['fcot batched_generate (drops finished rows)'][0]
    pair = sorted(g / f for g, f in zip(times['generate(stop_strings), batches as given'], times['fcot batched_generate (drops finished rows)']))
    print(f"\nfcot vs batched generate(stop_strings): {base / fc:.2f}x new tokens/s (goal >= 1.5x; turn by turn {pair[0]:.2f}-{pair[-1]:.2f}x); "
          f"vs the same length-sorted batches: {rows['generate(stop_strings), length-sorted batches'][0] / fc:.2f}x")
    pre, step = forward_times(model, tok, prompts[:a.batch_size])
    batches = -(-len(prompts) // a.batch_size)
    est = batches * pre + new_tokens / min(a.batch_size, len(prompts)) * step
    print(f"transformers' forward at batch {min(a.batch_size, len(prompts))}: prefill {pre:.2f} s, one decoding step {step * 1e3:.0f} ms "
          f"(median of 12); the {new_tokens} new tokens are {new_tokens / min(a.batch_size, len(prompts)):.0f} full-batch steps' worth, "
          f"so a decoder that calls this forward unchanged needs about {est:.1f} s ({base / est:.2f}x generate), fcot {fc:.1f} s")


def forward_times(model, tok, prompts) -> tuple[float, float]:
    "Seconds of the model's own forward on `prompts` in one batch: the prefill (last position's logits), and one new token per row."
    import torch
    tok.padding_side = 'left'
    enc = tok(prompts, return_tensors='pt', padding=True)
    with torch.inference_mode():
        for _ in range(2):
            t = time.perf_counter(); out = model(**enc, use_cache=True, logits_to_keep=1); pre = time.perf_counter() - t
        cache, ids, mask, ts = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True), enc.attention_mask, []
        for _ in range(12):
            mask = torch.cat([mask, torch.ones(len(prompts), 1, dtype=mask.dtype)], 1)
            t = time.perf_counter(); o = model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True)
            ts.append(time.perf_counter() - t)
            cache, ids = o.past_key_values, o.logits[:, -1].argmax(-1, keepdim=True)
    return pre, statistics.median(ts)


if __name__ == '__main__':
    main()
