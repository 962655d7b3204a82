"""Cold start to the first answer, and memory per instance, of single functions as Cloud Functions
runs them (the functions-framework CLI on main.py: gunicorn, one worker), against a bare
functions-framework hello (bench/hello_main.py) measured in the same run.

A cold start is the time from starting the process to the first successful answer of a real
request: GET /api/v1/health, a text-to-image / text-to-video / text submit (202 / 200), an
image-to-image / image-to-video submit with a small PNG (202). Each round starts every case once,
in turn, so load on the machine falls on all of them alike. Times are the fastest of the rounds
(other work on the machine only ever adds time to a start); RSS is the median.
Every instance starts from an empty DATA_DIR (the embedded SQLite store is created on the first
request, as on a new deployment's first instance).

Each instance runs from a copy of what is deployed (main.py, functions/, shared/ with no __pycache__,
as serverless.yml packages them) with PYTHONDONTWRITEBYTECODE=1: the project's modules are compiled
at every start, as on a new Cloud Functions instance of that artifact and in the container (its
Dockerfile sets PYTHONDONTWRITEBYTECODE); installed packages have their .pyc (pip writes them).
``health, bytecode cached`` starts from a copy compiled beforehand (compileall): what shipping
the project's bytecode would give.

Also: RSS of the instance (gunicorn master + worker) after the first answer, and the CPU time it
took to get there (less sensitive than wall time to other work on the machine).

Run: .venv/bin/python bench/coldstart.py [--runs 7] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests
from common import ROOT, Figure, add_json_argument, emit

from tests.helpers import free_port, png

BENCH = "coldstart"
CLI = str(Path(sys.executable).with_name("functions-framework"))
UNLIMITED = "anonymous=1000000,registered=1000000,donor=1000000"
HELLO = "bare hello"
GENERATORS_LIMIT_S = 0.9
HEALTH_RATIO_LIMIT = 1.2
RSS_LIMIT_MB = 120


@dataclass(frozen=True)
class Case:
    name: str
    target: str
    path: str
    method: str = "POST"
    body: str = "json"  # json, upload (multipart with a PNG) or none
    expect: int = 202
    source: str = "main.py"  # in the artifact


CASES = [
    Case(HELLO, "hello", "/", "GET", "none", 200, "hello_main.py"),
    Case("health", "health", "/api/v1/health", "GET", "none", 200),
    Case("generate_text_to_image", "generate_text_to_image", "/api/v1/generate/text-to-image"),
    Case("generate_image_to_image", "generate_image_to_image", "/api/v1/generate/image-to-image", body="upload"),
    Case("generate_text_to_video", "generate_text_to_video", "/api/v1/generate/text-to-video"),
    Case("generate_image_to_video", "generate_image_to_video", "/api/v1/generate/image-to-video", body="upload"),
    Case("generate_text", "generate_text", "/api/v1/generate/text", expect=200),
]
IMAGE = png(64, 48)


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float
    rss_mb: float


def artifact(compiled: bool) -> Path:
    """What Cloud Functions runs (serverless.yml's package): main.py, functions/ and shared/ with no
    __pycache__, and the bare hello beside them; ``compiled`` writes every .pyc first (compileall)."""
    root = Path(tempfile.mkdtemp(prefix="cold-src-"))
    no_cache = shutil.ignore_patterns("__pycache__")
    for folder in ("functions", "shared"):
        shutil.copytree(ROOT / folder, root / folder, ignore=no_cache)
    shutil.copy(ROOT / "main.py", root)
    shutil.copy(ROOT / "bench" / "hello_main.py", root)
    if compiled:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(root)], check=True)
    return root


def environment(data_dir: str) -> dict[str, str]:
    drop = ("FUNCTION_TARGET", "K_SERVICE", "PYTHONPYCACHEPREFIX", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        DATA_DIR=data_dir,
        DISPATCHER="none",
        LOG_LEVEL="WARNING",
        TIER_LIMITS=UNLIMITED,
        TEXT_TIER_LIMITS=UNLIMITED,
        LOAD_HOST_METRICS="false",
        PYTHONDONTWRITEBYTECODE="1",  # an artifact without bytecode compiles it at every start
    )
    return env


def ask(case: Case, port: int) -> requests.Response:
    url = f"http://127.0.0.1:{port}{case.path}"
    if case.body == "json":
        return requests.request(case.method, url, json={"prompt": "a fox"}, timeout=30)
    if case.body == "upload":
        files = {"image": ("in.png", io.BytesIO(IMAGE), "image/png")}
        return requests.request(case.method, url, data={"prompt": "a fox"}, files=files, timeout=30)
    return requests.request(case.method, url, timeout=30)


def usage(pid: int) -> tuple[float, float]:
    """CPU seconds and RSS (MB) of the instance: the gunicorn master and its worker."""
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    cpu = sum(p.cpu_times().user + p.cpu_times().system for p in processes)
    return cpu, sum(p.memory_info().rss for p in processes) / 1024 / 1024


def cold(case: Case, root: Path) -> Run:
    port = free_port()
    args = [
        CLI,
        "--target",
        case.target,
        "--source",
        str(root / case.source),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    data_dir = tempfile.mkdtemp(prefix="cold-data-")
    env = environment(data_dir)
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            try:
                response = ask(case, port)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.perf_counter() - started > 60:
                    raise RuntimeError(f"{case.name} did not start: {process.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.002)
        elapsed = time.perf_counter() - started
        if response.status_code != case.expect:
            raise RuntimeError(f"{case.name}: {response.status_code} {response.text[:500]}")
        cpu, rss = usage(process.pid)
        return Run(elapsed, cpu, rss)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)


def rounds(cases: list[Case], count: int, root: Path) -> dict[str, list[Run]]:
    """``count`` rounds, each starting every case once in turn."""
    runs: dict[str, list[Run]] = {case.name: [] for case in cases}
    for _ in range(count):
        for case in cases:
            runs[case.name].append(cold(case, root))
    return runs


def fastest(runs: list[Run], field: str) -> float:
    return min(getattr(r, field) for r in runs)


def median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(r, field) for r in runs)


HEALTH_NOTE = (
    "beyond the hello, health's start spends CPU on: pydantic itself ~65 ms (more than the whole 20% budget), "
    "pydantic-settings ~27 ms, the Settings class ~26 ms, shared.models ~16 ms, compiling the project's "
    "modules ~65 ms, the store modules and SQLite schema ~30 ms, the provider router ~8 ms. Shipping .pyc, "
    "Settings without pydantic-settings and a store bundle that opens only what is used would still leave ~1.8x; "
    "1.2x needs a health answer that loads no pydantic at all (README 'Cold start')."
)
GENERATOR_NOTE = (
    "a generator's start loads what health loads plus its own service and request models; see health's note."
)


def cold_start_figures(runs: dict[str, list[Run]]) -> list[Figure]:
    hello = fastest(runs[HELLO], "seconds")
    figures = []
    for name, measured in runs.items():
        if name == HELLO:
            continue
        value = fastest(measured, "seconds")
        figure = Figure(BENCH, f"{name} cold start", value, "s", "bare functions-framework hello", hello)
        if name == "health":
            figure.target, figure.on_ratio = f"<= {HEALTH_RATIO_LIMIT}", True
        else:
            figure.target = f"<= {GENERATORS_LIMIT_S}"
        if figure.met is False:
            figure.note = HEALTH_NOTE if name == "health" else GENERATOR_NOTE
        figures.append(figure)
    return figures


def resource_figures(runs: dict[str, list[Run]]) -> list[Figure]:
    """CPU time to the first answer (report only) and RSS after it (<= 120 MB), against the hello's."""
    hello_cpu, hello_rss = fastest(runs[HELLO], "cpu_seconds"), median(runs[HELLO], "rss_mb")
    figures = []
    for name, measured in runs.items():
        if name == HELLO:
            continue
        cpu = fastest(measured, "cpu_seconds")
        figures.append(Figure(BENCH, f"{name} CPU to first answer", cpu, "s", "hello", hello_cpu))
        rss = Figure(BENCH, f"{name} RSS", median(measured, "rss_mb"), "MB", "hello", hello_rss, f"<= {RSS_LIMIT_MB}")
        if rss.met is False:
            rss.note = "the instance (gunicorn master + worker) holds more than the 256 MB functions can spare"
        figures.append(rss)
    return figures


def bytecode_figure(count: int) -> Figure:
    """health against hello, the artifact's .pyc written beforehand."""
    root = artifact(compiled=True)
    try:
        runs = rounds(CASES[:2], count, root)
    finally:
        shutil.rmtree(root)
    hello = fastest(runs[HELLO], "seconds")
    return Figure(
        BENCH,
        "health cold start, bytecode cached",
        fastest(runs["health"], "seconds"),
        "s",
        "hello, bytecode cached",
        hello,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds (each starts every function once)")
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    add_json_argument(parser)
    args = parser.parse_args()
    count = 3 if args.quick else args.runs
    root = artifact(compiled=False)
    try:
        runs = rounds(CASES, count, root)
    finally:
        shutil.rmtree(root)
    figures = [*cold_start_figures(runs), bytecode_figure(count), *resource_figures(runs)]
    emit(figures, args.json)


if __name__ == "__main__":
    main()
