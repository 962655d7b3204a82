"""The in-process dispatcher on a real SQLite store and the local provider, with a fake clock."""

from __future__ import annotations

import threading

from shared.domain import JobStatus, Mode
from shared.jobs.dispatcher import InProcessDispatcher
from shared.jobs.runner import JobRunner, LeaseKeeper
from shared.media import LocalMediaStore
from shared.providers.local import LocalProvider
from shared.providers.router import ProviderRouter
from shared.stores.base import Job
from shared.stores.factory import open_sqlite
from tests.fakes.clock import FakeClock


class CountingJobs:
    """The real job store, counting the dispatcher's queue polls."""

    def __init__(self):
        self.store = None
        self.polls = 0

    def wrap(self, store):
        self.store = store
        return self

    def claim_next(self, *args):
        self.polls += 1
        return self.store.claim_next(*args)

    def __getattr__(self, name):
        return getattr(self.store, name)


def _dispatcher(tmp_path, clock, counting=None):
    stores = open_sqlite(tmp_path / "d.sqlite3")
    queue = counting.wrap(stores.jobs) if counting else stores.jobs
    media = LocalMediaStore(tmp_path / "media", b"k" * 32, "/m", 600)
    router = ProviderRouter({"local": LocalProvider()}, {m: ["local"] for m in Mode}, 2, clock=clock)
    leases = LeaseKeeper(stores.jobs, clock, 30)
    runner = JobRunner(stores.jobs, media, router, clock, leases)
    done = threading.Event()

    class Finishing(JobRunner):
        def run(self, job, worker):
            outcome = runner.run(job, worker)
            done.set()
            return outcome

    finishing = Finishing(stores.jobs, media, router, clock, leases)
    dispatcher = InProcessDispatcher(queue, finishing, leases, clock, 2, 30, 3, 0.05, hibernate_after=900)
    return stores, dispatcher, done


def _job(clock, prompt="x") -> Job:
    return Job(
        id=f"job-{prompt}-0000000",
        owner="ip:1.1.1.1",
        tier="anonymous",
        priority=3,
        mode=Mode.TEXT_TO_IMAGE,
        params={"prompt": prompt, "seed": 1},
        created_at=clock.now(),
    )


def test_dispatcher_runs_a_notified_job(tmp_path):
    clock = FakeClock()
    stores, dispatcher, done = _dispatcher(tmp_path, clock)
    dispatcher.start()
    try:
        job, _ = stores.jobs.create(_job(clock))
        dispatcher.notify(job)
        assert done.wait(30)
        assert stores.jobs.get(job.id).status is JobStatus.SUCCEEDED
    finally:
        dispatcher.stop()


def test_idle_dispatcher_hibernates_and_a_request_wakes_it(tmp_path):
    clock = FakeClock()
    polls = CountingJobs()
    stores, dispatcher, done = _dispatcher(tmp_path, clock, polls)
    dispatcher.start()
    try:
        clock.advance(901)
        assert dispatcher.hibernating.wait(30), "15 idle minutes: the loop must park"
        parked_at = polls.polls
        job, _ = stores.jobs.create(_job(clock, "later"))
        assert polls.polls == parked_at, "no polling while hibernating"
        assert stores.jobs.get(job.id).status is JobStatus.QUEUED
        dispatcher.wake()
        assert done.wait(30), "the next request wakes it and queued work runs"
        assert stores.jobs.get(job.id).status is JobStatus.SUCCEEDED
        assert polls.polls > parked_at
    finally:
        dispatcher.stop()


def test_stop_releases_held_jobs_back_to_the_queue(tmp_path):
    clock = FakeClock()
    stores, dispatcher, _ = _dispatcher(tmp_path, clock)
    job, _ = stores.jobs.create(_job(clock))
    claimed = stores.jobs.claim_next(dispatcher.worker, clock.now(), 30)
    dispatcher.leases.hold(claimed.id, dispatcher.worker)
    dispatcher.stop()
    back = stores.jobs.get(job.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 1
