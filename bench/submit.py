"""Submit and poll latency/throughput on the embedded server vs a bare functions-framework hello.

Prints p50/p99 (one request at a time) and requests/s (8 concurrent clients) for each, and the
ratios against the baseline measured in the same run; then the same as figures (``--json`` for
bench/run.py). design.md sets no target for submit and poll: the figures are reported only, the
ratios to the bare hello show what the gateway adds to a request. Traffic goes only to 127.0.0.1.
Run: .venv/bin/python bench/submit.py [--count 500] [--seconds 5] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools

import requests
from common import Figure, add_json_argument, embedded, emit, hello, latency, throughput

BASELINE = "baseline hello"


def figures(results: dict[str, dict[str, float]]) -> list[Figure]:
    """Each endpoint's p50, p99 and req/s against the bare hello's, measured in the same run."""
    base = results[BASELINE]
    out = []
    for name in ("submit", "poll"):
        r = results[name]
        out += [
            Figure("submit", f"{name} p50 (one at a time)", r["p50_ms"], "ms", "hello p50", base["p50_ms"]),
            Figure("submit", f"{name} p99 (one at a time)", r["p99_ms"], "ms", "hello p99", base["p99_ms"]),
            Figure("submit", f"{name} throughput (8 clients)", r["rps"], "req/s", "hello req/s", base["rps"]),
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="200 requests and 2 s of load per endpoint")
    add_json_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.count, args.seconds = min(args.count, 200), min(args.seconds, 2.0)

    base_proc, base_url = hello()
    # Jobs stay queued (no dispatcher): this measures the request path, not the renderer.
    gw_proc, gw_url = embedded(DISPATCHER="none")
    try:
        first = requests.post(f"{gw_url}/api/v1/generate/text-to-image", json={"prompt": "bench"}, timeout=30)
        if first.status_code != 202:
            raise RuntimeError(f"the first submit answered {first.status_code}: {first.text[:300]}")
        job_id = first.json()["job_id"]

        def baseline(session):
            session.get(base_url + "/").raise_for_status()

        counter = itertools.count()

        def submit(session):
            # distinct prompts: identical submits inside the dedupe window return the same job
            prompt = f"a red fox in snow #{next(counter)}"
            r = session.post(f"{gw_url}/api/v1/generate/text-to-image", json={"prompt": prompt})
            assert r.status_code == 202, r.text

        def poll(session):
            session.get(f"{gw_url}/api/v1/jobs/{job_id}").raise_for_status()

        results = {}
        for name, call in ((BASELINE, baseline), ("submit", submit), ("poll", poll)):
            lat = latency(call, args.count)
            rps = throughput(call, args.seconds, args.workers)
            results[name] = {**lat, "rps": rps}
        base = results[BASELINE]
        print(f"{'endpoint':<16}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'p50 x':>8}{'rps x':>8}")
        for name, r in results.items():
            print(
                f"{name:<16}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['rps']:>9.0f}"
                f"{r['p50_ms'] / base['p50_ms']:>8.2f}{r['rps'] / base['rps']:>8.2f}"
            )
        emit(figures(results), args.json)
    finally:
        for process in (base_proc, gw_proc):
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
