"""Throughput of the OpenAI-compatible teacher backend (the `openai` SDK's async client plus fcot's retry budget, bounded
concurrency and one cache commit per completion) against a local server, and the time of a fully cached re-run.

  .venv/bin/python bench/bench_teacher.py [--quick]

Two settings, each measured in this run:
- client overhead: every request takes 50 ms and the server allows 16 at once, so at best 320 completions/s;
- LLM-like latency: each request takes 1-3 s (fixed per prompt), with 64 and with 256 in flight, as against vLLM.
The reference is the best any client could do against that server: the same latencies list-scheduled on the server's
slots in request order (so the drain at the end of a run is not counted against the client). Goal: at least 90%."""
import argparse, heapq, json, random, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
from openai_stub import StubServer, adder_respond, prompt_of
from fcot.completions import CompletionCache, CompletionRequest, RunStats, run_requests
from fcot.api import OpenAITeacher

def latency_of(prompt: str, lo: float, hi: float) -> float: return random.Random(prompt).uniform(lo, hi)

def ideal_seconds(latencies, slots: int) -> float:
    "Makespan of the latencies run in order on `slots` parallel server slots: what a client with no overhead reaches."
    free = [0.0] * slots
    for lat in latencies: heapq.heappush(free, heapq.heappop(free) + lat)
    return max(free)

def measure(n: int, limit: int, lo: float, hi: float, tmp: Path) -> dict:
    def respond(body):
        time.sleep(latency_of(prompt_of(body), lo, hi)); return adder_respond(body)
    reqs = [CompletionRequest(f"Q: Sam has {i} pens and gets {i % 7 + 1} more. How many pens?\nA: Let's think step by step.",
                              128, 0.7, sample_index=i % 4, seed=i % 4) for i in range(n)]
    ideal = ideal_seconds([latency_of(r.prompt, lo, hi) for r in reqs], limit)
    with StubServer(respond=respond, max_concurrency=limit) as srv:
        teacher = OpenAITeacher('bench-model', base_url=srv.url, concurrency=limit, timeout=30)
        run_requests(teacher, [CompletionRequest(f'warm {i}', 8) for i in range(limit)], None, progress=False)  # connections, imports
        with CompletionCache(tmp/f'cache-{limit}-{lo}.sqlite') as cache:
            st = RunStats(); t0 = time.perf_counter()
            res = run_requests(teacher, reqs, cache, st, progress=False)
            cold = time.perf_counter() - t0
            assert all(r is not None for r in res) and st.calls == n and st.failures == 0, st.errors[:3]
            st2 = RunStats(); t0 = time.perf_counter()
            res2 = run_requests(teacher, reqs, cache, st2, progress=False)
            warm = time.perf_counter() - t0
            assert st2.calls == 0 and st2.cache_hits == n and [r.text for r in res2] == [r.text for r in res]
        return {'n': n, 'server_latency_s': [lo, hi], 'in_flight': limit, 'server_max_inflight': srv.max_inflight,
                'ideal_per_s': round(n / ideal, 1), 'achieved_per_s': round(n / cold, 1),
                'fraction_of_ideal': round(ideal / cold, 3), 'cold_run_s': round(cold, 2), 'cached_rerun_s': round(warm, 4)}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='fewer requests (for a smoke check; the ratios are noisier)')
    a = ap.parse_args(argv)
    k = 4 if a.quick else 1
    settings = [(1600 // k, 16, 0.05, 0.05), (1024 // k, 64, 1.0, 3.0), (4096 // k, 256, 1.0, 3.0)]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, limit, lo, hi in settings:
            m = measure(n, limit, lo, hi, Path(tmp)); out.append(m)
            lat = f'{lo*1000:.0f} ms' if lo == hi else f'{lo:.0f}-{hi:.0f} s'
            print(f"{lat:>7} x {limit:3d} in flight: {m['achieved_per_s']:6.1f}/s of an ideal {m['ideal_per_s']:6.1f}/s = "
                  f"{m['fraction_of_ideal']:.1%} (goal >= 90%); {n} completions in {m['cold_run_s']:.1f} s; cached re-run "
                  f"{m['cached_rerun_s']*1000:.0f} ms", flush=True)
    print(json.dumps(out))
    return out

if __name__ == '__main__': main()
