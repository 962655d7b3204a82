"""Cold start to first answer, and memory per instance, for single functions as Cloud Functions
runs them (the functions-framework CLI on main.py), against a bare functions-framework hello.

Run: .venv/bin/python bench/coldstart.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port  # noqa: E402

CLI = str(Path(sys.executable).with_name("functions-framework"))
LIMITS = "anonymous=1000000,registered=1000000,donor=1000000"


def cold(target: str, source: Path, method: str, path: str, body: dict | None) -> tuple[float, float]:
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": tempfile.mkdtemp(prefix="cold-"),
        "DISPATCHER": "none",
        "LOG_LEVEL": "WARNING",
        "TIER_LIMITS": LIMITS,
        "LOAD_HOST_METRICS": "false",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [CLI, "--target", target, "--source", str(source), "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                response = requests.request(method, f"http://127.0.0.1:{port}{path}", json=body, timeout=5)
                if response.status_code < 500:
                    elapsed = time.perf_counter() - started
                    break
            except requests.ConnectionError:
                time.sleep(0.005)
            if time.perf_counter() - started > 60:
                raise RuntimeError(f"{target} did not answer")
        rss = sum(
            p.memory_info().rss for p in [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
        )
        return elapsed, rss / 1024 / 1024
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cases = [
        ("bare hello", "hello", ROOT / "bench" / "hello_main.py", "GET", "/", None),
        ("health", "health", ROOT / "main.py", "GET", "/api/v1/health", None),
        (
            "text-to-image",
            "generate_text_to_image",
            ROOT / "main.py",
            "POST",
            "/api/v1/generate/text-to-image",
            {"prompt": "x"},
        ),
        ("text", "generate_text", ROOT / "main.py", "POST", "/api/v1/generate/text", {"prompt": "x"}),
    ]
    print(f"{'function':<16}{'cold start s (median)':>24}{'RSS MB':>9}")
    for name, target, source, method, path, body in cases:
        runs = [cold(target, source, method, path, body) for _ in range(args.runs)]
        print(f"{name:<16}{statistics.median(r[0] for r in runs):>24.3f}{statistics.median(r[1] for r in runs):>9.1f}")


if __name__ == "__main__":
    main()
