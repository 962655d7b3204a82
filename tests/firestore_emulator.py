"""The official Firestore emulator (Google Cloud CLI component), started once per test session.

Each test gets its own project id on the one emulator, so tests never see each other's
documents; the project's documents are deleted through the emulator's REST reset afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.config import Settings
from tests.helpers import free_port

COMPONENT = "cloud-firestore-emulator"
HOW_TO_INSTALL = (
    "The Firestore contract tests need the official emulator: the Google Cloud CLI (gcloud) with its "
    f"'{COMPONENT}' component and Java 17+. Install with `apt-get install google-cloud-cli "
    "google-cloud-cli-firestore-emulator openjdk-17-jre-headless` (Google's apt repository) or "
    f"`gcloud components install {COMPONENT}`."
)


def missing_requirements() -> str | None:
    """Why the emulator cannot start here, or None."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return "gcloud is not on PATH."
    sdk_root = Path(os.path.realpath(gcloud)).parent.parent
    if not (sdk_root / "platform" / COMPONENT).is_dir():
        return f"gcloud at {gcloud} has no '{COMPONENT}' component (looked in {sdk_root / 'platform'})."
    if shutil.which("java") is None:
        return "java is not on PATH."
    return None


class FirestoreEmulator:
    def __init__(self, log_path: Path, startup_timeout: float = 90.0, port: int | None = None) -> None:
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self._log = open(log_path, "wb")  # noqa: SIM115
        self._start()

    def _start(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            ["gcloud", "emulators", "firestore", "start", f"--host-port={self.host}", "--quiet", *extra],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: gcloud -> script -> java all stop together
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Firestore emulator exited:\n{self.output()}")
            try:
                if requests.get(f"http://{self.host}/", timeout=1).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or too busy starting
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the Firestore emulator did not answer within {self.startup_timeout}s:\n{self.output()}"
                )
            time.sleep(0.2)

    def export(self, project: str, directory: Path) -> Path:
        """Write ``project``'s documents to ``directory`` (the emulator's REST export); the returned
        metadata file is what ``restart(import_data=...)`` loads."""
        directory.mkdir(parents=True, exist_ok=True)
        url = f"http://{self.host}/emulator/v1/projects/{project}:export"
        body = {"database": f"projects/{project}/databases/(default)", "export_directory": str(directory)}
        requests.post(url, json=body, timeout=60).raise_for_status()
        return max(directory.glob("*/*.overall_export_metadata"), key=lambda found: found.stat().st_mtime)

    def restart(self, import_data: Path | None = None) -> None:
        """Stop the emulator (its documents are gone with it) and start it again on the same port,
        loading an ``export`` when given."""
        self.stop()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # java may hold the port a moment after gcloud exits
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.2)
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self._start(*([f"--import-data={import_data}"] if import_data is not None else []))

    def pause(self) -> None:
        """Freeze the emulator (SIGSTOP): connections are accepted and never answered, a hung store."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def settings(self, **overrides: object) -> Settings:
        """Settings for a store of a new, empty project on this emulator."""
        values: dict[str, object] = {
            "store": "firestore",
            "firestore_project": f"demo-test-{uuid.uuid4().hex[:12]}",
            "firestore_emulator_host": self.host,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    def reset(self, project: str) -> None:
        """Delete every document of ``project`` (the emulator's own REST endpoint)."""
        url = f"http://{self.host}/emulator/v1/projects/{project}/databases/(default)/documents"
        requests.delete(url, timeout=30).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            os.killpg(self.process.pid, signal.SIGCONT)  # a paused emulator stops too
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        else:
            try:  # gcloud may have exited while java lives on in its group
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirestoreEmulator]:
    """One emulator per test session (per xdist worker); FIRESTORE_EMULATOR_HOST points at it."""
    problem = missing_requirements()
    if problem is not None:
        pytest.fail(f"{problem} {HOW_TO_INSTALL}", pytrace=False)
    emulator = FirestoreEmulator(tmp_path_factory.mktemp("firestore-emulator") / "emulator.log")
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        yield emulator
    finally:
        if previous is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = previous
        emulator.stop()
