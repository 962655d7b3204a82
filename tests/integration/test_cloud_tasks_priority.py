"""Priority holds in production: a Cloud Tasks task is a token to run the best queued job.

The gateway runs in this process on a fake clock (SQLite, DISPATCHER=cloudtasks); every accepted
job becomes a task in a fake Cloud Tasks (tests/fakes/cloudtasks.py) that holds them, so each test
chooses the delivery order; the fake then POSTs each task over HTTP to the real ``run_job``
function served on loopback, as the queue does in production.

``gcloud-tasks-emulator`` (PyPI) is not used: its 0.6.2 requires ``protobuf<5``, and the functions
pin protobuf 7 (google-cloud-firestore and google-cloud-tasks need it), so it cannot be pinned.
"""

from __future__ import annotations

import base64
from collections import deque

import functions_framework
import pytest
import requests

from shared import wiring
from shared.config import Settings
from shared.domain import Caller, Job, JobStatus, Mode
from tests.conftest import ROOT
from tests.fakes.clock import FakeClock
from tests.fakes.cloudtasks import FakeCloudTasks
from tests.fakes.server import Loopback

QUEUE = "projects/demo-aiart/locations/us-central1/queues/jobs"
PRIORITY = {"donor": 1, "registered": 2, "anonymous": 3}


@pytest.fixture
def queue(env, monkeypatch):
    """(fake Cloud Tasks holding every task, the gateway's fake clock)."""
    tasks = FakeCloudTasks(paused=True, max_concurrent=1, max_attempts=3).start()
    app = functions_framework.create_app(target="run_job", source=str(ROOT / "main.py"), signature_type="http")
    worker = Loopback(app, "run-job-function")
    monkeypatch.setenv("DISPATCHER", "cloudtasks")
    monkeypatch.setenv("CLOUD_TASKS_QUEUE", QUEUE)
    monkeypatch.setenv("CLOUD_TASKS_ENDPOINT", tasks.url)
    monkeypatch.setenv("RUN_JOB_URL", f"{worker.url}/api/v1/tasks/run-job")
    clock = FakeClock()
    wiring.install(wiring.Gateway(Settings(), clock))
    yield tasks, clock
    worker.stop()
    tasks.close()


def _submit(tier: str, number: int) -> Job:
    """A job as the generate functions submit it, from a caller of ``tier``."""
    key = f"user:{tier}-{number}" if tier != "anonymous" else f"visitor:{number}"
    caller = Caller(key=key, tier=tier, ip=f"203.0.113.{number % 250}")
    snapshot, created = wiring.services().jobs.submit(caller, Mode.TEXT_TO_IMAGE, {"prompt": f"{tier} fox {number}"})
    assert created
    return snapshot.job


def _task(job: Job) -> str:
    return f"{QUEUE}/tasks/{job.id}-0"


def _deliver(tasks: FakeCloudTasks, name: str) -> None:
    """Cloud Tasks delivers the task now; wait until run_job has answered it."""
    tasks.run(name)
    assert tasks.wait_for(name, {"succeeded", "failed"}).state == "succeeded"


def _stored(job: Job) -> Job:
    stored = wiring.gateway().jobs.get(job.id)
    assert stored is not None
    return stored


def test_tasks_delivered_in_reverse_order_still_run_donors_first_and_every_job_once(queue):
    tasks, clock = queue
    tiers = ["anonymous", "registered", "donor", "anonymous", "donor"] * 4
    jobs = []
    for number, tier in enumerate(tiers):
        jobs.append(_submit(tier, number))
        clock.advance(1)  # 20 s in all: well inside the aging, so the tiers decide the order
    assert set(tasks.tasks) == {_task(job) for job in jobs}, "one task per accepted job"
    expected = sorted(jobs, key=lambda job: (PRIORITY[job.tier], job.created_at))
    service = wiring.services().jobs
    positions = [service.snapshot(_stored(job)).position for job in expected]
    assert positions == list(range(20)), "the position shown is the order jobs will run in"

    for job in reversed(jobs):  # the last job's task arrives first, and so on
        _deliver(tasks, _task(job))
        clock.advance(1)

    ran = sorted((_stored(job) for job in jobs), key=lambda job: job.started_at)
    assert [job.id for job in ran] == [job.id for job in expected]
    assert [job.tier for job in ran] == ["donor"] * 8 + ["registered"] * 4 + ["anonymous"] * 8
    assert all(job.status is JobStatus.SUCCEEDED and job.attempts == 1 for job in ran)
    assert all([a.status for a in task.attempts] == [200] for task in tasks.tasks.values())

    # At-least-once delivery: every task delivered again finds nothing to run; no job runs twice.
    for number, job in enumerate(jobs):
        duplicate = f"{QUEUE}/tasks/duplicate-{number}"
        _redeliver(tasks, duplicate, _task(job))
    assert all(_stored(job).attempts == 1 for job in jobs)


