"""The in-process dispatcher and a job deferred by our own throttle: it waits queued, the
dispatcher stays awake for it and claims it once its not_before has come (real SQLite store, the
local provider behind a 1-per-minute throttle, a fake clock)."""

from __future__ import annotations

import time

from shared.domain import JobStatus, Mode
from shared.jobs.dispatcher import InProcessDispatcher
from shared.jobs.runner import JobRunner, LeaseKeeper
from shared.media import LocalMediaStore
from shared.providers.guards import Throttle
from shared.providers.local import LocalProvider
from shared.providers.router import ProviderRouter
from shared.stores.base import Job
from shared.stores.factory import open_sqlite
from tests.fakes.clock import FakeClock


def _until(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_a_job_deferred_by_our_throttle_is_claimed_again_once_its_time_has_come(tmp_path):
    clock = FakeClock()
    stores = open_sqlite(tmp_path / "d.sqlite3")
    media = LocalMediaStore(tmp_path / "media", b"k" * 32, "/m", 600)
    throttle = Throttle("local", 1, 2, clock, 0.0)
    router = ProviderRouter(
        {"local": LocalProvider()}, {m: ["local"] for m in Mode}, 2, clock=clock, throttles={"local": throttle}
    )
    leases = LeaseKeeper(stores.jobs, clock, 30)
    runner = JobRunner(stores.jobs, media, router, clock, leases)
    dispatcher = InProcessDispatcher(stores.jobs, runner, leases, clock, 2, 30, 3, 0.05, hibernate_after=0.0)
    jobs = [
        Job(id=f"job-{i}-000000000", owner="ip:1.1.1.1", tier="anonymous", priority=3, mode=Mode.TEXT_TO_IMAGE,
            params={"prompt": "x", "seed": 1}, created_at=clock.now())
        for i in range(2)
    ]  # fmt: skip
    dispatcher.start()
    try:
        for job in jobs:
            dispatcher.notify(stores.jobs.create(job)[0])
        first, second = (lambda: stores.jobs.get(jobs[0].id)), (lambda: stores.jobs.get(jobs[1].id))
        assert _until(lambda: first().status is JobStatus.SUCCEEDED and second().not_before is not None)
        deferred = second()
        assert deferred.status is JobStatus.QUEUED and deferred.attempts == 0
        clock.advance(1)  # past hibernate_after with no job held: only the deferred job keeps it awake
        time.sleep(0.3)  # the dispatcher keeps polling meanwhile, and neither hibernates nor claims it early
        assert second().status is JobStatus.QUEUED and not dispatcher.hibernating.is_set()
        clock.advance(deferred.not_before - clock.now())
        assert _until(lambda: second().status is JobStatus.SUCCEEDED)
        assert second().started_at >= deferred.not_before and second().attempts == 1
    finally:
        dispatcher.stop()
        stores.close()
