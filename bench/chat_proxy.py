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
The same is measured in the same run for ``--baseline-ref`` (a git worktree of the commit before
issue 16's work, same venv and upstream): the targets are ratios to it, and CPU per request
is also compared with a bare functions-framework hello (the floor no function goes under).
Run: .venv/bin/python bench/chat_proxy.py [--quick] [--count 400] [--seconds 5] [--routes text,v1] [--json PATH]
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

import instructions as counted
import requests
from common import ROOT, Figure, add_json_argument, emit, latency, start, throughput

BIN = Path(sys.executable).parent
BODY = {"messages": [{"role": "user", "content": "Say something short."}], "max_tokens": 16}


def wrk_run(url: str, body: dict, seconds: float) -> tuple[float, int] | None:
    """``wrk`` with 8 connections: (requests per second, requests answered), or None without wrk."""
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
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rate, int(re.search(r"(\d+) requests in", out).group(1))


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
    """p50/p99 one at a time, then throughput with 8 connections; CPU per request over both runs
    (thousands of requests: /proc's CPU times tick every 10 ms)."""

    def proxied(session):
        response = session.post(url, json=body)
        assert response.status_code == 200, response.text

    before = cpu_seconds(gateway.pid)
    figures = latency(proxied, args.count)
    served = args.count + min(50, args.count)
    run = wrk_run(url, body, args.seconds)
    if run is None:
        figures["rate"] = throughput(proxied, args.seconds, 8)
        served += int(figures["rate"] * args.seconds)
    else:
        figures["rate"] = run[0]
        served += run[1]
    figures["cpu_ms"] = (cpu_seconds(gateway.pid) - before) * 1000 / served
    return figures


BASELINE_REF = "1a3a777"  # main before issue 16's work: the "today" of its targets


def baseline_tree(ref: str) -> Path | None:
    """A detached worktree of ``ref`` (same venv, same upstream), or None when git can't make one."""
    tree = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "tree"
    done = subprocess.run(
        ["git", "worktree", "add", "--detach", "-f", str(tree), ref], cwd=ROOT, capture_output=True, text=True
    )
    return tree if done.returncode == 0 else None


def drop_tree(tree: Path | None) -> None:
    if tree is not None:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


def serve(target: str, source: Path, env: dict[str, str], health: str) -> tuple[subprocess.Popen, str]:
    """One gateway as Cloud Functions runs it: the functions-framework CLI (gunicorn, 1 worker, 8 threads)."""
    cli = [str(BIN / "functions-framework"), "--target", target, "--source", str(source), "--host", "127.0.0.1"]
    return start(cli, {**env, "PYTHONPATH": str(source.parent)}, health)  # the source's own tree first on the path


def hello_floor(args: argparse.Namespace) -> float:
    """CPU per request of a bare functions-framework hello: what no function can go under."""
    process, url = serve("hello", ROOT / "bench" / "hello_main.py", {}, "/")
    try:
        before = cpu_seconds(process.pid)
        latency(lambda session: session.get(url + "/").raise_for_status(), args.count)
        return (cpu_seconds(process.pid) - before) * 1000 / (args.count + min(50, args.count))
    finally:
        process.terminate()
        process.wait(10)


def gateway_env(up_url: str) -> dict[str, str]:
    limits = "anonymous=100000000,registered=100000000,donor=100000000"
    return {
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


def measure_route(tree: Path, name: str, up_url: str, args: argparse.Namespace) -> dict[str, float]:
    target, path, body = ROUTES[name]
    gateway, gw_url = serve(
        target, tree / "main.py", gateway_env(up_url), "/api/v1/health" if name == "text" else "/v1/models"
    )
    try:
        return measure(gateway, f"{gw_url}{path}", body, args)
    finally:
        gateway.terminate()
        gateway.wait(10)


def instructions(tree: Path, name: str, up_url: str, count: int) -> float:
    """Instructions per proxied request of ``tree``'s gateway (callgrind, every server process)."""
    target, path, body = ROUTES[name]

    def call(session: requests.Session, url: str) -> None:
        assert session.post(url + path, json=body, timeout=120).status_code == 200

    cli = [
        str(BIN / "functions-framework"),
        "--target",
        target,
        "--source",
        str(tree / "main.py"),
        "--host",
        "127.0.0.1",
    ]
    env = {**gateway_env(up_url), "PYTHONPATH": str(tree)}
    return counted.per_request(cli, env, "/api/v1/health" if name == "text" else "/v1/models", call, count)


def hello_instructions(count: int) -> float:
    cli = [str(BIN / "functions-framework"), "--target", "hello", "--source", str(ROOT / "bench" / "hello_main.py")]
    return counted.per_request(
        cli + ["--host", "127.0.0.1"], {}, "/", lambda s, url: s.get(url + "/").raise_for_status(), count
    )


def instruction_figures(tree: Path | None, wanted: list[str], up_url: str, count: int) -> list[Figure]:
    """The same comparison in instructions: what the load of a shared machine does not move."""
    if not counted.available() or tree is None:
        return []
    floor = hello_instructions(count) / 1e6
    figures = [Figure("chat_proxy", "functions-framework hello: instructions per request (the floor)", floor, "M")]
    for name in wanted:
        now, today = instructions(ROOT, name, up_url, count) / 1e6, instructions(tree, name, up_url, count) / 1e6
        figures.append(
            Figure("chat_proxy", f"{name}: instructions per request (callgrind), vs today", now, "M",
                   f"today ({BASELINE_REF})", today, "<= 0.5", on_ratio=True,
                   note=f"The server and framework alone (the hello) take {floor:.2f}M of them.")
        )  # fmt: skip
    return figures


def figures_for(
    name: str, now: dict[str, float], today: dict[str, float] | None, direct: dict[str, float]
) -> list[Figure]:
    label, ref = f"{ROUTES[name][1]}", f"today ({BASELINE_REF})"
    added = now["p50_ms"] - direct["p50_ms"]
    added_today = today["p50_ms"] - direct["p50_ms"] if today else None
    cpu_note = (
        "The functions-framework server (gunicorn gthread + Flask) costs about the hello floor on every "
        "request; what is left is one vendor call through requests/urllib3 and one limiter transaction "
        "(README, Performance: where a proxied chat completion's CPU went)."
    )
    return [
        Figure(
            "chat_proxy",
            f"{name}: CPU per request, {label}",
            now["cpu_ms"],
            "ms",
            ref,
            today["cpu_ms"] if today else None,
            "<= 1.2",
            note=cpu_note,
        ),
        Figure(
            "chat_proxy",
            f"{name}: CPU per request vs today",
            now["cpu_ms"],
            "ms",
            ref,
            today["cpu_ms"] if today else None,
            "<= 0.5",
            on_ratio=True,
            note=cpu_note,
        ),
        Figure(
            "chat_proxy",
            f"{name}: throughput, 1 worker, 8 connections",
            now["rate"],
            "req/s",
            ref,
            today["rate"] if today else None,
            ">= 2",
            on_ratio=True,
            note="Throughput of one worker is bound by its CPU per request under the GIL: it follows that figure.",
        ),
        Figure(
            "chat_proxy",
            f"{name}: added p50 over the upstream",
            added,
            "ms",
            ref,
            added_today,
            "<= 1.5",
            note="One request at a time, the added time is the gateway's CPU on the request path (above) "
            "plus a second loopback hop: it falls with the CPU per request.",
        ),
        Figure("chat_proxy", f"{name}: p99", now["p99_ms"], "ms", ref, today["p99_ms"] if today else None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--routes", default="text,v1", help="comma-separated: text, v1")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="the commit measured as 'today' ('' to skip)")
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter runs, no instruction counts")
    parser.add_argument("--instructions-count", type=int, default=200, help="requests counted under callgrind")
    add_json_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.count, args.seconds = min(args.count, 200), min(args.seconds, 3.0)
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
    tree = baseline_tree(args.baseline_ref) if args.baseline_ref else None
    try:
        direct_url = f"{up_url}/chat/completions"
        direct_body = {**BODY, "model": "bench-model"}

        def direct(session):
            session.post(direct_url, json=direct_body).raise_for_status()

        figures_direct = latency(direct, args.count)
        direct_run = wrk_run(direct_url, direct_body, args.seconds)
        figures_direct["rate"] = direct_run[0] if direct_run else throughput(direct, args.seconds, 8)
        floor = hello_floor(args)
        measured: dict[str, dict[str, float]] = {}
        today: dict[str, dict[str, float]] = {}
        for name in wanted:  # one gateway at a time: the others do not share the two cores meanwhile
            if tree is not None:
                today[name] = measure_route(tree, name, up_url, args)
            measured[name] = measure_route(ROOT, name, up_url, args)
        report(figures_direct, measured, today, floor)
        figures = [f for name in wanted for f in figures_for(name, measured[name], today.get(name), figures_direct)]
        figures.append(Figure("chat_proxy", "functions-framework hello: CPU per request (the floor)", floor, "ms"))
        if not args.quick:  # callgrind: a few minutes, but the one figure the machine's load doesn't move
            figures += instruction_figures(tree, wanted, up_url, args.instructions_count)
        emit(figures, args.json)
    finally:
        drop_tree(tree)
        upstream.terminate()
        upstream.wait(10)


def report(
    direct: dict[str, float], routes: dict[str, dict[str, float]], today: dict[str, dict[str, float]], floor: float
) -> None:
    print(f"{'path':<44}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'CPU ms/req':>12}{'req/s (8 conc.)':>17}")
    rows = [("upstream direct", direct, "", "")]
    for name, f in routes.items():
        for who, figures in (("today", today.get(name)), ("now", f)):
            if figures is not None:
                added = f"{figures['p50_ms'] - direct['p50_ms']:+.2f}"
                rows.append((f"{who} {name} {ROUTES[name][1]}", figures, added, f"{figures['cpu_ms']:.2f}"))
    for label, f, added, cpu in rows:
        print(f"{label:<44}{f['p50_ms']:>9.2f}{f['p99_ms']:>9.2f}{added:>11}{cpu:>12}{f['rate']:>17.0f}")
    print(f"functions-framework hello: {floor:.2f} ms CPU per request (the floor under every function)")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
