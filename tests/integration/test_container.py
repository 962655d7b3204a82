"""The container backend, as far as this machine can run it (no container runtime here): the
Dockerfile's own CMD, read from the Dockerfile, serves the app with the Dockerfile's ENV on the
Firestore emulator; health, submit and poll answer; a job submitted to it is run by the other
backend (the run_job function in this process, on the same Firestore project) and its result is
served back by the container. The host configs (render.yaml, fly.toml, railway.json) name the same
settings as serverless.yml, keep secrets out of plain values, and share Firestore.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml

from shared import wiring
from tests.conftest import TASKS_TOKEN, function_client
from tests.firestore_emulator import FirestoreEmulator
from tests.helpers import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
T2I = "/api/v1/generate/text-to-image"
# Settings only the functions need: the container runs its own jobs (DISPATCHER=inprocess).
FUNCTIONS_ONLY = {"CLOUD_TASKS_QUEUE", "RUN_JOB_URL", "CLOUD_TASKS_SERVICE_ACCOUNT"}
OUTSIDE_GOOGLE = {"FIRESTORE_PROJECT", "FIREBASE_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"}  # no ambient project
SECRETS = {
    "SESSION_SECRET": "Zq7-vN2_pL9xR4tB8mK1wY6cH3jD5sF0gA",
    "TASKS_TOKEN": TASKS_TOKEN + "-for-production-0123456789",
    "BYOK_ENCRYPTION_KEY": "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=",
    "MEDIA_SIGNING_KEY": "Ag0Fs5Dj3Hc6Yw1Km8Bt4Rx9Lp_2Nv-7qZ",
}


def dockerfile() -> dict:
    """The instructions that matter, from the Dockerfile itself."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    found: dict = {"ENV": {}, "COPY": [], "RUN": []}
    for line in lines:
        keyword, _, rest = line.partition(" ")
        if keyword == "ENV":
            found["ENV"].update(pair.split("=", 1) for pair in shlex.split(rest))
        elif keyword in ("COPY", "RUN"):
            found[keyword].append(rest)
        elif keyword == "HEALTHCHECK":
            found["HEALTHCHECK"] = json.loads(rest.split(" CMD ", 1)[1])
        elif keyword == "CMD":
            found["CMD"] = json.loads(rest)
        else:
            found[keyword] = rest
    return found


def test_the_dockerfile_is_slim_non_root_hash_pinned_and_serves_the_wsgi_app_on_port():
    image = dockerfile()
    assert re.fullmatch(r"python:3\.11[.\d]*-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image["FROM"])
    assert image["USER"].split(":")[0] not in ("root", "0")
    installs = [r for r in image["RUN"] if "pip install" in r]
    assert installs == ["pip install --require-hashes --only-binary :all: -r requirements.txt"]
    assert image["CMD"][0] == "gunicorn" and image["CMD"][-1] == "shared.wsgi:app"
    assert not any(a.startswith(("--bind", "-b")) for a in image["CMD"]), "gunicorn binds 0.0.0.0:$PORT itself"
    assert image["ENV"]["STORE"] == "firestore" and image["ENV"]["ENVIRONMENT"] == "production"
    copied = {c.split()[0].rstrip("/") for c in image["COPY"]}
    assert copied == {"requirements.txt", "main.py", "functions", "shared", "site"}
    ignored = [line for line in (ROOT / ".dockerignore").read_text().split() if not line.startswith("#")]
    assert ignored[0] == "*" and {f"!{c}" for c in copied} <= {i.rstrip("/") for i in ignored}


def _host_settings() -> dict[str, dict[str, str | None]]:
    """host -> {variable: plain value, or None for a value kept in the host's secrets}."""
    render = yaml.safe_load((ROOT / "render.yaml").read_text())["services"][0]
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    return {
        "render": {v["key"]: (None if v.get("sync") is False else str(v.get("value"))) for v in render["envVars"]},
        "fly": {**dict(fly["env"]), **{name: None for name in _fly_secrets()}},
    }


def _fly_secrets() -> set[str]:
    text = (ROOT / "fly.toml").read_text()
    command = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    return set(re.findall(r"([A-Z][A-Z0-9_]+)=", command.split("fly secrets set", 1)[1].split("fly deploy")[0]))


def test_the_host_configs_name_the_same_settings_as_serverless_with_secrets_kept_secret():
    plan = yaml.safe_load((ROOT / "serverless.yml").read_text())["provider"]
    plain = set(plan["environment"]) - FUNCTIONS_ONLY
    secrets = set(plan["secrets"])
    for host, settings in _host_settings().items():
        missing = sorted((plain | secrets | OUTSIDE_GOOGLE) - set(settings))
        assert not missing, (
            f"{host}: add {missing} (set for the functions in serverless.yml) to render.yaml and fly.toml"
        )
        assert all(settings[name] is None for name in secrets), f"{host}: a secret as a plain value"
        assert settings["STORE"] == "firestore" and settings["ENVIRONMENT"] == "production", host
        assert settings["DISPATCHER"] == "inprocess" and settings["TRUSTED_PROXY_HOPS"] == "1", host
    render = yaml.safe_load((ROOT / "render.yaml").read_text())["services"][0]
    assert render["runtime"] == "docker" and render["healthCheckPath"] == "/api/v1/health"
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    assert fly["build"]["dockerfile"] == "Dockerfile" and fly["http_service"]["internal_port"] == 8080
    assert fly["http_service"]["checks"][0]["path"] == "/api/v1/health"
    assert fly["files"][0]["guest_path"] == fly["env"]["GOOGLE_APPLICATION_CREDENTIALS"]
    railway = json.loads((ROOT / "railway.json").read_text())
    assert railway["build"]["builder"] == "DOCKERFILE" and railway["deploy"]["healthcheckPath"] == "/api/v1/health"


def _image(target: Path) -> Path:
    """The image's /app: what the Dockerfile copies, nothing else."""
    target.mkdir()
    for line in dockerfile()["COPY"]:
        source = line.split()[0].rstrip("/")
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / source, target / source)
    return target


