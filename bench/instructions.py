"""Instructions a server executes per request, counted by valgrind's callgrind.

Wall-clock and CPU-time figures swing with whatever else runs on these shared 2-core machines;
instruction counts do not (the same code, inputs and environment give the same count, whatever
the load). ``per_request`` starts the server under callgrind (gunicorn's worker included: valgrind
follows the fork), sends ``count`` requests after a warm-up, stops it, and subtracts a run with no
measured requests, so start-up and shutdown cancel out. Only on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from common import free_port

WARM_UP = 20


def available() -> bool:
    return shutil.which("valgrind") is not None


def _run(
    command: list[str], env: dict[str, str], ready: str, call: Callable[[requests.Session, str], None], count: int
) -> int:
    port = free_port()
    logs = Path(tempfile.mkdtemp(prefix="callgrind-"))
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", f"--log-file={logs}/%p.log", *command],
        env={**os.environ, **env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                requests.get(url + ready, timeout=10)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{command} did not start under valgrind") from None
                time.sleep(0.5)
        session = requests.Session()
        for _ in range(WARM_UP + count):
            call(session, url)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(300)
    total = 0
    for log in logs.glob("*.log"):
        found = re.search(r"Collected : (\d+)", log.read_text())
        total += int(found.group(1)) if found else 0
    shutil.rmtree(logs, ignore_errors=True)
    return total


def per_request(
    command: list[str], env: dict[str, str], ready: str, call: Callable[[requests.Session, str], None], count: int
) -> float:
    """Instructions per request of the server ``command`` (all its processes), ``call`` being one request."""
    with ThreadPoolExecutor(2) as pool:  # counts don't depend on the load: both runs at once
        idle, busy = pool.map(lambda n: _run(command, env, ready, call, n), (0, count))
    return (busy - idle) / count
