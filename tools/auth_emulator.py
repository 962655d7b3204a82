"""The Firebase Auth emulator (``firebase-tools`` from package.json), around a command.

    python -m tools.auth_emulator [--dev] -- COMMAND ...

starts ``firebase emulators:start --only auth --project demo-aiart-gateway`` (offline, no Java,
~11-25 s to start), sets ``FIREBASE_AUTH_EMULATOR_HOST`` for COMMAND at once (the product and
the tests wait for it to answer), runs COMMAND and stops the emulator after it. ``make test``
runs pytest this way, so every xdist worker shares ONE emulator; ``make dev`` runs the embedded
server this way (``--dev``: the port of firebase.json, 9099) and prints where to sign in. Without
Node.js or ``node_modules`` the command runs anyway, anonymous only, and says so once.

``python -m tools.auth_emulator serve --dir DIR --watch PID`` (used by the tests when pytest runs
without make) starts one in DIR, writes its ``host:port`` to DIR/host, and stops it when PID ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-aiart-gateway"
VARIABLE = "FIREBASE_AUTH_EMULATOR_HOST"
FIREBASE = ROOT / "node_modules" / ".bin" / "firebase"
DEV_PORT = 9099  # firebase.json's emulators.auth.port


def missing() -> str | None:
    """Why the emulator cannot start here, or None."""
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if not FIREBASE.exists():
        return "firebase-tools is not installed (run `npm ci --ignore-scripts`)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(host: str) -> bool:
    try:
        return requests.get(f"http://{host}/", timeout=1).ok
    except requests.RequestException:
        return False


def wait_ready(host: str, timeout: float = 120.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready(host):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Auth emulator exited (code {process.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Auth emulator at {host} did not answer within {timeout:.0f} s")
        time.sleep(0.2)


class Emulator:
    """One emulator in its own folder (its config, log and firebase-debug.log), its own process group."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = {
            "emulators": {
                "auth": {"host": "127.0.0.1", "port": self.port},
                "hub": {"host": "127.0.0.1", "port": free_port()},  # not 4400: other runs may hold it
                "logging": {"host": "127.0.0.1", "port": free_port()},
                "ui": {"enabled": False},
                "singleProjectMode": True,
            }
        }
        (workdir / "firebase.json").write_text(json.dumps(config))
        self.log_path = workdir / "emulator.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - open while the emulator runs
        self.process = subprocess.Popen(  # noqa: S603 - our own pinned firebase-tools
            [str(FIREBASE), "emulators:start", "--only", "auth", "--project", PROJECT, "--config", "firebase.json"],
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # firebase -> node children stop together
            env={**os.environ, "CI": os.environ.get("CI", "true")},  # no prompts, no update checks
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(workdir: Path, watch: int) -> int:
    emulator = Emulator(workdir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        (workdir / "host.tmp").write_text(emulator.host)
        (workdir / "host.tmp").rename(workdir / "host")
        while _alive(watch) and emulator.process.poll() is None:
            time.sleep(1)
    finally:
        emulator.stop()
    return 0


def around(command: list[str], dev: bool) -> int:
    problem = missing()
    if problem is not None or os.environ.get(VARIABLE):
        if problem is not None and dev:
            print(f"Sign-in is off: {problem}. The product runs for anonymous visitors only.", flush=True)
        return subprocess.call(command)  # noqa: S603 - the command make gave
    with tempfile.TemporaryDirectory(prefix="auth-emulator-") as folder:
        emulator = Emulator(Path(folder), DEV_PORT if dev else None)
        if dev:
            print(
                f"Firebase Auth emulator starting at http://{emulator.host} (project {PROJECT}); "
                "sign in on the site once the server is up.",
                flush=True,
            )
        child = subprocess.Popen(command, env={**os.environ, VARIABLE: emulator.host})  # noqa: S603 - make's
        try:
            return child.wait()
        except KeyboardInterrupt:
            return child.wait()
        finally:
            emulator.stop()


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        workdir = Path(argv[argv.index("--dir") + 1])
        return serve(workdir, int(argv[argv.index("--watch") + 1]))
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    return around(argv[split + 1 :], dev="--dev" in argv[:split])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
