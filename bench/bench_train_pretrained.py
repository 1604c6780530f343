"""Training throughput on a real pretrained student: fcot's `train_student` against Hugging Face `Trainer` configured as a
user of this job would configure it, on SmolLM2-135M (`smollm2-135m`, from the package registry), measured side by side in
one run, each trainer in its own fresh process (so that peak memory is its own).

Same model folder, same data (GSM8K training questions with their worked solutions as Fine-tune-CoT samples), same
tokenization and completion-only labels (`fcot.students.encode_sample`), batch size, learning rate, epochs and precision
(bf16 autocast). The Trainer gets `bf16=True`, `train_sampling_strategy="group_by_length"` and `save_strategy="no"`.
Throughput counts real (non-pad) tokens over the time of the training loop: `Trainer.train()` against fcot's epoch loop
(as recorded in metrics.jsonl; fcot's whole call, with loading and the final save, is printed too).

The same run measures this machine's 2048x2048 matmul peak in fp32 and bf16 and reports fcot's model FLOP/s
(6 x parameters x tokens/s) as a share of the bf16 peak. Goals: fcot >= 1.6x the Trainer and >= 50% of the bf16 peak.

    .venv/bin/python bench/bench_train_pretrained.py [--n 64] [--batch-size 8] [--threads 2] [--compile]
"""
import argparse, json, multiprocessing as mp, os, resource, shutil, sys, tempfile, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from bench_train import gsm8k_samples


def matmul_peak(dtype, n=2048, reps=10) -> float:
    import torch
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2): a @ b
    t = time.perf_counter()
    for _ in range(reps): a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def _quiet(threads):
    import torch, transformers
    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error(); transformers.utils.logging.disable_progress_bar(); warnings.filterwarnings('ignore')


def run_fcot(folder, samples, a, work, q):
    _quiet(a.threads)
    from fcot.core import read_jsonl
    from fcot.students import StudentConfig
    from fcot.training import train_student
    out = Path(work)/f'fcot-{time.time_ns()}'
    cfg = StudentConfig(model=folder, output_dir=str(out), epochs=a.epochs, batch_size=a.batch_size, lr=1e-4, precision='bf16',
                        compile=a.compile, save_every_epoch=False, progress=False)
    t0 = time.perf_counter(); train_student(cfg, samples); whole = time.perf_counter() - t0
    m = read_jsonl(out/'metrics.jsonl')
    shutil.rmtree(out, ignore_errors=True)
    q.put({'loop': sum(r['seconds'] for r in m), 'whole': whole, 'tokens': sum(r['tokens'] for r in m),
           'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run_hf(folder, samples, a, work, q):
    _quiet(a.threads)
    import datasets, torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments
    from fcot.students import encode_sample, load_student
    model, tok = load_student(folder)
    enc = [encode_sample(s, tok, False, 512) for s in samples]
    ds = datasets.Dataset.from_list([{**e, 'attention_mask': [1] * len(e['input_ids'])} for e in enc])
    targs = TrainingArguments(output_dir=str(Path(work)/f'hf-{time.time_ns()}'), per_device_train_batch_size=a.batch_size,
                              learning_rate=1e-4, num_train_epochs=a.epochs, bf16=True, train_sampling_strategy='group_by_length',
                              save_strategy='no', use_cpu=not torch.cuda.is_available(), report_to=[], disable_tqdm=True)
    trainer = Trainer(model=model, args=targs, train_dataset=ds, data_collator=DataCollatorForSeq2Seq(tok, model=model))
    t0 = time.perf_counter(); trainer.train(); secs = time.perf_counter() - t0
    shutil.rmtree(targs.output_dir, ignore_errors=True)
    q.put({'loop': secs, 'whole': secs, 'tokens': sum(len(e['input_ids']) for e in enc) * a.epochs,
           'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def in_process(fn, *args):
    ctx = mp.get_context('spawn'); q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q)); p.start(); r = q.get(); p.join()
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=64, help='training samples')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--compile', action='store_true', help="also time fcot with torch.compile")
    a = ap.parse_args()
    import torch
    from fcot.pretrained import fetch_pretrained
    _quiet(a.threads)
    folder = str(fetch_pretrained('smollm2-135m'))
    samples = gsm8k_samples(a.n)
    from transformers import AutoConfig
    from fcot.students import load_student, encode_sample
    model, tok = load_student(folder); n_params = sum(p.numel() for p in model.parameters()); del model
    enc = [encode_sample(s, tok, False, 512) for s in samples]
    lens = [len(e['input_ids']) for e in enc]
    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    print(f"student smollm2-135m ({n_params / 1e6:.1f}M parameters), {a.threads} threads; {a.n} GSM8K samples x {a.epochs} epoch, "
          f"batch {a.batch_size}, lengths {min(lens)}-{max(lens)} (mean {sum(lens) / len(lens):.0f}), bf16 autocast")
    print(f"matmul 2048x2048 on this machine: {peak32:.0f} GFLOP/s fp32, {peak16:.0f} GFLOP/s bf16")
    work = tempfile.mkdtemp(prefix='fcot-bench-train-')
    runs = {'Hugging Face Trainer (bf16, group_by_length)': in_process(run_hf, folder, samples, a, work),
            'fcot train_student (bf16)': in_process(run_fcot, folder, samples, a, work)}
    if a.compile:
        a.compile = True
        runs['fcot train_student (bf16, torch.compile)'] = in_process(run_fcot, folder, samples, a, work)
    shutil.rmtree(work, ignore_errors=True)
    tokens = runs['fcot train_student (bf16)']['tokens']
    assert all(r['tokens'] == tokens for r in runs.values()), {k: r['tokens'] for k, r in runs.items()}
    hf = tokens / runs['Hugging Face Trainer (bf16, group_by_length)']['loop']
    print(f"\n{'trainer':46s}{'loop s':>9s}{'whole s':>9s}{'tokens/s':>10s}{'vs Trainer':>11s}{'% bf16 peak':>12s}{'peak MB':>9s}")
    for name, r in runs.items():
        tps = tokens / r['loop']
        print(f"{name:46s}{r['loop']:9.1f}{r['whole']:9.1f}{tps:10.0f}{tps / hf:10.2f}x{100 * 6 * n_params * tps / 1e9 / peak16:11.0f}%{r['peak_mb']:9.0f}")
    best = max(tokens / r['loop'] for k, r in runs.items() if k.startswith('fcot'))
    print(f"\nfcot vs Trainer: {best / hf:.2f}x (goal >= 1.6x); fcot at {100 * 6 * n_params * best / 1e9 / peak16:.0f}% of the bf16 matmul peak (goal >= 50%)")


if __name__ == '__main__':
    main()
