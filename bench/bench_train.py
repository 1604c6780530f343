"""Training throughput: fcot's student trainer vs Hugging Face `Trainer` with default settings.

Same model (one from-scratch GPT-2 student, saved once and loaded by both), same data (GSM8K training questions
with their worked solutions as Fine-tune-CoT samples: prompt `{question} ###`, completion ` {rationale} --> {answer} END`),
same tokenization and completion-only labels, same number of samples, epochs, batch size and learning rate.
Throughput counts real (non-pad) tokens only, the same count for both, over the wall time of the training call.
Goal: fcot >= 1.5x.

    .venv/bin/python bench/bench_train.py [--n 256] [--epochs 1] [--model gpt2-mini] [--threads 1] [--repeats 1]
"""
import argparse, os, re, shutil, statistics, sys, tempfile, time, warnings
from pathlib import Path

import torch
import transformers
from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

from fcot.core import data_file, read_jsonl
from fcot.students import StudentConfig, build_student, encode_sample, load_student
from fcot.training import train_student


def gsm8k_samples(n: int) -> list[dict]:
    "Fine-tune-CoT samples from GSM8K's human-written solutions (calculator annotations removed)."
    recs = read_jsonl(data_file('gsm8k/train.jsonl'))
    out = []
    for r in recs[:n]:
        rationale, answer = r['answer'].split('####')
        rationale = re.sub(r'<<[^>]*>>', '', rationale).strip().replace('\n', ' ')
        out.append({'prompt': f"{r['question']} ###", 'completion': f" {rationale} --> {answer.strip().replace(',', '')} END"})
    return out


def run_fcot(init: Path, samples, args, work: Path) -> float:
    out = work/f'fcot-{time.time_ns()}'
    cfg = StudentConfig(model=str(init), output_dir=str(out), epochs=args.epochs, batch_size=args.batch_size, lr=3e-4,
                        save_every_epoch=False, progress=False)
    t0 = time.perf_counter(); train_student(cfg, samples); secs = time.perf_counter() - t0
    counted = sum(r['tokens'] for r in read_jsonl(out/'metrics.jsonl'))
    assert counted == args.real_tokens, f'fcot counted {counted} real tokens, expected {args.real_tokens}'
    shutil.rmtree(out, ignore_errors=True)
    return secs


def run_hf(init: Path, samples, args, work: Path) -> float:
    import datasets
    model, tok = load_student(init)
    enc = [encode_sample(s, tok, False, 512) for s in samples]
    ds = datasets.Dataset.from_list([{**e, 'attention_mask': [1]*len(e['input_ids'])} for e in enc])
    targs = TrainingArguments(output_dir=str(work/f'hf-{time.time_ns()}'), per_device_train_batch_size=args.batch_size,
                              learning_rate=3e-4, num_train_epochs=args.epochs, use_cpu=not torch.cuda.is_available(),
                              report_to=[], disable_tqdm=True)
    trainer = Trainer(model=model, args=targs, train_dataset=ds, data_collator=DataCollatorForSeq2Seq(tok, model=model))
    t0 = time.perf_counter(); trainer.train(); secs = time.perf_counter() - t0
    shutil.rmtree(targs.output_dir, ignore_errors=True)
    return secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=256, help='training samples')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--model', default='gpt2-mini', help='fcot preset for the student built from scratch')
    ap.add_argument('--vocab', type=int, default=8000, help='vocabulary of the tokenizer trained on GSM8K')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=1, help='alternating runs of each trainer; the median is reported')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error(); transformers.utils.logging.disable_progress_bar(); warnings.filterwarnings('ignore')

    samples = gsm8k_samples(args.n)
    work = Path(tempfile.mkdtemp(prefix='fcot-bench-train-'))
    texts = [s['prompt'] + s['completion'] for s in gsm8k_samples(10**6)]   # tokenizer from all GSM8K training text
    model, tok = build_student(args.model, texts=texts, vocab_size=args.vocab, seed=0)
    init = work/'init'; model.save_pretrained(init); tok.save_pretrained(init)
    enc = [encode_sample(s, tok, False, 512) for s in samples]
    real_tokens = args.real_tokens = sum(len(e['input_ids']) for e in enc) * args.epochs
    comp = sum(sum(l != -100 for l in e['labels']) for e in enc) * args.epochs
    lens = [len(e['input_ids']) for e in enc]
    print(f"student {args.model} ({sum(p.numel() for p in model.parameters())/1e6:.2f}M parameters, vocabulary {len(tok)}), "
          f"device {'cuda' if torch.cuda.is_available() else f'cpu x{args.threads} threads'}")
    print(f"data: {args.n} GSM8K samples x {args.epochs} epoch(s), batch {args.batch_size}; {real_tokens} real tokens "
          f"({comp} completion), lengths {min(lens)}-{max(lens)} (mean {sum(lens)/len(lens):.0f})")

    times = {'fcot': [], 'hf': []}
    for r in range(args.repeats):
        times['hf'].append(run_hf(init, samples, args, work))
        times['fcot'].append(run_fcot(init, samples, args, work))
    shutil.rmtree(work, ignore_errors=True)
    tps = {k: real_tokens / statistics.median(v) for k, v in times.items()}
    print(f"{'trainer':<34}{'seconds':>10}{'tokens/s':>12}")
    print(f"{'Hugging Face Trainer (defaults)':<34}{statistics.median(times['hf']):>10.2f}{tps['hf']:>12.0f}")
    print(f"{'fcot train_student':<34}{statistics.median(times['fcot']):>10.2f}{tps['fcot']:>12.0f}")
    ratio = tps['fcot'] / tps['hf']
    print(f"speed-up: {ratio:.2f}x (goal >= 1.5x) {'OK' if ratio >= 1.5 else 'BELOW GOAL'}")


if __name__ == '__main__':
    main()
