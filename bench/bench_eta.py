"""How well `fcot reproduce`'s progress bar foretells the time left, replayed over a finished run's measured run times.

The runs of a preset's output folder (`results.jsonl`, each row's `seconds`) are dealt to `--workers` workers in the order
the preset runs them, each to the first free worker, as `fcot reproduce --workers N` does; at each finished run the bar's
time left is computed as tqdm computes it (its moving average of the rate, `smoothing=0.3`, or the average since the start,
`smoothing=0`) from the runs' weights, and compared with the time really left. Printed: the median and 90th percentile of
the relative error over the points with more than 10 minutes left, for the weights fcot uses (`fcot.reproduce._cost`),
the weights it used before 2026-12-07, and one weight per run.

    FCOT_DATA_DIR=../shared/data .venv/bin/python bench/bench_eta.py outputs/smollm [--workers 2]
"""
import argparse, statistics
from pathlib import Path
from fcot.core import read_jsonl
from fcot.presets import PresetConfig, STUDENT_BASELINES
from fcot.reproduce import _cost, _split_sizes, plan


def earlier_cost(spec, sizes):   # fcot.reproduce._cost before 2026-12-07
    n_train, n_test = sizes.get((spec.task, spec.split), (None, None))
    if spec.method in STUDENT_BASELINES: return (n_test or 150) * (1 if spec.method == 'zero_shot' else 4)
    if spec.method not in ('vanilla', 'ft_cot'): return 1 if spec.method == 'teacher' else 0.1
    return (spec.n_train or n_train or 400) * (7 if spec.method == 'vanilla' else 20 * spec.D)


def replay(runs, seconds, cost, smoothing, workers):
    free, ends = [0.0] * workers, []
    for s in runs:   # each run to the first free worker, in the preset's order
        i = min(range(workers), key=free.__getitem__); free[i] += seconds[s.key]; ends.append((free[i], s))
    ends.sort(key=lambda e: e[0])
    end, total = ends[-1][0], sum(map(cost, runs))
    done, last, ema_dn, ema_dt, errors = 0.0, 0.0, None, None, []
    for t, s in ends[:-1]:
        dn, dt, last = cost(s), t - last, t
        done += dn
        if smoothing:   # tqdm's EMA of the increments and of the time between them
            ema_dn = dn if ema_dn is None else smoothing * dn + (1 - smoothing) * ema_dn
            ema_dt = dt if ema_dt is None else smoothing * dt + (1 - smoothing) * ema_dt
            rate = ema_dn / ema_dt if ema_dt else None
        else: rate = done / t if t else None
        if rate and end - t > 600: errors.append(abs((total - done) / rate - (end - t)) / (end - t))
    errors.sort()
    return statistics.median(errors), errors[int(0.9 * len(errors))], len(errors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('out_dir', help="a preset's output folder with results.jsonl")
    ap.add_argument('--workers', type=int, default=2)
    a = ap.parse_args()
    out = Path(a.out_dir)
    cfg = PresetConfig.load(out/'preset_config.json')
    sizes, (runs, _) = _split_sizes(cfg), plan(cfg)
    seconds = {r['key']: r['seconds'] or 0.0 for r in read_jsonl(out/'results.jsonl')}
    runs = [s for s in runs if s.key in seconds]
    print(f"{out}: {len(runs)} runs, {sum(seconds[s.key] for s in runs) / 3600:.1f} h of run time, {a.workers} workers")
    for name, cost in [("fcot's weights", lambda s: _cost(s, sizes)), ('weights before 2026-12-07', lambda s: earlier_cost(s, sizes)),
                       ('one per run', lambda s: 1.0)]:
        for smoothing in (0.3, 0):
            med, p90, n = replay(runs, seconds, cost, smoothing, a.workers)
            print(f"{name:26s} smoothing {smoothing:<3}: error of the time left, median {med:4.0%}, 90th percentile {p90:4.0%} ({n} points)")


if __name__ == '__main__': main()
