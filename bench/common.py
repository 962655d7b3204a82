"""Shared helpers for benchmarks: start servers on 127.0.0.1, time requests, print figures."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port  # noqa: E402


def start(args: list[str], env: dict[str, str], health: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, **env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + health, timeout=1).status_code < 500:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{args} did not start")


def embedded(**env: str) -> tuple[subprocess.Popen, str]:
    data = tempfile.mkdtemp(prefix="bench-")
    settings = {
        "DATA_DIR": data,
        "LOG_LEVEL": "WARNING",
        "TIER_LIMITS": "anonymous=100000000,registered=100000000,donor=100000000",
        "TEXT_TIER_LIMITS": "anonymous=100000000,registered=100000000,donor=100000000",
        "MAX_QUEUE_DEPTH": "100000000",
        "QUEUE_CAPACITY": "100000000",
        "LOAD_HOST_METRICS": "false",
        **env,
    }
    return start([sys.executable, "-m", "shared.devserver"], settings, "/api/v1/health")


def hello() -> tuple[subprocess.Popen, str]:
    return start([sys.executable, str(ROOT / "bench" / "serve_hello.py")], {}, "/")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def latency(call: Callable[[requests.Session], None], count: int) -> dict[str, float]:
    session = requests.Session()
    for _ in range(min(50, count)):
        call(session)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call(session)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(times), "p99_ms": percentile(times, 0.99)}


def throughput(call: Callable[[requests.Session], None], seconds: float, workers: int) -> float:
    deadline = time.monotonic() + seconds
    counts = [0] * workers

    def loop(index: int) -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            call(session)
            counts[index] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(loop, range(workers)))
    return sum(counts) / (time.monotonic() - started)


# --- Figures for `make bench` (bench/run.py collects them into bench/RESULTS.md) -------------

TARGET_OPS = {"<=": lambda value, limit: value <= limit, ">=": lambda value, limit: value >= limit}


@dataclass
class Figure:
    """One measured figure, with the baseline it is compared to in the same run and its target.

    ``target`` is ``"<= 1.2"`` or ``">= 2"`` on ``value`` (or on ``ratio`` when ``on_ratio``);
    no target means the figure is reported only. ``note`` says what a missed target needs.
    """

    bench: str
    name: str
    value: float
    unit: str = ""
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    on_ratio: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        op, limit = self.target.split()
        measured = self.ratio if self.on_ratio else self.value
        return None if measured is None else TARGET_OPS[op](measured, float(limit))

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here (bench/run.py uses it)")


def emit(figures: list[Figure], path: Path | None) -> None:
    """Print each figure with its ratio and target; write them as JSON when ``--json`` was given."""
    for f in figures:
        ratio = f" ({f.ratio:.2f}x {f.baseline})" if f.ratio is not None else ""
        verdict = {True: "met", False: "MISSED", None: ""}[f.met]
        target = f" target {'ratio ' if f.on_ratio else ''}{f.target} {verdict}" if f.target else ""
        print(f"  {f.bench}: {f.name} = {f.value:.4g} {f.unit}{ratio}{target}")
    if path is not None:
        path.write_text(json.dumps([f.as_dict() for f in figures], indent=1))


def noted(figure: Figure, note: str) -> Figure:
    """``figure`` with ``note`` when its target is not met: why, and what would close it (a met
    target needs none, so RESULTS.md shows notes only where they explain a miss)."""
    if figure.target and figure.met is not True:
        figure.note = note
    return figure
