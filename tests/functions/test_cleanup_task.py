"""The cleanup function over HTTP (``cleanup_task``): the task key, and one daily run end to end
through the real functions (submit, run, cleanup) on a fake clock."""

from __future__ import annotations

import gzip
import time

import pytest

from shared import wiring
from shared.config import Settings
from tests.fakes.clock import FakeClock

PATH = "/api/v1/tasks/daily-cleanup"
KEY = "cleanup-key-0123456789-abcdefghij"
T2I = "/api/v1/generate/text-to-image"


@pytest.fixture
def task(env, client):
    return client("cleanup_task")


@pytest.mark.parametrize("configured", [None, "", "   "])
def test_an_unset_or_empty_key_refuses_every_call(env, task, monkeypatch, configured):
    if configured is not None:
        monkeypatch.setenv("TASK_API_KEY", configured)
    wiring.reset()
    for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "anything"}, {"X-API-Key": configured or "x"}):
        answer = task.post(PATH, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.get_json()["error_type"] == "unauthorized"


def test_only_the_exact_key_runs_the_task(env, task, monkeypatch):
    monkeypatch.setenv("TASK_API_KEY", KEY)
    wiring.reset()
    for wrong in ("", KEY[:-1], KEY + "x", KEY.upper(), "clé-non-ascii-ünïcödé", "\u2603" * 8):
        answer = task.post(PATH, headers={"X-API-Key": wrong})
        assert answer.status_code == 401, wrong
    assert task.post(PATH, headers={"Authorization": f"Bearer {KEY}"}).status_code == 401
    assert task.get(PATH, headers={"X-API-Key": KEY}).status_code == 405
    answer = task.post(PATH, headers={"X-API-Key": KEY})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["complete"] is True and set(body["deleted"]) == {
        "jobs",
        "media",
        "inputs",
        "idempotency",
        "limiter",
        "cache",
        "pending_subscriptions",
        "orphan_media",
        "metrics",
        "alerts",
        "analytics",
    }


def test_the_daily_run_deletes_old_jobs_with_their_files_and_backs_up(env, client, run_job, monkeypatch):
    monkeypatch.setenv("TASK_API_KEY", KEY)
    monkeypatch.setenv("RETENTION_DAYS", "30")
    clock = FakeClock(time.time() - 31 * 86400)  # a month ago
    wiring.install(wiring.Gateway(Settings(), clock))
    old_id = client("generate_text_to_image").post(T2I, json={"prompt": "an old fox"}).get_json()["job_id"]
    run_job(old_id)
    old_key = client("jobs").get(f"/api/v1/jobs/{old_id}").get_json()["result"]["url"].split("/media/")[1].split("?")[0]
    old_file = env / "media" / old_key
    assert old_file.is_file()
    clock.advance(31 * 86400)
    new_id = client("generate_text_to_image").post(T2I, json={"prompt": "a new fox"}).get_json()["job_id"]
    run_job(new_id)

    answer = client("cleanup_task").post(PATH, headers={"X-API-Key": KEY})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["deleted"]["jobs"] == 1 and body["deleted"]["media"] == 1
    assert client("jobs").get(f"/api/v1/jobs/{old_id}").status_code == 404
    assert not old_file.exists()
    assert client("jobs").get(f"/api/v1/jobs/{new_id}").get_json()["status"] == "succeeded"
    assert body["backup"]["kind"] == "sqlite"
    backup = env / "media" / "backups" / body["backup"]["name"]
    assert gzip.decompress(backup.read_bytes())[:16] == b"SQLite format 3\x00"
    again = client("cleanup_task").post(PATH, headers={"X-API-Key": KEY}).get_json()
    assert again["deleted"]["jobs"] == 0
    assert again["backup"] == {**again["backup"], "kind": "skipped", "reason": "recent"}, "one backup a day"
