"""Chat completions proxied through the gateway vs straight to the upstream, on two routes.

Routes (``--routes``, both by default, measured in the same run): ``text`` is the gateway's own
``generate_text`` (``POST /api/v1/generate/text``), ``v1`` the OpenAI-compatible ``openai_compat``
(``POST /v1/chat/completions``). Each runs as in production, under the functions-framework CLI
(gunicorn, one worker, 8 threads); the upstream is a fast OpenAI-compatible app under gunicorn.
Latency: p50 of one request at a time (requests, keep-alive). Throughput: ``wrk`` with 8
connections if it is installed (Debian package ``wrk``), else 8 Python threads. CPU: the
gateway's processes' CPU time per request over the latency run. Prints the added latency, and
``v1`` against ``text`` as ratios. The response cache is off (every request is identical); set
TEXT_CACHE_TTL_SECONDS=3600 to measure cache hits instead. Traffic goes only to 127.0.0.1.
Run: .venv/bin/python bench/chat_proxy.py [--count 400] [--seconds 5] [--routes text,v1]
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
import time
from pathlib import Path

import requests
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


# route -> (functions-framework target, path, request body)
ROUTES = {
    "text": ("generate_text", "/api/v1/generate/text", BODY),
    "v1": ("openai_compat", "/v1/chat/completions", {**BODY, "model": "auto"}),
}


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants (gunicorn's workers)."""
    total, pending = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def measure(gateway: subprocess.Popen, url: str, body: dict, args: argparse.Namespace) -> dict[str, float]:
    def proxied(session):
        response = session.post(url, json=body)
        assert response.status_code == 200, response.text

    before = cpu_seconds(gateway.pid)
    figures = latency(proxied, args.count)
    figures["cpu_ms"] = (cpu_seconds(gateway.pid) - before) * 1000 / (args.count + min(50, args.count))
    figures["rate"] = wrk_rate(url, body, args.seconds) or throughput(proxied, args.seconds, 8)
    return figures


def report(direct: dict[str, float], routes: dict[str, dict[str, float]]) -> None:
    print(f"{'path':<36}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'CPU ms/req':>12}{'req/s (8 conc.)':>17}")
    rows = [("upstream direct", direct, "", "")]
    for name, f in routes.items():
        rows.append(
            (f"gateway {name} {ROUTES[name][1]}", f, f"{f['p50_ms'] - direct['p50_ms']:+.2f}", f"{f['cpu_ms']:.2f}")
        )
    for label, f, added, cpu in rows:
        print(f"{label:<36}{f['p50_ms']:>9.2f}{f['p99_ms']:>9.2f}{added:>11}{cpu:>12}{f['rate']:>17.0f}")
    for name, f in routes.items():
        ratio = f["rate"] / direct["rate"]
        print(f"{name}: added latency p50 {f['p50_ms'] - direct['p50_ms']:+.2f} ms; throughput vs direct {ratio:.2f}")
    if {"text", "v1"} <= set(routes):
        text, v1 = routes["text"], routes["v1"]
        print(
            f"v1 vs text: p50 {v1['p50_ms'] / text['p50_ms']:.2f}x (added {v1['p50_ms'] - text['p50_ms']:+.2f} ms), "
            f"CPU per request {v1['cpu_ms'] / text['cpu_ms']:.2f}x, throughput {v1['rate'] / text['rate']:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--routes", default="text,v1", help="comma-separated: text, v1")
    args = parser.parse_args()
    wanted = [r.strip() for r in args.routes.split(",") if r.strip()]
    sys.path.insert(0, str(ROOT))
    from tests.helpers import free_port

    up_port = free_port()
    upstream = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", "1", "--threads", "8", "-b", f"127.0.0.1:{up_port}", "bench.fast_upstream:app"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    up_url = f"http://127.0.0.1:{up_port}/v1"
    wait_until_up(f"{up_url}/models")
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
    gateways: list[subprocess.Popen] = []
    try:
        direct_url = f"{up_url}/chat/completions"
        direct_body = {**BODY, "model": "bench-model"}

        def direct(session):
            session.post(direct_url, json=direct_body).raise_for_status()

        figures = latency(direct, args.count)
        figures["rate"] = wrk_rate(direct_url, direct_body, args.seconds) or throughput(direct, args.seconds, 8)
        measured: dict[str, dict[str, float]] = {}
        for name in wanted:  # one gateway at a time: the others do not share the two cores meanwhile
            target, path, body = ROUTES[name]
            command = [
                str(BIN / "functions-framework"),
                "--target",
                target,
                "--source",
                "main.py",
                "--host",
                "127.0.0.1",
            ]
            gateway, gw_url = start(command, env, "/api/v1/health" if name == "text" else "/v1/models")
            gateways.append(gateway)
            measured[name] = measure(gateway, f"{gw_url}{path}", body, args)
            gateway.terminate()
            gateway.wait(10)
        report(figures, measured)
    finally:
        for process in (*gateways, upstream):
            if process.poll() is None:
                process.terminate()
                process.wait(10)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
