"""The deploy artifact works on its own: `serverless package`, offline and with no credentials, makes
a zip that holds what the functions import and nothing else; a clean venv made from the artifact's
own requirements.txt (hashes required, wheels only) imports every handler serverless.yml names.

The wheels come from a cache kept between runs (``$ARTIFACT_WHEEL_CACHE``, else
``~/.cache/aiart-gateway/wheels``): the first run downloads them from the package index (hash-checked),
later runs install with ``--no-index``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SKIP = {".git", ".venv", "node_modules", ".data", ".serverless", ".pytest_cache", ".ruff_cache", ".hypothesis"}
NEVER = ("tests", "bench", "site", "tools", "node_modules", ".venv", ".data", ".git", ".ci")
SHIPPED = {"main.py", "requirements.txt", "functions", "shared"}
DEAD_PROXY = "http://127.0.0.1:9"  # anything that tried the network would fail


def _service_copy(target: Path) -> None:
    """The working tree as a deployer has it, plus stand-ins for what must never ship."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and d != "__pycache__"]
        here = target / Path(folder).relative_to(ROOT)
        here.mkdir(exist_ok=True)
        for name in files:
            shutil.copy2(Path(folder) / name, here / name)
    (target / "node_modules").symlink_to(ROOT / "node_modules")  # the pinned serverless and its plugin
    for decoy in (".venv/bin/python", ".data/gateway.sqlite3", "shared/__pycache__/wiring.cpython-311.pyc"):
        (target / decoy).parent.mkdir(parents=True, exist_ok=True)
        (target / decoy).write_text("must not ship")


def _package(service: Path, home: Path) -> Path:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),  # no ~/.gcloud, no ~/.serverlessrc: no credentials of any kind
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "GCP_PROJECT": "demo-aiart-gateway",
        "CLOUD_TASKS_QUEUE": "projects/demo-aiart-gateway/locations/us-central1/queues/jobs",
        "RUN_JOB_URL": "https://us-central1-demo-aiart-gateway.cloudfunctions.net/run_job",
        **{name: DEAD_PROXY for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
    }
    done = subprocess.run(
        ["npx", "--no-install", "serverless", "package"],
        cwd=service,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return service / ".serverless" / "aiart-gateway.zip"


def _wheel_cache() -> Path:
    configured = os.environ.get("ARTIFACT_WHEEL_CACHE")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cache = Path(configured) if configured else base / "aiart-gateway" / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def _clean_venv(venv: Path, requirements: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    hashed = ["--require-hashes", "--only-binary", ":all:", "-r", str(requirements)]
    cache = _wheel_cache()
    offline = [*pip, "--isolated", "install", "-q", "--no-compile", "--no-index", "--find-links", str(cache)]
    if subprocess.run([*offline, *hashed], capture_output=True, timeout=300).returncode == 0:
        return
    download = subprocess.run([*pip, "download", "-q", "-d", str(cache), *hashed], capture_output=True, timeout=600)
    assert download.returncode == 0, download.stderr.decode()[-3000:]
    installed = subprocess.run([*offline, *hashed], capture_output=True, timeout=300)
    assert installed.returncode == 0, installed.stderr.decode()[-3000:]


IMPORT_EVERY_HANDLER = """
import json, os, sys
import main
from functions_framework import create_app
from functions_framework._function_registry import REGISTRY_MAP
handlers = json.loads(sys.argv[1])
for handler, kind in handlers.items():
    assert callable(getattr(main, handler)), handler
    assert REGISTRY_MAP[handler] == kind, (handler, REGISTRY_MAP[handler], kind)
health = create_app(target="health", source=os.path.abspath("main.py"), signature_type="http").test_client()
answer = health.get("/api/v1/health")
assert answer.status_code == 200, answer.get_data()
for dev_only in ("pytest", "yaml", "moto"):
    try:
        __import__(dev_only)
    except ImportError:
        continue
    raise AssertionError(dev_only + " is installed: the venv is not clean")
print("imported", len(handlers), "handlers from", os.path.dirname(main.__file__))
"""


def test_the_packaged_artifact_holds_only_the_functions_and_imports_every_handler_in_a_clean_venv(tmp_path):
    service = tmp_path / "service"
    service.mkdir()
    _service_copy(service)
    started = time.monotonic()
    artifact = _package(service, tmp_path / "home")
    packaged = time.monotonic() - started

    with zipfile.ZipFile(artifact) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "unpacked")
    top = {name.split("/", 1)[0] for name in names}
    assert top == SHIPPED, f"the artifact holds {sorted(top)}"
    assert not [n for n in names if "__pycache__" in n or n.startswith(NEVER)]
    unpacked = tmp_path / "unpacked"
    assert (unpacked / "requirements.txt").read_bytes() == (ROOT / "requirements.txt").read_bytes()
    assert "--hash=sha256:" in (unpacked / "requirements.txt").read_text()

    _clean_venv(tmp_path / "venv", unpacked / "requirements.txt")
    installed = time.monotonic() - started - packaged

    plan = yaml.safe_load((ROOT / "serverless.yml").read_text())["functions"]
    handlers = {block["handler"]: "http" if "http" in block["events"][0] else "cloudevent" for block in plan.values()}
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "DATA_DIR": str(tmp_path / "data")}
    env |= {"DISPATCHER": "none", "ENVIRONMENT": "test", "LOAD_HOST_METRICS": "false"}
    done = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-E", "-s", "-c", IMPORT_EVERY_HANDLER, json.dumps(handlers)],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert str(unpacked) in done.stdout, "main.py came from the artifact, not the repository"
    size = artifact.stat().st_size
    print(
        f"\nserverless package: {packaged:.1f} s, artifact {size / 1024:.0f} KiB, {len(names)} files; "
        f"clean venv: {installed:.1f} s"
    )
