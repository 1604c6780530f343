"""Training throughput on a real pretrained student: fcot's `train_student` against Hugging Face `Trainer` configured as a
user of this job would configure it, on SmolLM2-135M (`smollm2-135m`, from the package registry), measured side by side in
one run, each trainer in its own fresh process (so that peak memory is its own).

Same model folder, same data (GSM8K training questions with their worked solutions as Fine-tune-CoT samples), same
tokenization and completion-only labels (`fcot.students.encode_sample`), batch size, learning rate, epochs and precision:
bf16 autocast where this machine has bf16 arithmetic (`fcot.students.bf16_is_fast`: AVX512-BF16, AMX or a GPU), else fp32
(PyTorch emulates bf16 elsewhere, many times slower; `--precision` overrides). The Trainer gets `bf16=True` with bf16, `train_sampling_strategy="group_by_length"` and `save_strategy="no"`.
A second Trainer row adds the glibc allocator setting fcot's trainer makes on CPU (`fcot.training._keep_freed_memory`), so
that the allocator's share of fcot's lead is visible. A second fcot row trains on padded batches instead of packed rows
(`fcot.students._pack`; with --compile, compiled both ways too), and in bf16 a third with SDPA's own attention backward in place of fcot's CPU one
(`fcot.attention._cpu_attention`), a fourth with packed rows not rounded up to 64 tokens (`fcot.training._SHAPE_MULTIPLE`) and a fifth with transformers'
RMSNorm in place of fcot's fused C++ one (`fcot.kernels._use_fused_norms`), so that these levers' shares are visible too.
Throughput counts real (non-pad) tokens over the time of the training loop: `Trainer.train()` against fcot's epoch loop
(as recorded in metrics.jsonl; fcot's whole call, with loading and the final save, is printed too).

The same run measures this machine's 2048x2048 matmul peak in fp32 (and in bf16 when training in bf16) and reports fcot's
model FLOP/s (6 x parameters x tokens/s) as a share of the peak in the training precision. Goals: fcot >= 1.6x the Trainer
and >= 50% of that peak.
It also measures a ceiling for any trainer of this job: per optimizer step, only the model's own matmuls (forward and both
backward ones, every linear layer at the step's mean real-token count, the output head at its completion positions, in the
training precision,
operands made beforehand) and one fused AdamW step, nothing else; that rate, as a share of the same peak, estimates the
most a trainer doing the same arithmetic can reach at this batch size (best of a few repetitions, no padding counted).

    .venv/bin/python bench/bench_train_pretrained.py [--n 64] [--epochs 2] [--batch-size 8] [--threads 2] [--compile] [--repeats 3]
                                                     [--precision auto|bf16|fp32]

With --epochs 2 the last epoch gives a steady-state rate (after torch.compile's compiling, with warm allocator caches).
"""
import argparse, json, multiprocessing as mp, os, resource, shutil, sys, tempfile, time, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from bench_train import gsm8k_samples


def matmul_peak(dtype, n=2048, reps=10) -> float:
    "GFLOP/s of an n x n matmul in `dtype`: the fastest of `reps` after two warm-ups (a peak, so shares of it are not flattered)."
    import torch
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2): a @ b
    ts = []
    for _ in range(reps): t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
    return 2 * n**3 / min(ts) / 1e9


def ceiling(model, tokens_per_step: int, completions_per_step: int, dtype, reps: int = 3) -> dict:
    "Seconds per optimizer step of the model's matmuls alone (forward and both backward ones, in `dtype`) and of one fused AdamW step."
    import torch
    shapes = [(m.in_features, m.out_features, completions_per_step if n.endswith('lm_head') else tokens_per_step)
              for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    def timed(fn):
        fn(); ts = []
        for _ in range(reps): t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
        return min(ts)
    mats = [[torch.randn(r, c, dtype=dtype) for r, c in ((rows, i), (o, i), (rows, o))] for i, o, rows in shapes]
    def run():
        for x, w, dy in mats: torch.mm(x, w.T); torch.mm(dy, w); torch.mm(dy.T, x)
    t_mm = timed(run); del mats
    params = [p.detach().clone().requires_grad_() for p in model.parameters()]
    for p in params: p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)
    t_opt = timed(opt.step)
    flops = sum(6 * i * o * rows for i, o, rows in shapes)
    return {'matmul_s': t_mm, 'adamw_s': t_opt, 'matmul_gflops': flops / t_mm / 1e9}


