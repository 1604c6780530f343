"""Throughput of the OpenAI-compatible teacher backend against a local server with a fixed per-request latency and a
concurrency limit, and the time of a fully cached re-run. Prints the ratios measured in one run.

  .venv/bin/python bench/bench_teacher.py [--n 1600] [--latency 0.05] [--limit 16] [--concurrency 16]

The server allows at most `limit` requests at once, each taking `latency` seconds, so at best limit/latency
completions per second; the goal is to reach at least 90% of that. The run goes through the durable cache (each
completion committed as it arrives), as real runs do."""
import argparse, json, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
from openai_stub import StubServer
from fcot.teachers import CompletionCache, CompletionRequest, OpenAITeacher, RunStats, run_requests

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=1600, help='completions to request')
    ap.add_argument('--latency', type=float, default=0.05, help='server seconds per request')
    ap.add_argument('--limit', type=int, default=16, help='server concurrency limit')
    ap.add_argument('--concurrency', type=int, default=16, help='client concurrency')
    ap.add_argument('--compare-httpx', action='store_true', help="also time the cold run with http_client='httpx'")
    a = ap.parse_args(argv)
    allowed = a.limit / a.latency
    reqs = [CompletionRequest(f"Q: Sam has {i} pens and gets {i % 7 + 1} more. How many pens?\nA: Let's think step by step.",
                              128, 0.7, sample_index=i % 4, seed=i % 4) for i in range(a.n)]
    with tempfile.TemporaryDirectory() as tmp, StubServer(latency=a.latency, max_concurrency=a.limit) as srv:
        teacher = OpenAITeacher('bench-model', base_url=srv.url, concurrency=a.concurrency, timeout=30)
        with CompletionCache(Path(tmp)/'cache.sqlite') as cache:
            # warm-up (connections, imports), not timed and not cached
            run_requests(teacher, [CompletionRequest(f'warm {i}') for i in range(a.concurrency)], None, progress=False)
            st = RunStats(); t0 = time.perf_counter()
            res = run_requests(teacher, reqs, cache, st, progress=False)
            cold = time.perf_counter() - t0
            assert all(r is not None for r in res) and st.calls == a.n and st.failures == 0
            st2 = RunStats(); t0 = time.perf_counter()
            res2 = run_requests(teacher, reqs, cache, st2, progress=False)
            warm = time.perf_counter() - t0
            assert st2.calls == 0 and st2.cache_hits == a.n and [r.text for r in res2] == [r.text for r in res]
        rate = a.n / cold
        hx = None
        if a.compare_httpx:
            th = OpenAITeacher('bench-model', base_url=srv.url, concurrency=a.concurrency, timeout=30, http_client='httpx')
            with CompletionCache(Path(tmp)/'httpx.sqlite') as cache:
                t0 = time.perf_counter(); run_requests(th, reqs, cache, RunStats(), progress=False)
                hx = a.n / (time.perf_counter() - t0)
        out = {'n': a.n, 'server_latency_s': a.latency, 'server_limit': a.limit, 'client_concurrency': a.concurrency,
               'allowed_per_s': round(allowed, 1), 'achieved_per_s': round(rate, 1), 'fraction_of_allowed': round(rate / allowed, 3),
               'server_max_inflight': srv.max_inflight, 'cold_run_s': round(cold, 3), 'cached_rerun_s': round(warm, 4),
               'cached_rerun_per_s': round(a.n / warm), 'cached_over_cold_time': round(warm / cold, 4)}
    if hx: out['httpx_fraction_of_allowed'] = round(hx / allowed, 3)
    print(f"server allows {allowed:.0f} completions/s ({a.limit} at once x {a.latency*1000:.0f} ms); achieved "
          f"{rate:.1f}/s = {rate/allowed:.1%} of allowed (goal >= 90%), {a.n} completions in {cold:.2f}s")
    print(f"fully cached re-run: {warm*1000:.1f} ms for {a.n} completions ({a.n/warm:,.0f}/s), "
          f"{warm/cold:.2%} of the cold run's time, 0 calls")
    if hx: print(f"with http_client='httpx': {hx:.1f}/s = {hx/allowed:.1%} of allowed")
    print(json.dumps(out))
    return out

if __name__ == '__main__': main()
