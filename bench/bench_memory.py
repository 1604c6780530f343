"""Resident memory of a process that trains one student after another, as a worker of `fcot reproduce` does: with the
freed memory handed back after each epoch and run (`fcot.training.release_freed_memory`, what fcot does), and without it
(garbage collection alone, what it did before), side by side, each in its own fresh process.

Each run fine-tunes SmolLM2-135M (`smollm2-135m`) on GSM8K Fine-tune-CoT samples for one epoch (in the precision this
machine computes fastest: `fcot.students.bf16_is_fast`), then decodes a batch of prompts, as a preset's run trains and then
evaluates. A thread samples the resident set size every 0.2 s; printed: each run's peak and what is resident after it.

    .venv/bin/python bench/bench_memory.py [--runs 3] [--n 48] [--threads 2]
"""
import argparse, gc, multiprocessing as mp, re, shutil, sys, tempfile, threading, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from bench_train import gsm8k_samples


def rss_gb() -> float:
    return int(re.search(r'VmRSS:\s+(\d+)', open('/proc/self/status').read())[1]) / 2**20


def worker(release: bool, a, q):
    import torch, transformers
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error(); warnings.filterwarnings('ignore')
    import fcot.training
    from fcot.students import StudentConfig, fast_precision, load_student
    from fcot.decoding import batched_generate
    from fcot.pretrained import fetch_pretrained
    if not release: fcot.training.release_freed_memory = lambda: gc.collect()   # as before: garbage collection alone
    release_after_run = fcot.training.release_freed_memory
    folder, samples = str(fetch_pretrained('smollm2-135m')), gsm8k_samples(a.n)
    prompts = [s['prompt'] for s in samples[:32]]
    peak, stop = [0.0], threading.Event()
    def sample():
        while not stop.is_set(): peak[0] = max(peak[0], rss_gb()); time.sleep(0.2)
    threading.Thread(target=sample, daemon=True).start()
    work, rows = Path(tempfile.mkdtemp(prefix='fcot-bench-mem-')), []
    prec = fast_precision()
    for r in range(a.runs):
        peak[0] = rss_gb()
        cfg = StudentConfig(model=folder, output_dir=str(work/f'run{r}'), epochs=1, batch_size=8, lr=1e-4, precision=prec,
                            save_every_epoch=False, progress=False, seed=r)
        path = fcot.training.train_student(cfg, samples)
        model, tok = load_student(path)
        batched_generate(model, tok, prompts, 64, 32, progress=False)
        del model, tok
        release_after_run()   # a preset's worker does this after each run
        time.sleep(0.5)
        rows.append((peak[0], rss_gb()))
    stop.set(); shutil.rmtree(work, ignore_errors=True)
    q.put(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--n', type=int, default=48, help='training samples per run')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    ctx, res = mp.get_context('spawn'), {}
    for release in (True, False):
        q = ctx.Queue(); p = ctx.Process(target=worker, args=(release, a, q)); p.start(); res[release] = q.get(); p.join()
    print(f"{a.runs} runs in one process, each: SmolLM2-135M, {a.n} GSM8K samples x 1 epoch, then 32 prompts decoded; GB resident")
    print(f"{'run':>4s}{'peak, released':>16s}{'after, released':>17s}{'peak, gc alone':>16s}{'after, gc alone':>17s}")
    for i, ((p1, a1), (p0, a0)) in enumerate(zip(res[True], res[False])):
        print(f"{i + 1:4d}{p1:16.2f}{a1:17.2f}{p0:16.2f}{a0:17.2f}")
    print(f"\nhighest peak: {max(p for p, _ in res[True]):.2f} GB with release_freed_memory, "
          f"{max(p for p, _ in res[False]):.2f} GB with garbage collection alone")


if __name__ == '__main__':
    main()
