"""The Pub/Sub emulator of the installed Google Cloud CLI, started once per test session, driven
through its REST API (topics, push subscriptions, publish) with ``requests``."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import free_port

COMPONENT = "pubsub-emulator"
PROJECT = "demo-aiart-gateway"


def missing_component() -> str | None:
    """Why the emulator cannot run here, or None (gcloud and Java are required like Firestore's)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return "gcloud is not on PATH"
    platform = Path(os.path.realpath(gcloud)).parent.parent / "platform"
    if not (platform / COMPONENT).is_dir():
        return f"the Google Cloud CLI at {gcloud} has no '{COMPONENT}' component ({platform}); " + (
            f"install it with `gcloud components install {COMPONENT}` or the google-cloud-cli-pubsub-emulator package"
        )
    return None


class PubSubEmulator:
    def __init__(self, log_path: Path, startup_timeout: float = 90.0) -> None:
        self.host = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.host}/v1/projects/{PROJECT}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port={self.host}", f"--project={PROJECT}"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # gcloud -> java in one process group, stopped together
        )
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Pub/Sub emulator exited:\n{self.output()}")
            try:
                if requests.get(f"http://{self.host}/", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Pub/Sub emulator did not answer within {startup_timeout}s:\n{self.output()}")
            time.sleep(0.2)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def topic(self, name: str) -> str:
        answer = requests.put(f"{self.url}/topics/{name}", json={}, timeout=10)
        answer.raise_for_status()
        return str(answer.json()["name"])

    def push_subscription(self, name: str, topic: str, endpoint: str, ack_deadline: int = 60) -> None:
        body = {"topic": topic, "pushConfig": {"pushEndpoint": endpoint}, "ackDeadlineSeconds": ack_deadline}
        requests.put(f"{self.url}/subscriptions/{name}", json=body, timeout=10).raise_for_status()

    def publish(self, topic_name: str, data: dict[str, object]) -> str:
        message = {"data": base64.b64encode(json.dumps(data).encode()).decode()}
        answer = requests.post(f"{self.url}/topics/{topic_name}:publish", json={"messages": [message]}, timeout=10)
        answer.raise_for_status()
        return str(answer.json()["messageIds"][0])

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        try:  # gcloud may have exited while java lives on in its group
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSubEmulator]:
    problem = missing_component()
    if problem is not None:
        pytest.skip(f"Pub/Sub end-to-end test skipped: {problem}")
    emulator = PubSubEmulator(tmp_path_factory.mktemp("pubsub-emulator") / "emulator.log")
    try:
        yield emulator
    finally:
        emulator.stop()
