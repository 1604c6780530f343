"""Memory and speed of bf16 training on a CPU with the packed rows' shapes rounded up (`fcot.training._SHAPE_MULTIPLE`,
what fcot does) and with every batch its own shape (multiple 1, what it did before), side by side, each in its own
fresh process, taking turns.

In bf16 on a CPU PyTorch's matrix products go to oneDNN, which builds a kernel for each new shape, and the process's memory
grows with the shapes it meets; a packed row is as long as its batch's tokens. Each process fine-tunes SmolLM2-135M (`smollm2-135m`) with `fcot.training.train_student`
on `--n` GSM8K Fine-tune-CoT samples for one epoch, batch 8, as a preset's run does, `--runs` times one after another on
other samples each time (a preset's worker trains run after run); a thread samples the resident set size every 0.2 s.
Printed per setting and run: the peak and what is resident after it, the training tokens/s and the mean loss (the same
data and seed in both settings: the losses differ only by rounding).

Needs a CPU with fast bf16 (AVX512-BF16 or AMX; `fcot.students.bf16_is_fast`); elsewhere fcot trains in fp32 and rounds
no shapes.

    .venv/bin/python bench/bench_shapes.py [--n 400] [--runs 2] [--threads 2]
"""
import argparse, multiprocessing as mp, shutil, sys, tempfile, threading, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from bench_train import gsm8k_samples
from bench_memory import rss_gb


def worker(multiple: int, a, q):
    import torch, transformers
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error(); warnings.filterwarnings('ignore')
    import fcot.training
    from fcot.core import read_jsonl
    from fcot.students import StudentConfig
    from fcot.pretrained import fetch_pretrained
    fcot.training._SHAPE_MULTIPLE = multiple
    folder, samples = str(fetch_pretrained('smollm2-135m')), gsm8k_samples(a.n * a.runs)
    peak, stop = [0.0], threading.Event()
    def sample():
        while not stop.is_set(): peak[0] = max(peak[0], rss_gb()); time.sleep(0.2)
    threading.Thread(target=sample, daemon=True).start()
    work, rows = Path(tempfile.mkdtemp(prefix='fcot-bench-shapes-')), []
    for r in range(a.runs):
        peak[0] = rss_gb()
        cfg = StudentConfig(model=folder, output_dir=str(work/f'run{r}'), epochs=1, batch_size=8, lr=1e-4, precision='bf16',
                            save_every_epoch=False, progress=False, seed=0)
        fcot.training.train_student(cfg, samples[r * a.n:(r + 1) * a.n])   # other questions each run, as a preset's runs have
        m = read_jsonl(work/f'run{r}'/'metrics.jsonl')   # one row an epoch: its tokens, seconds and mean loss
        tokens, secs = sum(x['tokens'] for x in m), sum(x['seconds'] for x in m)
        loss = sum(x['loss'] * x['tokens'] for x in m) / tokens
        fcot.training.release_freed_memory(); time.sleep(0.5)
        rows.append((peak[0], rss_gb(), tokens / secs, loss))
    stop.set(); shutil.rmtree(work, ignore_errors=True)
    q.put(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=400, help='training samples per run')
    ap.add_argument('--runs', type=int, default=2, help='runs one after another in each process')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    from fcot.students import bf16_is_fast
    from fcot.training import _SHAPE_MULTIPLE
    if not bf16_is_fast(): sys.exit('this CPU has no fast bf16: fcot trains in fp32 here and rounds no shapes')
    ctx, res = mp.get_context('spawn'), {}
    for multiple in (_SHAPE_MULTIPLE, 1):
        q = ctx.Queue(); p = ctx.Process(target=worker, args=(multiple, a, q)); p.start(); res[multiple] = q.get(); p.join()
    print(f"SmolLM2-135M, bf16, {a.n} GSM8K samples x 1 epoch, batch 8, {a.threads} threads, {a.runs} runs on other samples in each process")
    print(f"{'shapes rounded up to':>22s}{'run':>5s}{'peak GB':>9s}{'after GB':>10s}{'tokens/s':>10s}{'mean loss':>11s}")
    for multiple, rows in res.items():
        for i, (pk, after, tps, loss) in enumerate(rows):
            print(f"{multiple:>22d}{i + 1:>5d}{pk:9.2f}{after:10.2f}{tps:10.0f}{loss:11.5f}")
    (m, r), (_, r1) = res.items()
    print(f"\nrounded ({m}) / each batch its own shape: peak memory {max(x[0] for x in r) / max(x[0] for x in r1):.2f}x, "
          f"tokens/s {sum(x[2] for x in r) / sum(x[2] for x in r1):.2f}x")


if __name__ == '__main__':
    main()
