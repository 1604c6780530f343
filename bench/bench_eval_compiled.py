"""Decoding inside a compiled training run: the dev evaluation's decoding through the blocks `torch.compile` compiled
(`fcot.training._compile_blocks`) against the same model with those blocks back on their own forward
(`fcot.training._eager_blocks`, which `_run_eval` uses), side by side in one process, taking turns.

fcot's fast decoding step (`fcot.decoding`) stands down for replaced forwards, so decoding through compiled blocks takes
transformers' forward. The model is the base SmolLM2-135M (`smollm2-135m`, from the package registry), in fp32 (the
compiled path is the same in bf16), on Last Letter test prompts in the Fine-tune-CoT format, greedy; printed: seconds of
each turn, medians, the ratio turn by turn, and whether every text is the same as eager decoding before compiling.

    .venv/bin/python bench/bench_eval_compiled.py [--n 32] [--batch-size 32] [--max-new-tokens 64] [--threads 2] [--repeats 3]
"""
import argparse, statistics as st, time, warnings


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=32, help='test prompts')
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--max-new-tokens', type=int, default=64)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    import torch, transformers
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error(); warnings.filterwarnings('ignore')
    from fcot.decoding import batched_generate
    from fcot.presets import smollm_quick_config, RunSpec
    from fcot.runs import run_split
    from fcot.students import load_student
    from fcot.training import _compile_blocks, _eager_blocks
    model, tok = load_student('smollm2-135m', dtype=torch.float32)
    test = run_split(RunSpec('last_letter_concatenation', 'ft_cot', model='x'), smollm_quick_config(), ('test',))['test'][:a.n]
    prompts = [f"{r['question']} ###" for r in test]

    def decode():
        model.eval()
        with torch.no_grad():
            t = time.perf_counter()
            out = batched_generate(model, tok, prompts, a.max_new_tokens, a.batch_size, progress=False)
        return time.perf_counter() - t, out

    decode(); t_eager, ref = decode()   # a warm-up, then eager before compiling: the reference texts
    n = _compile_blocks(model)
    model.train(); x = tok(prompts[:4], return_tensors='pt', padding=True)
    model(**x, labels=x.input_ids).loss.backward(); model.zero_grad()   # one training step compiles, as in training
    decode()                                                             # the compiled blocks' first decoding compiles again
    C, E = 'through the compiled blocks', 'with _eager_blocks (as _run_eval)'
    times, same = {C: [], E: []}, True
    for _ in range(a.repeats):
        t, out = decode(); times[C].append(t); same &= out == ref
        with _eager_blocks(model): t, out = decode()
        times[E].append(t); same &= out == ref
    print(f"{a.n} Last Letter prompts, batch {a.batch_size}, {a.max_new_tokens} new tokens at most, fp32, {a.threads} threads; "
          f"{n} blocks compiled; eager before compiling: {t_eager:.2f} s")
    for k, v in times.items(): print(f"  {k:36s} {st.median(v):6.2f} s (range {min(v):.2f}-{max(v):.2f})")
    r = [c / e for c, e in zip(times[C], times[E])]
    print(f"_eager_blocks against the compiled blocks: {st.median(r):.2f}x (turn by turn {min(r):.2f}-{max(r):.2f}); "
          f"every text the same as eager decoding: {same}")


if __name__ == '__main__':
    main()
