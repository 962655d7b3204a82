"""Firestore-only properties on the emulator: what each operation costs, and exactness across
several instances (separate clients) at once. The behaviour itself is the contract suite's."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from shared.domain import JobStatus, Mode
from shared.ratelimit.abuse import AbuseRule
from shared.ratelimit.bucket import Policy
from shared.stores.base import Job, Outcome
from shared.stores.factory import Stores, open_firestore
from shared.stores.firestore.jobs import queue_key
from tests.firestore_emulator import FirestoreEmulator

pytestmark = pytest.mark.slow
NOW = 1_800_000_000.0


@pytest.fixture
def instances(firestore_emulator: FirestoreEmulator) -> Iterator[list[Stores]]:  # noqa: F811
    """Four store bundles on one project: four function instances, each with its own client."""
    settings = firestore_emulator.settings()
    bundles = [open_firestore(settings) for _ in range(4)]
    yield bundles
    for bundle in bundles:
        bundle.close()
    firestore_emulator.reset(settings.firestore_project)


def _job(index: int, priority: int = 3, **kw) -> Job:
    return Job(
        id=f"job-{index:04d}",
        owner="ip:1.2.3.4",
        tier="anonymous",
        priority=priority,
        mode=Mode.TEXT_TO_IMAGE,
        params={"prompt": "p"},
        created_at=NOW + index,
        **kw,
    )


def _cost(stores: Stores, action):  # type: ignore[no-untyped-def]
    assert stores.ops is not None
    with stores.ops.track() as tally:
        result = action()
    return result, (tally.reads, tally.writes, tally.deletes, tally.transactions)


def test_each_operation_costs_what_the_design_says(instances):
    stores = instances[0]
    anon = Policy("anonymous", 3, grace=1)
    # limiter: a decision is one read and one write; a refusal seen in the read writes nothing
    decision, cost = _cost(stores, lambda: stores.limiter.acquire("c", NOW, anon))
    assert decision.grace and cost == (1, 1, 0, 0)
    for _ in range(3):
        decision, cost = _cost(stores, lambda: stores.limiter.acquire("c", NOW, anon))
        assert decision.allowed and cost == (1, 1, 0, 0)
    decision, cost = _cost(stores, lambda: stores.limiter.acquire("c", NOW, anon))
    assert not decision.allowed and cost == (1, 0, 0, 0)
    assert _cost(stores, lambda: stores.limiter.blocked_until("1.2.3.4", NOW))[1] == (1, 0, 0, 0)
    rule = AbuseRule(refusals=2)
    assert _cost(stores, lambda: stores.limiter.record_refusal("1.2.3.4", NOW, rule))[1] == (1, 1, 0, 0)
    block, cost = _cost(stores, lambda: stores.limiter.record_refusal("1.2.3.4", NOW, rule))
    assert block == NOW + 60 and cost == (1, 2, 0, 0)  # the count, then the block

    # jobs: submit one write; queue position and load one read each; the worker (a task is a token
    # for the best queued job) one read to claim, then renew and finish without reading (it knows
    # its own last write)
    job = _job(1)
    assert _cost(stores, lambda: stores.jobs.create(job))[1] == (0, 1, 0, 0)
    assert _cost(stores, lambda: stores.jobs.position(job)) == (0, (1, 0, 0, 0))
    assert _cost(stores, stores.jobs.counts) == ((1, 0), (1, 0, 0, 0))
    claimed, cost = _cost(stores, lambda: stores.jobs.claim_next("w", NOW + 1, 30))
    assert claimed.id == job.id and claimed.status is JobStatus.RUNNING and cost == (1, 1, 0, 0)
    assert _cost(stores, stores.jobs.counts) == ((0, 1), (1, 0, 0, 0))
    assert _cost(stores, lambda: stores.jobs.renew(job.id, "w", NOW + 2, 30)) == (True, (0, 1, 0, 0))
    done = Outcome(JobStatus.SUCCEEDED, NOW + 3, result={"key": "k"}, provider="local", model="m", cost_units=1)
    assert _cost(stores, lambda: stores.jobs.finish(job.id, "w", done)) == (True, (0, 1, 0, 0))
    assert _cost(stores, lambda: stores.jobs.get(job.id))[1] == (1, 0, 0, 0)
    # an Idempotency-Key adds its marker document to the same batch
    keyed = _job(2, idempotency_key="k")
    assert _cost(stores, lambda: stores.jobs.create(keyed))[1] == (0, 2, 0, 0)


def test_a_holder_whose_job_was_canceled_elsewhere_cannot_finish(instances):
    worker_side, site_side = instances[0], instances[1]
    job = _job(1)
    worker_side.jobs.create(job)
    assert worker_side.jobs.claim(job.id, "w", NOW, 30) is not None
    assert site_side.jobs.cancel(job.id, NOW + 1).status is JobStatus.CANCELED
    assert not worker_side.jobs.renew(job.id, "w", NOW + 2, 30)
    assert not worker_side.jobs.finish(job.id, "w", Outcome(JobStatus.SUCCEEDED, NOW + 3))
    assert site_side.jobs.get(job.id).status is JobStatus.CANCELED


def test_fifty_requests_across_four_instances_admit_exactly_grace_plus_capacity(instances):
    policy = Policy("anonymous", 3, grace=5)
    admitted: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(50)

    def fire(index: int) -> None:
        store = instances[index % len(instances)].limiter
        barrier.wait()
        allowed = store.acquire("media:ip:9.9.9.9", NOW, policy).allowed
        with lock:
            admitted.append(allowed)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert admitted.count(True) == 8
    # and the state left behind is the sequential one: no token until the first refills
    assert not instances[0].limiter.acquire("media:ip:9.9.9.9", NOW + 19, policy).allowed
    assert instances[1].limiter.acquire("media:ip:9.9.9.9", NOW + 20, policy).allowed


def test_twenty_workers_on_four_instances_claim_each_job_once_in_queue_order(instances):
    jobs = [_job(i, priority=1 + i % 3) for i in range(60)]
    for job in jobs:
        instances[0].jobs.create(job)
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def worker(index: int) -> None:
        store = instances[index % len(instances)].jobs
        barrier.wait()
        while (job := store.claim_next(f"w{index}", NOW + 100, 30)) is not None:
            with lock:
                claimed.append((job.id, job.lease_owner))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(job_id for job_id, _ in claimed) == sorted(job.id for job in jobs)
    for job_id, owner in claimed:
        stored = instances[1].jobs.get(job_id)
        assert stored.lease_owner == owner and stored.attempts == 1
    assert instances[2].jobs.counts() == (0, 60)


def test_queue_key_sorts_like_rank_then_id():
    """rank = submit time + priority x aging (60 s by default): a better tier goes first unless the
    other job has waited longer than the difference of their priorities x aging."""
    a = _job(1, priority=1, rank=NOW + 60)
    b = _job(2, priority=2, rank=NOW + 120)
    c = _job(3, priority=2, rank=NOW + 120.000001)
    d = _job(4, priority=2, rank=NOW + 120.000001)
    early = _job(5, priority=3, rank=0.5)
    assert _job(6, priority=2).rank == NOW + 6 + 120, "no rank given: the default aging"
    ordered = sorted([d, c, b, a, early], key=queue_key)
    assert [j.id for j in ordered] == [early.id, a.id, b.id, c.id, d.id]
    before_ranks = "80000003|" + "c" * 16 + "|old"  # a key stored before ranks existed
    assert before_ranks < min(queue_key(j) for j in ordered), "older jobs drain first"
