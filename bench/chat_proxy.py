"""Chat completions proxied through the gateway's text function vs straight to the upstream.

Both servers run as in production: the gateway's ``generate_text`` under the functions-framework
CLI (gunicorn, one worker, 8 threads), the upstream a fast OpenAI-compatible app under gunicorn.
Latency: p50 of one request at a time (requests, keep-alive). Throughput: ``wrk`` with 8
connections if it is installed (Debian package ``wrk``), else 8 Python threads. Prints the
added latency and the ratio. The response cache is off (every request is identical); set
TEXT_CACHE_TTL_SECONDS=3600 to measure cache hits instead. Traffic goes only to 127.0.0.1.
Run: .venv/bin/python bench/chat_proxy.py [--count 400] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, latency, start, throughput

BIN = Path(sys.executable).parent
BODY = {"messages": [{"role": "user", "content": "Say something short."}], "max_tokens": 16}


def wrk_rate(url: str, body: dict, seconds: float) -> float | None:
    if not shutil.which("wrk"):
        return None
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{int(seconds)}s", "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed answers from {url}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.helpers import free_port

    up_port = free_port()
    upstream = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", "1", "--threads", "8", "-b", f"127.0.0.1:{up_port}", "bench.fast_upstream:app"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    up_url = f"http://127.0.0.1:{up_port}/v1"
    limits = "anonymous=100000000,registered=100000000,donor=100000000"
    env = {
        "DATA_DIR": tempfile.mkdtemp(prefix="bench-proxy-"),
        "LOG_LEVEL": "WARNING",
        "DISPATCHER": "none",
        "THREADS": os.environ.get("THREADS", "8"),
        "WORKERS": os.environ.get("WORKERS", "1"),
        "OPENAI_API_KEYS": "bench-key",
        "OPENAI_BASE_URL": up_url,
        "OPENAI_TEXT_MODEL": "bench-model",
        "OPENAI_MAX_PER_MINUTE": "0",
        "OPENAI_MAX_CONCURRENT": "64",
        "PRICES": "openai/bench-model=0.01",
        "ROUTE_TEXT": "openai",
        "LOCAL_PROVIDER_ENABLED": "false",
        "TEXT_TIER_LIMITS": limits,
        # Every request is identical: without this the response cache would answer them all.
        "TEXT_CACHE_TTL_SECONDS": os.environ.get("TEXT_CACHE_TTL_SECONDS", "0"),
        "LOAD_HOST_METRICS": "false",
    }
    gateway, gw_url = start(
        [str(BIN / "functions-framework"), "--target", "generate_text", "--source", "main.py", "--host", "127.0.0.1"],
        env,
        "/api/v1/health",
    )
    try:
        direct_url = f"{up_url}/chat/completions"
        proxy_url = f"{gw_url}/api/v1/generate/text"
        direct_body = {**BODY, "model": "bench-model"}

        def direct(session):
            session.post(direct_url, json=direct_body).raise_for_status()

        def proxied(session):
            response = session.post(proxy_url, json=BODY)
            assert response.status_code == 200, response.text

        d = latency(direct, args.count)
        p = latency(proxied, args.count)
        d_rate = wrk_rate(direct_url, direct_body, args.seconds) or throughput(direct, args.seconds, 8)
        p_rate = wrk_rate(proxy_url, BODY, args.seconds) or throughput(proxied, args.seconds, 8)
        print(f"{'path':<22}{'p50 ms':>9}{'p99 ms':>9}{'req/s (8 conc.)':>17}")
        print(f"{'upstream direct':<22}{d['p50_ms']:>9.2f}{d['p99_ms']:>9.2f}{d_rate:>17.0f}")
        print(f"{'through the gateway':<22}{p['p50_ms']:>9.2f}{p['p99_ms']:>9.2f}{p_rate:>17.0f}")
        print(f"added latency p50: {p['p50_ms'] - d['p50_ms']:+.2f} ms; throughput ratio {p_rate / d_rate:.2f}")
    finally:
        for process in (gateway, upstream):
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
