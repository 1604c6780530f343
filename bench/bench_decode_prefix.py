"""A Few-shot-CoT evaluation with the exemplars' key/value cache computed once and copied into every row
(`EvalConfig.share_prefix`, see `fcot.decoding._shared_prefix`) against computing them in every row, side by side.

The evaluation is the one a `smollm*` preset runs for its Few-shot-CoT baseline: the base SmolLM2-135M (`smollm2-135m`,
from the package registry) on a task's test questions with the paper's exemplars, batch 64 bounded at 32,768 positions,
up to 160 new tokens, in the precision this machine computes fastest (or `--dtype`). Each setting runs in a fresh process, the settings
in turns `--repeats` times; printed: seconds, peak resident memory (Linux's VmHWM) and, per turn and over the turns, the
shared prefix's speed-up and whether every answer text is the same. Needs the shared data.

    .venv/bin/python bench/bench_decode_prefix.py [--task date_understanding] [--n 64] [--threads 2] [--repeats 1] [--dtype bf16|fp32]
"""
import argparse, multiprocessing as mp, statistics
from bench_decode_memory import one   # one evaluation in a fresh process


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--task', default='date_understanding')
    ap.add_argument('--n', type=int, default=64)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--dtype', default=None, choices=['bf16', 'fp32'], help="default: this machine's fastest (fcot.students.fast_precision)")
    a = ap.parse_args()
    settings = {'every row': 0, 'shared prefix': 64}
    ctx, runs = mp.get_context('spawn'), {k: [] for k in settings}
    for r in range(a.repeats):
        for name, share in settings.items():
            q = ctx.Queue(); p = ctx.Process(target=one, args=(a.task, a.n, 32768, a.threads, q, share, a.dtype)); p.start()
            res = q.get(); p.join()
            runs[name].append(res)
            print(f"turn {r + 1}, {name}: {res['seconds']:.1f} s, peak {res['peak_gb']:.2f} GB, "
                  f"accuracy {res['accuracy']:.3f} of {res['n']}, {res['precision']}", flush=True)
    base, new = runs['every row'], runs['shared prefix']
    ratios = [x['seconds'] / y['seconds'] for x, y in zip(base, new)]
    diff = sum(sum(u != v for u, v in zip(x['texts'], y['texts'])) for x, y in zip(base, new))
    print(f"\n{a.task} Few-shot-CoT, {base[0]['n']} questions, batch 64, 160 new tokens, {base[0]['precision']}, {a.threads} threads, "
          f"{a.repeats} turn(s); medians:")
    for name, rs in runs.items():
        print(f"  {name}: {statistics.median(x['seconds'] for x in rs):.1f} s, peak {statistics.median(x['peak_gb'] for x in rs):.2f} GB")
    print(f"  shared prefix against every row: {statistics.median(ratios):.2f}x faster (turns {min(ratios):.2f}-{max(ratios):.2f}), "
          + ("every text the same" if not diff else f"{diff} of {len(base) * len(base[0]['texts'])} texts differ"))


if __name__ == '__main__':
    main()
