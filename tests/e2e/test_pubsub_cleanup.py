"""The cleanup's CloudEvent entry point end to end: a message published to the cleanup topic of
the Google Cloud CLI's Pub/Sub emulator reaches the ``cleanup`` function through a push
subscription to the embedded server (a real subprocess), which runs the daily cleanup."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from shared.domain import JobStatus
from shared.stores.factory import open_sqlite
from tests.contract.test_job_store import make_job
from tests.e2e.server import DevServer
from tests.pubsub_emulator import PROJECT, pubsub_emulator  # noqa: F401  (session fixture)

pytestmark = pytest.mark.slow
KEY = "pubsub-cleanup-key-0123456789abcdef"
DAY = 86400.0


def _seed(data_dir: Path) -> tuple[list, list, dict[str, Path]]:
    """Jobs a month and more old and a few days old, each with its output file."""
    now = time.time()
    stores = open_sqlite(data_dir / "gateway.sqlite3")
    files: dict[str, Path] = {}
    old, recent = [], []
    try:
        for group, age in ((old, 31 * DAY), (recent, 3 * DAY)):
            for i in range(3):
                job = make_job(now - age - i)
                job = job.evolve(
                    status=JobStatus.SUCCEEDED, result={"key": f"outputs/{job.id}.png", "mime_type": "image/png"}
                )
                path = data_dir / "media" / "outputs" / f"{job.id}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"\x89PNG")
                os.utime(path, (job.created_at, job.created_at))
                files[job.id] = path
                stores.jobs.create(job)
                group.append(job)
    finally:
        stores.close()
    return old, recent, files


def test_a_message_on_the_cleanup_topic_runs_the_cleanup(pubsub_emulator, tmp_path):  # noqa: F811
    old, recent, files = _seed(tmp_path)
    server = DevServer(tmp_path, TASK_API_KEY=KEY, DISPATCHER="none")
    try:
        push = f"{server.url}/_pubsub/cleanup"
        assert requests.post(push, json={}, timeout=10).status_code == 401, "no token, no run"
        assert requests.post(f"{push}?token=wrong", json={}, timeout=10).status_code == 401
        assert requests.get(f"{server.url}/api/v1/jobs/{old[0].id}", timeout=10).status_code == 200

        topic = pubsub_emulator.topic("daily-cleanup")
        endpoint = f"{push}/{topic}?token={KEY}"  # the topic in the path: the CloudEvent's source names it
        pubsub_emulator.push_subscription("cleanup-push", topic, endpoint)
        pubsub_emulator.publish("daily-cleanup", {})

        deadline = time.monotonic() + 60
        while requests.get(f"{server.url}/api/v1/jobs/{old[-1].id}", timeout=10).status_code != 404:
            assert time.monotonic() < deadline, f"the cleanup did not run:\n{server.output()}"
            time.sleep(0.3)
        for job in old:
            assert requests.get(f"{server.url}/api/v1/jobs/{job.id}", timeout=10).status_code == 404
            assert not files[job.id].exists()
        for job in recent:
            assert requests.get(f"{server.url}/api/v1/jobs/{job.id}", timeout=10).json()["status"] == "succeeded"
            assert files[job.id].exists()
        deadline = time.monotonic() + 30  # the backup follows the cleanup in the same run
        while not list((tmp_path / "media" / "backups").glob("gateway-*.sqlite3.gz")):
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
        assert "Traceback" not in server.output()
    finally:
        server.stop()
    assert PROJECT in topic


def test_the_embedded_server_schedules_its_own_daily_run(tmp_path):
    """``make dev`` has no Cloud Scheduler: its first request starts the daily run in the background."""
    old, recent, files = _seed(tmp_path)
    server = DevServer(tmp_path)  # the in-process dispatcher: the embedded default
    try:
        deadline = time.monotonic() + 60
        while requests.get(f"{server.url}/api/v1/jobs/{old[0].id}", timeout=10).status_code != 404:
            assert time.monotonic() < deadline, f"the daily run did not start:\n{server.output()}"
            time.sleep(0.3)
        deadline = time.monotonic() + 30
        while not list((tmp_path / "media" / "backups").glob("gateway-*.sqlite3.gz")):
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
        assert all(not files[job.id].exists() for job in old) and all(files[job.id].exists() for job in recent)
    finally:
        server.stop()