@contextmanager
def _container(tmp_path: Path, emulator: FirestoreEmulator, dispatcher: str) -> Iterator[tuple]:
    """The Dockerfile's CMD and ENV, as `docker run -e ...` would give them, on the emulator."""
    project = f"demo-container-{os.getpid()}-{int(time.time() * 1000)}"
    port = free_port()
    app = _image(tmp_path / "app")
    media = tmp_path / "media"  # the backends' shared bucket, here a folder both can reach
    image = dockerfile()
    env = {"PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path), **image["ENV"]}
    env |= {"PORT": str(port), "DATA_DIR": str(tmp_path / "data"), "FIRESTORE_PROJECT": project}
    env |= {"FIRESTORE_EMULATOR_HOST": emulator.host, "DISPATCHER": dispatcher, "LOAD_HOST_METRICS": "false"}
    env |= {"MEDIA_BACKEND": "local", "MEDIA_DIR": str(media), "LOCAL_PROVIDER_ENABLED": "true", **SECRETS}
    env |= {"TIER_LIMITS": "anonymous=100,registered=100,donor=100", "LOG_LEVEL": "WARNING"}
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(image["CMD"], cwd=app, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, tmp_path / "gunicorn.log")
        yield url, env, project, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        emulator.reset(project)


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer: {log.read_text(errors='replace')[-3000:]}")


def _other_backend(monkeypatch, env: dict, project: str) -> None:
    """This process as the functions' side: the same Firestore project, bucket and secrets."""
    for name in ("STORE", "MEDIA_BACKEND", "MEDIA_DIR", *SECRETS, "LOCAL_PROVIDER_ENABLED", "FIRESTORE_EMULATOR_HOST"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("FIRESTORE_PROJECT", project)
    monkeypatch.setenv("DISPATCHER", "none")
    wiring.reset()


def test_the_dockerfiles_command_serves_and_the_other_backend_runs_what_it_accepted(
    env,
    tmp_path,
    firestore_emulator,  # noqa: F811
    monkeypatch,
):
    with _container(tmp_path, firestore_emulator, dispatcher="none") as (url, container_env, project, process):
        health = subprocess.run(dockerfile()["HEALTHCHECK"], env=container_env, timeout=30)
        assert health.returncode == 0, "the image's HEALTHCHECK passes"
        assert requests.get(f"{url}/api/v1/health", timeout=5).json()["status"] == "ok"
        assert requests.get(f"{url}/", timeout=5).status_code == 200, "the site is served too"

        accepted = requests.post(f"{url}{T2I}", json={"prompt": "a fox on two backends"}, timeout=10)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        polled = requests.get(f"{url}/api/v1/jobs/{job_id}", timeout=5).json()
        assert polled["status"] == "queued" and polled["position"] == 0

        _other_backend(monkeypatch, container_env, project)  # the functions: a Cloud Tasks token arrives
        token = {"Authorization": f"Bearer {SECRETS['TASKS_TOKEN']}"}
        ran = function_client("run_job").post("/api/v1/tasks/run-job", json={"job_id": job_id}, headers=token)
        assert ran.status_code == 200 and ran.get_json() == {"job_id": job_id, "status": "succeeded"}

        done = requests.get(f"{url}/api/v1/jobs/{job_id}", timeout=5).json()
        assert done["status"] == "succeeded", done
        image = requests.get(f"{url}{done['result']['url']}", timeout=10)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, "a graceful stop"


def test_with_its_own_dispatcher_the_container_runs_jobs_the_functions_accepted(
    env,
    tmp_path,
    firestore_emulator,  # noqa: F811
    monkeypatch,
):
    with _container(tmp_path, firestore_emulator, dispatcher="inprocess") as (url, container_env, project, _):
        _other_backend(monkeypatch, container_env, project)  # the functions accept; no task is made here
        accepted = function_client("generate_text_to_image").post(T2I, json={"prompt": "a fox for the container"})
        assert accepted.status_code == 202, accepted.get_json()
        job_id = accepted.get_json()["job_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = requests.get(f"{url}/api/v1/jobs/{job_id}", timeout=5).json()
            if body["status"] not in ("queued", "running"):
                break
            time.sleep(0.2)
        assert body["status"] == "succeeded", body
        assert function_client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["status"] == "succeeded"


def test_a_host_without_secret_files_hands_the_key_over_in_a_variable(monkeypatch, tmp_path):
    from shared import gunicorn_conf

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("GOOGLE_CREDENTIALS_JSON", '{"type": "service_account"}')
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    gunicorn_conf.credentials_from_env()
    key = Path(os.environ["GOOGLE_APPLICATION_CREDENTIALS"])
    assert key.parent == tmp_path and key.read_text() == '{"type": "service_account"}'
    assert key.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("GOOGLE_CREDENTIALS_JSON", "{}")
    gunicorn_conf.credentials_from_env()
    assert os.environ["GOOGLE_APPLICATION_CREDENTIALS"] == str(key), "a configured file path wins"