def _quiet(threads):
    import torch, transformers
    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error(); transformers.utils.logging.disable_progress_bar(); warnings.filterwarnings('ignore')


def run_fcot(folder, samples, a, work, q):
    _quiet(a.threads)
    from fcot.core import read_jsonl
    from fcot.students import StudentConfig
    import fcot.training
    from fcot.training import train_student
    if a.sdpa_backward:   # SDPA's own attention backward, for comparison
        use = fcot.training._use_cpu_attention
        fcot.training._use_cpu_attention = lambda model, backward=True, packed=False: use(model, False, packed)
    if a.padded: fcot.training._PACKED_TYPES = set()   # padded batches, as before packing, for comparison
    if a.unrounded: fcot.training._SHAPE_MULTIPLE = 1   # each packed row its own length (bf16 on a CPU rounds it up), for comparison
    if a.plain_norms: fcot.training._use_fused_norms = lambda model: 0   # transformers' RMSNorm, for comparison
    out = Path(work)/f'fcot-{time.time_ns()}'
    cfg = StudentConfig(model=folder, output_dir=str(out), epochs=a.epochs, batch_size=a.batch_size, lr=1e-4, precision=a.precision,
                        compile=a.compile, save_every_epoch=False, progress=False)
    t0 = time.perf_counter(); train_student(cfg, samples); whole = time.perf_counter() - t0
    m = read_jsonl(out/'metrics.jsonl')
    shutil.rmtree(out, ignore_errors=True)
    q.put({'loop': sum(r['seconds'] for r in m), 'whole': whole, 'tokens': sum(r['tokens'] for r in m),
           'last_epoch_tps': m[-1]['tokens'] / m[-1]['seconds'], 'loss': m[-1]['loss'],
           'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run_hf(folder, samples, a, work, q):
    _quiet(a.threads)
    if a.hf_allocator:   # the same glibc setting fcot's trainer makes on CPU, for an allocator-for-allocator comparison
        from fcot.training import _keep_freed_memory
        _keep_freed_memory()
    import datasets, torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments
    from fcot.students import encode_sample, load_student
    model, tok = load_student(folder)
    enc = [encode_sample(s, tok, False, 512) for s in samples]
    ds = datasets.Dataset.from_list([{**e, 'attention_mask': [1] * len(e['input_ids'])} for e in enc])
    targs = TrainingArguments(output_dir=str(Path(work)/f'hf-{time.time_ns()}'), per_device_train_batch_size=a.batch_size,
                              learning_rate=1e-4, num_train_epochs=a.epochs, bf16=a.precision == 'bf16', train_sampling_strategy='group_by_length',
                              save_strategy='no', use_cpu=not torch.cuda.is_available(), report_to=[], disable_tqdm=True)
    from transformers import TrainerCallback
    class EpochTimes(TrainerCallback):   # the Trainer's own epoch boundaries, for a steady-state (last-epoch) rate
        times = []
        def on_epoch_begin(self, *a, **k): self.times.append([time.perf_counter()])
        def on_epoch_end(self, *a, **k): self.times[-1].append(time.perf_counter())
    trainer = Trainer(model=model, args=targs, train_dataset=ds, data_collator=DataCollatorForSeq2Seq(tok, model=model),
                      callbacks=[EpochTimes()])
    t0 = time.perf_counter(); trainer.train(); secs = time.perf_counter() - t0
    b, e = EpochTimes.times[-1]
    shutil.rmtree(targs.output_dir, ignore_errors=True)
    q.put({'loop': secs, 'whole': secs, 'tokens': sum(len(x['input_ids']) for x in enc) * a.epochs,
           'last_epoch_tps': sum(len(x['input_ids']) for x in enc) / (e - b),
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
    ap.add_argument('--repeats', type=int, default=1, help='repetitions, the trainers taking turns (medians and ranges are printed)')
    ap.add_argument('--precision', default='auto', choices=['auto', 'bf16', 'fp32'], help='auto: bf16 where this machine computes it, else fp32')
    a = ap.parse_args()
    import torch
    from fcot.pretrained import fetch_pretrained
    from fcot.students import fast_precision
    if a.precision == 'auto': a.precision = fast_precision()
    P, dtype = a.precision, {'bf16': torch.bfloat16, 'fp32': torch.float32}[a.precision]
    _quiet(a.threads)
    folder = str(fetch_pretrained('smollm2-135m'))
    samples = gsm8k_samples(a.n)
    from fcot.students import load_student, encode_sample
    model, tok = load_student(folder); n_params = sum(p.numel() for p in model.parameters())
    enc = [encode_sample(s, tok, False, 512) for s in samples]
    lens = [len(e['input_ids']) for e in enc]
    steps = -(-len(enc) // a.batch_size)
    n_compl = sum(sum(l != -100 for l in e['labels'][1:]) for e in enc)
    cap = ceiling(model, round(sum(lens) / steps), round(n_compl / steps), dtype); del model
    import statistics as st
    print(f"student smollm2-135m ({n_params / 1e6:.1f}M parameters), {a.threads} threads; {a.n} GSM8K samples x {a.epochs} epoch(s), "
          f"batch {a.batch_size}, lengths {min(lens)}-{max(lens)} (mean {sum(lens) / len(lens):.0f}), {'bf16 autocast' if P == 'bf16' else P}; "
          f"{a.repeats} repetition(s), the trainers taking turns so that drift in this machine's speed reaches all of them")
    HF, FC, CO = f'Hugging Face Trainer ({P}, group_by_length)', f'fcot train_student ({P})', f'fcot train_student ({P}, torch.compile)'
    HA = "Trainer with fcot's allocator setting"
    FS = f"fcot train_student ({P}, SDPA's backward)"
    FP = f"fcot train_student ({P}, padded batches)"
    FU = f"fcot train_student ({P}, shapes not rounded)"
    FN = f"fcot train_student ({P}, transformers' RMSNorm)"
    CP = f"fcot train_student ({P}, torch.compile, padded batches)"
    names = [HF, HA, FC, FP] + ([FS, FU, FN] if P == 'bf16' else []) + ([CO, CP] if a.compile else [])
    runs, peaks = {n: [] for n in names}, []
    work = tempfile.mkdtemp(prefix='fcot-bench-train-')
    for rep in range(a.repeats):
        peaks.append((matmul_peak(torch.float32), matmul_peak(dtype) if P == 'bf16' else None))
        for n in names:
            a.compile, a.hf_allocator, a.sdpa_backward, a.padded, a.unrounded, a.plain_norms = n in (CO, CP), n == HA, n == FS, n in (FP, CP), n == FU, n == FN
            runs[n].append(in_process(run_hf if n in (HF, HA) else run_fcot, folder, samples, a, work))
    shutil.rmtree(work, ignore_errors=True)
    tokens = runs[FC][0]['tokens']
    assert all(r['tokens'] == tokens for rs in runs.values() for r in rs), {k: [r['tokens'] for r in rs] for k, rs in runs.items()}
    pk = [p[1] if P == 'bf16' else p[0] for p in peaks]   # the peak in the training precision
    peak = st.median(pk)
    print(f"matmul 2048x2048 on this machine (median of {len(peaks)}): {st.median(p[0] for p in peaks):.0f} GFLOP/s fp32"
          + (f", {peak:.0f} GFLOP/s bf16" if P == 'bf16' else '') + f" (range {min(pk):.0f}-{max(pk):.0f})")
    share = lambda tps: 100 * 6 * n_params * tps / 1e9 / peak
    med = lambda xs: f"{st.median(xs):6.0f} ({min(xs):.0f}-{max(xs):.0f})"
    whole = {n: [tokens / r['loop'] for r in rs] for n, rs in runs.items()}
    last = {n: [r['last_epoch_tps'] for r in rs] for n, rs in runs.items()}
    w = max(map(len, names)) + 2
    print(f"\n{'trainer':{w}s}{'tokens/s, median (range)':>26s}{'last epoch tokens/s':>24s}{f'% {P} peak':>12s}{'peak MB':>9s}")
    for n in names:
        print(f"{n:{w}s}{med(whole[n]):>26s}{med(last[n]):>24s}{share(st.median(whole[n])):11.0f}%"
              f"{max(r['peak_mb'] for r in runs[n]):9.0f}")
    losses = {n: [r['loss'] for r in runs[n]] for n in names[2:]}
    print("\nfcot's last-epoch training loss (per token), by repetition: "
          + '; '.join(f"{n.split('(')[1].rstrip(')')}: {', '.join(f'{x:.4f}' for x in v)}" for n, v in losses.items()))
    for n in names[2:]:   # ratios paired by repetition: each fcot run against the Trainer runs just before it
        r_whole = [f / h for f, h in zip(whole[n], whole[HF])]
        r_last = [f / h for f, h in zip(last[n], last[HF])]
        print(f"\n{n} vs Trainer: {st.median(r_whole):.2f}x over the whole run (range {min(r_whole):.2f}-{max(r_whole):.2f}), "
              f"{st.median(r_last):.2f}x in the last epoch (range {min(r_last):.2f}-{max(r_last):.2f}); goal >= 1.6x")
        r_alloc = [f / h for f, h in zip(whole[n], whole[HA])]
        print(f"  {st.median(r_alloc):.2f}x (range {min(r_alloc):.2f}-{max(r_alloc):.2f}) the Trainer with fcot's allocator setting")
        print(f"  at {share(st.median(whole[n])):.0f}% of the {P} matmul peak over the whole run, "
              f"{share(st.median(last[n])):.0f}% in the last epoch; goal >= 50%")
    cap_tps = sum(lens) / steps / (cap['matmul_s'] + cap['adamw_s'])
    print(f"\nceiling estimate for a trainer doing the same arithmetic at this batch size (per optimizer step of {sum(lens) / steps:.0f} tokens: the model's "
          f"matmuls alone, {cap['matmul_s'] * 1e3:.0f} ms at {cap['matmul_gflops']:.0f} GFLOP/s, plus one fused AdamW step, "
          f"{cap['adamw_s'] * 1e3:.0f} ms): {cap_tps:.0f} tokens/s, {share(cap_tps):.0f}% of the {P} matmul peak "
          f"(matmuls alone {share(sum(lens) / steps / cap['matmul_s']):.0f}%)")
    def lever(other, this=FC, rates=whole):   # an fcot row against one without a lever, paired by repetition
        r = [f / s for f, s in zip(rates[this], rates[other])]
        return f"{st.median(r):.2f}x (range {min(r):.2f}-{max(r):.2f})"
    print(f"\nfcot's packed rows (`fcot.students._pack`, `fcot.attention._packed_attention`) against padded batches, the rest the same: {lever(FP)}")
    if FS in names:
        print(f"fcot's attention backward on CPU (`fcot.attention._cpu_attention`) against SDPA's, the rest the same: {lever(FS)}")
        print(f"packed rows rounded up to 64 tokens (`fcot.training._SHAPE_MULTIPLE`) against each its own length, the rest the same: {lever(FU)}")
        print(f"fcot's fused RMSNorm (`fcot.kernels._use_fused_norms`) against transformers', the rest the same: {lever(FN)}")
    if CO in names:
        print(f"under torch.compile, packed rows against padded batches: {lever(CP, CO)} over the whole run, {lever(CP, CO, last)} in the last epoch")
        print(f"torch.compile against eager, both packed: {lever(FC, CO)} over the whole run, {lever(FC, CO, last)} in the last epoch")

if __name__ == '__main__':
    main()
