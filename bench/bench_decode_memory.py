"""Peak memory and time of an evaluation with long prompts, with and without a bound on a decoding batch's positions
(`EvalConfig.max_batch_tokens`: rows x (longest prompt + new tokens), see `fcot.decoding._batches`), side by side.

The evaluation is the one a `smollm*` preset runs for its Few-shot-CoT baseline: the base SmolLM2-135M (`smollm2-135m`,
from the package registry) on a task's test questions with the paper's exemplars (Date Understanding's prompts are about
1,370 tokens), batch 64, up to 160 new tokens, in the precision this machine computes fastest, the exemplars' cache
computed once (`share_prefix`, the default; the README's figures for the bound were measured before it). Each setting runs in a
fresh process (so that no earlier allocation counts), the settings in turns `--repeats` times; printed: seconds, peak
resident memory (Linux's VmHWM) and, for each bounded setting, its ratios to the unbounded one and whether every answer
text is the same. Needs the shared data.

    .venv/bin/python bench/bench_decode_memory.py [--task date_understanding] [--n 64] [--budgets none,32768] [--threads 2] [--repeats 1]
"""
import argparse, multiprocessing as mp, statistics, time, warnings


def one(task: str, n: int, budget, threads: int, q, share_prefix: int = 64, precision: str|None = None):
    "One Few-shot-CoT evaluation in this process (in `precision`, default the machine's fastest); puts its seconds, peak memory and texts on `q` (`bench_decode_prefix.py` uses it too)."
    import torch, transformers
    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error(); warnings.filterwarnings('ignore')
    from fcot.core import peak_memory_gb
    from fcot.evaluate import EvalConfig, evaluate_student, load_model
    from fcot.pretrained import fetch_pretrained
    from fcot.students import fast_precision
    from fcot.tasks import load_split
    prec = precision or fast_precision()
    model, tok = load_model(str(fetch_pretrained('smollm2-135m')), dtype=prec)
    records = load_split(task)['test'][:n]
    cfg = EvalConfig(template='few_shot_cot', batch_size=64, max_batch_tokens=budget, share_prefix=share_prefix, max_new_tokens=160,
                     progress=False)
    base = peak_memory_gb(reset=True)
    t = time.perf_counter()
    res = evaluate_student((model, tok), records, task, config=cfg)
    q.put({'seconds': time.perf_counter() - t, 'peak_gb': peak_memory_gb(), 'before_gb': base, 'precision': prec,
           'texts': [s['completion'] for s in res.samples], 'accuracy': res.accuracy, 'n': res.total})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--task', default='date_understanding')
    ap.add_argument('--n', type=int, default=64)
    ap.add_argument('--budgets', default='none,32768', help='comma-separated max_batch_tokens values; none: no bound')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=1)
    a = ap.parse_args()
    budgets = [None if b.strip().lower() == 'none' else int(b) for b in a.budgets.split(',')]
    ctx, runs = mp.get_context('spawn'), {b: [] for b in budgets}
    for r in range(a.repeats):
        for b in budgets:
            q = ctx.Queue(); p = ctx.Process(target=one, args=(a.task, a.n, b, a.threads, q)); p.start()
            res = q.get(); p.join()
            runs[b].append(res)
            print(f"turn {r + 1}, max_batch_tokens={b}: {res['seconds']:.1f} s, peak {res['peak_gb']:.2f} GB "
                  f"(model loaded: {res['before_gb']:.2f} GB), accuracy {res['accuracy']:.3f} of {res['n']}, {res['precision']}", flush=True)
    ref = runs[budgets[0]]
    print(f"\n{a.task} Few-shot-CoT, {ref[0]['n']} questions, batch 64, 160 new tokens, {ref[0]['precision']}, {a.threads} threads, "
          f"{a.repeats} turn(s); medians:")
    for i, b in enumerate(budgets):
        s, pk = statistics.median(x['seconds'] for x in runs[b]), statistics.median(x['peak_gb'] for x in runs[b])
        line = f"  max_batch_tokens={b}: {s:.1f} s, peak {pk:.2f} GB"
        if i:   # each later setting against the first
            same = all(x['texts'] == y['texts'] for x, y in zip(runs[b], ref))
            diff = sum(u != v for u, v in zip(runs[b][0]['texts'], ref[0]['texts']))
            line += (f"; against {budgets[0]}: time {s / statistics.median(x['seconds'] for x in ref):.2f}x, "
                     f"peak memory {pk / statistics.median(x['peak_gb'] for x in ref):.2f}x, "
                     + ("the same texts" if same else f"{diff} of {len(ref[0]['texts'])} texts differ"))
        print(line)


if __name__ == '__main__':
    main()
