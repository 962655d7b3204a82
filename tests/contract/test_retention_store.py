"""The store side of the cleanup (shared.services.cleanup): expired jobs, deleting them exactly
once, idempotency leftovers, and bounded purges of limiter, abuse and cache state. Runs on every store."""

from __future__ import annotations

import threading

import pytest

from shared.domain import JobStatus, Outcome
from shared.ratelimit.abuse import AbuseRule
from shared.ratelimit.bucket import Policy
from tests.contract.test_job_store import make_job

T0 = 1_800_000_000.0
DAY = 86400.0


def _store_kind(request: pytest.FixtureRequest) -> str:
    return request.node.callspec.params["stores"]


def test_expired_lists_jobs_created_before_the_cutoff_oldest_first_whatever_their_status(stores):
    jobs = stores.jobs
    old = [make_job(T0 - 40 * DAY + i) for i in range(5)]
    recent = make_job(T0 - 10 * DAY)
    for job in [*old, recent]:
        jobs.create(job)
    held = jobs.claim(old[1].id, "w1", T0, 30)
    assert held is not None
    jobs.finish(old[1].id, "w1", Outcome(JobStatus.SUCCEEDED, T0, result={"key": "outputs/x.png"}))
    jobs.cancel(old[2].id, T0)
    jobs.claim(old[3].id, "w2", T0, 30)  # a lost running job past the retention goes too
    cutoff = T0 - 30 * DAY
    assert [j.id for j in jobs.expired(cutoff, 3)] == [j.id for j in old[:3]]
    listed = jobs.expired(cutoff, 100)
    assert [j.id for j in listed] == [j.id for j in old]
    assert listed[1].result == {"key": "outputs/x.png"} and listed[2].status is JobStatus.CANCELED
    assert jobs.expired(T0 - 50 * DAY, 100) == []


def test_delete_removes_the_jobs_and_frees_their_idempotency_keys(stores):
    jobs = stores.jobs
    keyed = make_job(T0 - 40 * DAY, idempotency_key="k-1", expire_at=T0 - 10 * DAY)
    plain = make_job(T0 - 40 * DAY)
    kept = make_job(T0 - 40 * DAY, idempotency_key="k-2")
    for job in (keyed, plain, kept):
        jobs.create(job)
    removed = jobs.delete([keyed, plain])
    assert sorted(removed.jobs) == sorted([keyed.id, plain.id])
    assert removed.markers in (0, 1)  # 1 where the marker is a document of its own (Firestore)
    assert jobs.get(keyed.id) is None and jobs.get(plain.id) is None
    assert jobs.get(kept.id) == kept
    again, created = jobs.create(make_job(T0, idempotency_key="k-1", owner=keyed.owner))
    assert created and again.id != keyed.id, "the deleted job's key is free again"
    assert jobs.delete([keyed, plain]).jobs == [], "deleting what is gone deletes nothing"
    assert jobs.delete([]).jobs == []


def test_concurrent_deletes_report_each_job_exactly_once(stores):
    jobs = stores.jobs
    batch = [make_job(T0 - 40 * DAY + i, idempotency_key=f"key-{i}" if i % 2 else None) for i in range(20)]
    for job in batch:
        jobs.create(job)
    results: list[list[str]] = []
    markers: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        removed = jobs.delete(batch)
        with lock:
            results.append(removed.jobs)
            markers.append(removed.markers)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    everyone = [job_id for ids in results for job_id in ids]
    assert sorted(everyone) == sorted(j.id for j in batch), "each job deleted, and reported, once"
    assert sum(markers) in (0, 10)
    assert jobs.expired(T0, 100) == []


def test_purge_markers_deletes_expired_leftover_markers_only(stores, request):
    jobs = stores.jobs
    stale = make_job(T0 - 5 * DAY, idempotency_key="stale", expire_at=T0 - DAY)
    fresh = make_job(T0 - 5 * DAY, idempotency_key="fresh", expire_at=T0 + 25 * DAY)
    jobs.create(stale)
    jobs.create(fresh)
    expected = 1 if _store_kind(request) == "firestore" else 0  # SQLite keeps the key in the job row
    assert jobs.purge_markers(T0, 100) == expected
    assert jobs.purge_markers(T0, 100) == 0
    assert jobs.get(stale.id) == stale and jobs.get(fresh.id) == fresh, "markers only, never jobs"
    again, created = jobs.create(make_job(T0, idempotency_key="fresh", owner=fresh.owner))
    assert not created and again.id == fresh.id, "an unexpired marker still holds its key"


def test_limiter_purge_is_bounded_and_spares_fresh_state_and_running_blocks(stores):
    limiter = stores.limiter
    policy = Policy("anonymous", 3, grace=0)
    for i in range(5):
        limiter.acquire(f"stale-{i}", T0 - 10 * DAY, policy)
    limiter.acquire("fresh", T0, policy)
    rule = AbuseRule(refusals=1, window=60, ladder=(30 * DAY,))
    assert limiter.record_refusal("9.9.9.9", T0 - 10 * DAY, rule) is not None  # blocked for 30 days
    limiter.record_refusal("8.8.8.8", T0 - 10 * DAY, AbuseRule(refusals=5))  # counted, never blocked
    before = T0 - 7 * DAY
    assert limiter.purge(before, limit=4) == 4
    assert limiter.purge(before, limit=4) == 2  # the last stale bucket and the unblocked address
    assert limiter.purge(before, limit=4) == 0
    assert limiter.blocked_until("9.9.9.9", T0) is not None, "a running block stays"
    assert limiter.acquire("fresh", T0 + 1, policy).remaining == 1, "fresh state stays"


def test_concurrent_limiter_and_cache_purges_count_each_entry_once(stores):
    limiter, cache = stores.limiter, stores.cache
    policy = Policy("anonymous", 3, grace=0)
    for i in range(12):
        limiter.acquire(f"stale-{i}", T0 - 10 * DAY, policy)
        cache.put(f"{i:064x}", {"text": str(i)}, T0 - 1)
    cache.put("f" * 64, {"text": "fresh"}, T0 + 60)
    counts: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(3)

    def worker() -> None:
        start.wait()
        total = 0
        while True:
            done = limiter.purge(T0 - 7 * DAY, limit=5) + cache.purge(T0, limit=5)
            total += done
            if done == 0:
                break
        with lock:
            counts.append(total)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(counts) == 24
    assert cache.get("f" * 64, T0) == {"text": "fresh"}
