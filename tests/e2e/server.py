"""Start the embedded server (what ``make dev`` runs) as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


class DevServer:
    def __init__(self, data_dir: Path, port: int | None = None, **env: str) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        environment = {**os.environ, "PORT": str(self.port), "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
        environment.pop("DISPATCHER", None)
        # functions-framework's create_app (the function tests) writes FUNCTION_TARGET into this
        # process's environment; a server that inherits it would think it runs on Cloud Functions.
        for variable in ("FUNCTION_TARGET", "K_SERVICE", "FUNCTION_SIGNATURE_TYPE"):
            environment.pop(variable, None)
        environment.update(env)
        self.log = open(data_dir / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shared.devserver"],
            cwd=ROOT,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                if requests.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not answering yet
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.output()}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.data_dir / f"server-{self.port}.log").read_text(errors="replace")[-4000:]

    def stop(self, sig: int | None = None, timeout: float = 20) -> int:
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def wait_for(self, job_id: str, statuses: set[str], timeout: float = 60) -> dict:
        """Poll a job as the site does, until it reaches one of ``statuses`` (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            body = requests.get(f"{self.url}/api/v1/jobs/{job_id}", timeout=5).json()
            if body["status"] in statuses or time.monotonic() > deadline:
                return body
            time.sleep(0.1)
