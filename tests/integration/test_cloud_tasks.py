"""Production dispatch through Cloud Tasks, against a fake Cloud Tasks that delivers like the real one.

(a) the gateway in this process (real functions-framework apps, SQLite) enqueues one task per job;
(b) the embedded server as a subprocess, with DISPATCHER=cloudtasks: the fake delivers to its
    own run_job, which runs the job; a task with a wrong token is refused and retried to failure.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys

import pytest
import requests
from pydantic import ValidationError

from shared import wiring
from shared.config import Settings
from tests.conftest import ROOT, TASKS_TOKEN, function_client
from tests.e2e.server import DevServer
from tests.fakes.clock import FakeClock
from tests.fakes.cloudtasks import FakeCloudTasks
from tests.helpers import free_port

QUEUE = "projects/demo-aiart/locations/us-central1/queues/jobs"
RUN_JOB_URL = "https://worker.example/api/v1/tasks/run-job"
T2I = "/api/v1/generate/text-to-image"


@pytest.fixture
def fake():
    tasks = FakeCloudTasks(paused=True).start()  # paused: (a) looks at what is enqueued
    yield tasks
    tasks.close()


@pytest.fixture
def cloudtasks_env(env, fake, monkeypatch):
    monkeypatch.setenv("DISPATCHER", "cloudtasks")
    monkeypatch.setenv("CLOUD_TASKS_QUEUE", QUEUE)
    monkeypatch.setenv("RUN_JOB_URL", RUN_JOB_URL)
    monkeypatch.setenv("CLOUD_TASKS_ENDPOINT", fake.url)
    monkeypatch.setenv("TIER_LIMITS", "anonymous=100,registered=100,donor=100")
    wiring.reset()
    return monkeypatch


def _submit(prompt: str, status: int = 202, headers=None) -> str:  # type: ignore[no-untyped-def]
    response = function_client("generate_text_to_image").post(T2I, json={"prompt": prompt}, headers=headers or {})
    assert response.status_code == status, response.get_json()
    return response.get_json()["job_id"]


def _status(job_id: str) -> str:
    return function_client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["status"]


# -- (a) the dispatcher against the fake ---------------------------------------------------------


def test_every_submit_becomes_one_task_for_run_job(cloudtasks_env, fake):
    jobs = [_submit("a red fox"), _submit("a blue whale")]
    assert set(fake.tasks) == {f"{QUEUE}/tasks/{job_id}-0" for job_id in jobs}
    for job_id in jobs:
        task = fake.tasks[f"{QUEUE}/tasks/{job_id}-0"]
        assert (task.method, task.url, task.oidc) == ("POST", RUN_JOB_URL, None)
        assert json.loads(task.body) == {"job_id": job_id}
        assert task.headers == {"Authorization": f"Bearer {TASKS_TOKEN}", "Content-Type": "application/json"}
    sent = fake.creates[0]["task"]["httpRequest"]  # what went over the wire: base64 body, numeric enum
    assert json.loads(base64.b64decode(sent["body"])) == {"job_id": jobs[0]} and sent["httpMethod"] == 1


def test_the_same_job_is_enqueued_once(cloudtasks_env, fake, caplog, firebase):
    job_id = _submit("one fox")
    job = wiring.gateway().jobs.get(job_id)
    caplog.set_level(logging.INFO, "gateway.dispatch")
    wiring.gateway().dispatcher.notify(job)  # a second notify of the same job: ALREADY_EXISTS, fine
    assert len(fake.creates) == 2 and list(fake.tasks) == [f"{QUEUE}/tasks/{job_id}-0"]
    assert [r.getMessage() for r in caplog.records] == ["job already enqueued"]

    cloudtasks_env.setenv("SUBMIT_DEDUPE_SECONDS", "30")  # identical submits share a job: no second create
    wiring.reset()
    visitor = firebase.anonymous().bearer  # identical submits of one visitor (its anonymous account)
    assert _submit("same fox", headers=visitor) == _submit("same fox", status=200, headers=visitor)
    assert len(fake.creates) == 3 and len(fake.tasks) == 2


def test_with_a_service_account_the_task_carries_an_oidc_token_and_the_worker_takes_it(cloudtasks_env, fake):
    cloudtasks_env.setenv("CLOUD_TASKS_SERVICE_ACCOUNT", "tasks@demo-aiart.iam.gserviceaccount.com")
    wiring.reset()
    job_id = _submit("a fox by oidc")
    task = fake.tasks[f"{QUEUE}/tasks/{job_id}-0"]
    assert task.oidc == {"serviceAccountEmail": "tasks@demo-aiart.iam.gserviceaccount.com", "audience": RUN_JOB_URL}
    assert "Authorization" not in task.headers and task.headers["X-Tasks-Token"] == TASKS_TOKEN
    # Replay the delivery as Cloud Tasks makes it (Authorization = the OIDC token) on the real worker.
    headers = {**task.headers, "Authorization": "Bearer an-oidc-id-token"}
    answer = function_client("run_job").post("/api/v1/tasks/run-job", data=task.body, headers=headers)
    assert answer.status_code == 200 and answer.get_json()["status"] == "succeeded"
    forged = {**headers, "X-Tasks-Token": "wrong"}
    assert function_client("run_job").post("/api/v1/tasks/run-job", data=task.body, headers=forged).status_code == 401


def test_an_enqueue_failure_neither_fails_the_submit_nor_loses_the_job(cloudtasks_env, fake, caplog):
    cloudtasks_env.setenv("CLOUD_TASKS_RETRY_SECONDS", "0")
    wiring.reset()
    caplog.set_level(logging.INFO, "gateway.dispatch")
    fake.fail_next(503)
    unavailable = _submit("a fox in a 503")
    fake.stop()  # the API does not answer at all
    refused = _submit("a fox with no queue")
    assert fake.tasks == {}
    assert _status(unavailable) == _status(refused) == "queued"
    failures = [r for r in caplog.records if r.getMessage() == "enqueue failed; job stays queued"]
    assert [r.fields["job_id"] for r in failures] == [unavailable, refused]
    assert failures[0].fields["status"] == "503"
    assert TASKS_TOKEN not in "".join(repr(r.__dict__) for r in caplog.records)
    # The jobs are intact: later deliveries (or a re-dispatch) run them, each token the best queued job.
    worker = function_client("run_job")
    headers = {"Authorization": f"Bearer {TASKS_TOKEN}"}
    ran = [worker.post("/api/v1/tasks/run-job", json={"job_id": refused}, headers=headers) for _ in range(2)]
    assert [r.get_json()["job_id"] for r in ran] == [unavailable, refused]
    assert _status(unavailable) == _status(refused) == "succeeded"


def _sweep() -> dict:
    response = function_client("redispatch").post(
        "/api/v1/tasks/redispatch", headers={"Authorization": f"Bearer {TASKS_TOKEN}"}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_sweep_redispatches_a_job_whose_enqueue_failed(cloudtasks_env, fake):
    cloudtasks_env.setenv("CLOUD_TASKS_RETRY_SECONDS", "0")
    clock = FakeClock()
    wiring.install(wiring.Gateway(Settings(), clock))
    fake.fail_next(503)  # Cloud Tasks is down at submit time
    lost = _submit("a fox nobody enqueued")
    assert _sweep() == {"requeued": 0, "redispatched": 0}, "too recent: its task may just be late"
    clock.advance(Settings().redispatch_after_seconds)
    assert _sweep() == {"requeued": 0, "redispatched": 1}
    assert list(fake.tasks) == [f"{QUEUE}/tasks/{lost}-0"]
    assert _sweep()["redispatched"] == 1 and len(fake.tasks) == 1, "a job's task is created once per attempt"
    refused = function_client("redispatch").post("/api/v1/tasks/redispatch")
    assert refused.status_code == 401


def test_the_sweep_gives_a_job_whose_worker_died_a_new_task(cloudtasks_env, fake):
    clock = FakeClock()
    wiring.install(wiring.Gateway(Settings(), clock))
    job_id = _submit("a fox whose worker dies")
    gw = wiring.gateway()
    assert gw.jobs.claim(job_id, "dead-worker", clock.now(), gw.settings.lease_seconds) is not None
    clock.advance(gw.settings.lease_seconds + 1)
    assert _sweep() == {"requeued": 1, "redispatched": 0}
    clock.advance(gw.settings.redispatch_after_seconds)
    assert _sweep()["redispatched"] == 1
    assert set(fake.tasks) == {f"{QUEUE}/tasks/{job_id}-0", f"{QUEUE}/tasks/{job_id}-1"}


def test_transient_enqueue_errors_are_retried_briefly(cloudtasks_env, fake):
    fake.fail_next(503, times=2)  # CLOUD_TASKS_RETRY_SECONDS=2 by default
    job_id = _submit("a patient fox")
    assert len(fake.creates) == 3 and list(fake.tasks) == [f"{QUEUE}/tasks/{job_id}-0"]


def test_cloudtasks_without_its_settings_is_a_startup_error(env, monkeypatch):
    monkeypatch.setenv("DISPATCHER", "cloudtasks")
    with pytest.raises(ValidationError, match="DISPATCHER=cloudtasks needs CLOUD_TASKS_QUEUE, RUN_JOB_URL"):
        Settings()
    monkeypatch.setenv("CLOUD_TASKS_QUEUE", "jobs")  # not a full queue path
    with pytest.raises(ValidationError, match="cloud_tasks_queue"):
        Settings()


def test_functions_start_without_the_cloud_tasks_library():
    code = "import sys, main; from shared import wiring; assert 'google.cloud.tasks_v2' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True).returncode == 0


# -- (b) end to end: the embedded server dispatching through the fake -----------------------------


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    tasks = FakeCloudTasks(max_attempts=3, min_backoff=0.01).start()
    port = free_port()
    server = DevServer(
        tmp_path_factory.mktemp("cloudtasks"),
        port=port,
        DISPATCHER="cloudtasks",
        CLOUD_TASKS_QUEUE=QUEUE,
        CLOUD_TASKS_ENDPOINT=tasks.url,
        RUN_JOB_URL=f"http://127.0.0.1:{port}/api/v1/tasks/run-job",
        TASKS_TOKEN=TASKS_TOKEN,
        SUBMIT_DEDUPE_SECONDS="0",
    )
    yield server, tasks
    assert server.stop() == 0
    tasks.close()


@pytest.mark.slow
def test_a_submitted_job_is_delivered_to_run_job_and_succeeds(deployed):
    server, tasks = deployed
    accepted = requests.post(server.url + T2I, json={"prompt": "a fox under the aurora"}, timeout=10)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    done = server.wait_for(job_id, {"succeeded", "failed", "canceled"})
    assert done["status"] == "succeeded", (done, server.output())
    media = requests.get(server.url + done["result"]["url"], timeout=10)
    assert media.status_code == 200 and media.content.startswith(b"\x89PNG")
    task = tasks.wait_for(f"{QUEUE}/tasks/{job_id}-0", {"succeeded", "failed"})
    assert task.state == "succeeded" and [a.status for a in task.attempts] == [200]


@pytest.mark.slow
def test_a_task_with_a_wrong_token_is_refused_and_retried_until_it_fails(deployed):
    server, tasks = deployed
    tasks.pause()
    job_id = requests.post(server.url + T2I, json={"prompt": "a held fox"}, timeout=10).json()["job_id"]
    forged = f"{QUEUE}/tasks/forged-{job_id}"
    body = base64.b64encode(json.dumps({"job_id": job_id}).encode()).decode()
    http_request = {"url": f"{server.url}/api/v1/tasks/run-job", "httpMethod": "POST", "body": body}
    http_request["headers"] = {"Authorization": "Bearer not-the-token", "Content-Type": "application/json"}
    created = requests.post(
        f"{tasks.url}/v2/{QUEUE}/tasks", json={"task": {"name": forged, "httpRequest": http_request}}
    )
    assert created.status_code == 200, created.text
    tasks.run(forged)
    attempts = tasks.wait_for(forged, {"succeeded", "failed"}).attempts
    assert tasks.tasks[forged].state == "failed"
    assert [(a.status, a.headers["X-CloudTasks-TaskRetryCount"]) for a in attempts] == [
        (401, "0"),
        (401, "1"),
        (401, "2"),
    ]
    assert server.wait_for(job_id, {"queued"})["status"] == "queued"  # untouched by the forged task

    tasks.resume()  # the real task, held meanwhile, runs the job
    assert server.wait_for(job_id, {"succeeded", "failed"})["status"] == "succeeded"
    assert [a.status for a in tasks.wait_for(f"{QUEUE}/tasks/{job_id}-0", {"succeeded"}).attempts] == [200]