def _redeliver(tasks: FakeCloudTasks, name: str, original: str) -> None:
    """Deliver a copy of task ``original`` under ``name``: what a duplicate delivery looks like."""
    source = tasks.tasks[original]
    http_request = {
        "url": source.url,
        "httpMethod": "POST",
        "headers": source.headers,
        "body": base64.b64encode(source.body).decode(),
    }
    created = requests.post(
        f"{tasks.url}/v2/{QUEUE}/tasks", json={"task": {"name": name, "httpRequest": http_request}}, timeout=10
    )
    assert created.status_code == 200, created.text
    _deliver(tasks, name)


def test_a_retried_task_after_a_killed_worker_runs_the_job_again_once(queue):
    tasks, clock = queue
    lost, other = _submit("anonymous", 1), _submit("donor", 2)
    gw = wiring.gateway()
    claimed = gw.jobs.claim_next("killed-worker", clock.now(), gw.settings.lease_seconds)
    assert claimed.id == other.id, "the donor's job first"
    clock.advance(1)
    _deliver(tasks, _task(other))  # its token runs the best queued job: the anonymous one
    assert _stored(lost).status is JobStatus.SUCCEEDED
    _deliver(tasks, _task(lost))  # nothing queued; the killed worker's lease is still valid
    assert _stored(other).status is JobStatus.RUNNING
    clock.advance(gw.settings.lease_seconds + 1)
    _redeliver(tasks, f"{QUEUE}/tasks/retry-of-{lost.id}", _task(lost))  # Cloud Tasks' retry
    assert _stored(other).status is JobStatus.SUCCEEDED and _stored(other).attempts == 2


@pytest.mark.parametrize("aging", [60.0, 86400.0])
def test_a_flood_of_donor_jobs_cannot_starve_an_anonymous_job(queue, monkeypatch, aging):
    """One donor job arrives every 5 s and one job is served every 5 s, over a backlog of 10: the
    queue never drains. With QUEUE_AGING_SECONDS=60 the anonymous job runs once the donors
    submitted up to 2 x 60 s after it are served; with aging out of reach (a day) it never does."""
    tasks, clock = queue
    monkeypatch.setenv("QUEUE_AGING_SECONDS", str(aging))
    wiring.install(wiring.Gateway(Settings(), clock))
    pending: deque[str] = deque()
    donors: list[Job] = []

    def donor_arrives() -> None:
        donors.append(_submit("donor", len(donors)))
        pending.append(_task(donors[-1]))

    for _ in range(10):
        donor_arrives()
        clock.advance(5)
    anonymous = _submit("anonymous", 999)
    pending.append(_task(anonymous))
    for _ in range(60):  # 300 s of flood
        clock.advance(5)
        donor_arrives()
        _deliver(tasks, pending.popleft())
        if _stored(anonymous).status is JobStatus.SUCCEEDED:
            break
    done = _stored(anonymous)
    if aging > 3600:
        assert done.status is JobStatus.QUEUED, "without aging a steady flood starves it"
        return
    assert done.status is JobStatus.SUCCEEDED
    bound = done.created_at + (PRIORITY["anonymous"] - PRIORITY["donor"]) * aging
    before = [_stored(d) for d in donors if _stored(d).started_at is not None]
    assert all(d.created_at <= bound for d in before if d.started_at < done.started_at)
    assert all(d.started_at > done.started_at for d in before if d.created_at > bound)
    assert sum(_stored(d).status is JobStatus.QUEUED for d in donors) >= 5, "the flood was still on"
    waited = done.started_at - done.created_at
    assert waited <= 2 * aging + 10 * 5 + 5, f"waited {waited} s"  # aging + the backlog ahead of it
    print(f"anonymous job waited {waited:.0f} s behind a donor flood (QUEUE_AGING_SECONDS={aging:.0f})")
