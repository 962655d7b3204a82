"""The job store contract: every implementation must pass all of it."""

from __future__ import annotations

import threading

from shared.domain import JobStatus, Mode, queue_rank
from shared.services.jobs import new_job_id
from shared.stores.base import Job, Outcome

T0 = 1_800_000_000.0


def make_job(created_at: float = T0, priority: int = 3, owner: str = "ip:1.2.3.4", **kw) -> Job:
    return Job(
        id=kw.pop("id", new_job_id()),
        owner=owner,
        tier=kw.pop("tier", "anonymous"),
        priority=priority,
        mode=kw.pop("mode", Mode.TEXT_TO_IMAGE),
        params=kw.pop("params", {"prompt": "a fox", "seed": 1}),
        created_at=created_at,
        **kw,
    )


def test_create_then_get_round_trips_every_field(job_store):
    job = make_job(
        input_key="inputs/x.png", idempotency_key="k1", expire_at=T0 + 99, params={"prompt": "é ✓", "seed": 7}
    )
    stored, created = job_store.create(job)
    assert created and stored == job
    assert job_store.get(job.id) == job
    assert job_store.get("missing-id-0000") is None


def test_idempotency_key_returns_the_first_job_for_the_same_owner_only(job_store):
    first, created = job_store.create(make_job(idempotency_key="same"))
    again, created_again = job_store.create(make_job(idempotency_key="same"))
    other, created_other = job_store.create(make_job(idempotency_key="same", owner="ip:9.9.9.9"))
    assert created and not created_again and created_other
    assert again.id == first.id
    assert other.id != first.id


def test_position_orders_by_priority_then_submit_time(job_store):
    anon_early = make_job(T0, priority=3)
    anon_late = make_job(T0 + 5, priority=3)
    donor_late = make_job(T0 + 9, priority=1)
    registered = make_job(T0 + 7, priority=2)
    for job in (anon_early, anon_late, donor_late, registered):
        job_store.create(job)
    assert job_store.position(donor_late) == 0
    assert job_store.position(registered) == 1
    assert job_store.position(anon_early) == 2
    assert job_store.position(anon_late) == 3
    assert job_store.counts() == (4, 0)


def test_claim_next_takes_jobs_in_queue_order_and_counts_attempts(job_store):
    late = make_job(T0 + 1, priority=3)
    donor = make_job(T0 + 2, priority=1)
    job_store.create(late)
    job_store.create(donor)
    first = job_store.claim_next("w1", T0 + 10, 30)
    assert first.id == donor.id
    assert first.status is JobStatus.RUNNING and first.attempts == 1
    assert first.lease_owner == "w1" and first.lease_expires_at == T0 + 40
    assert first.started_at == T0 + 10
    second = job_store.claim_next("w2", T0 + 10, 30)
    assert second.id == late.id
    assert job_store.claim_next("w3", T0 + 10, 30) is None
    assert job_store.counts() == (0, 2)
    assert job_store.position(late) == 0 or job_store.get(late.id).status is JobStatus.RUNNING


def test_claim_by_id_only_when_queued(job_store):
    job = make_job()
    job_store.create(job)
    assert job_store.claim(job.id, "w1", T0, 30).lease_owner == "w1"
    assert job_store.claim(job.id, "w2", T0, 30) is None
    assert job_store.claim("nope-nope-nope", "w2", T0, 30) is None


def test_every_job_is_claimed_exactly_once_under_concurrency(job_store):
    jobs = [make_job(T0 + i) for i in range(40)]
    for job in jobs:
        job_store.create(job)
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            job = job_store.claim_next(name, T0 + 100, 30)
            if job is None:
                return
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(j.id for j in jobs)


def test_only_the_lease_holder_can_renew_or_finish(job_store):
    job_store.create(make_job())
    job = job_store.claim_next("holder", T0, 30)
    assert not job_store.renew(job.id, "intruder", T0 + 5, 30)
    assert job_store.renew(job.id, "holder", T0 + 5, 30)
    assert job_store.get(job.id).lease_expires_at == T0 + 35
    done = Outcome(
        JobStatus.SUCCEEDED, T0 + 8, result={"key": "outputs/a.png"}, provider="local", model="m", cost_units=1
    )
    assert not job_store.finish(job.id, "intruder", done)
    assert job_store.finish(job.id, "holder", done)
    stored = job_store.get(job.id)
    assert stored.status is JobStatus.SUCCEEDED
    assert stored.result == {"key": "outputs/a.png"}
    assert (stored.provider, stored.model, stored.cost_units) == ("local", "m", 1)
    assert stored.lease_owner is None
    assert stored.duration == 8
    assert not job_store.finish(job.id, "holder", done), "a finished job cannot finish twice"
    assert job_store.recent_durations(Mode.TEXT_TO_IMAGE, 5) == [8]


def test_vendor_task_id_is_saved_by_the_holder(job_store):
    job_store.create(make_job())
    job = job_store.claim_next("w", T0, 30)
    assert job_store.set_vendor_task(job.id, "w", "task-123", "dashscope")
    stored = job_store.get(job.id)
    assert (stored.vendor_task_id, stored.provider) == ("task-123", "dashscope")
    assert not job_store.set_vendor_task(job.id, "other", "task-999", "x")


def test_expired_leases_go_back_to_the_queue_then_fail_after_max_attempts(job_store):
    job_store.create(make_job())
    job = job_store.claim_next("w1", T0, 10)
    assert job_store.requeue_expired(T0 + 5, max_attempts=2) == 0
    assert job_store.requeue_expired(T0 + 11, max_attempts=2) == 1
    requeued = job_store.get(job.id)
    assert requeued.status is JobStatus.QUEUED and requeued.attempts == 1 and requeued.lease_owner is None
    again = job_store.claim_next("w2", T0 + 12, 10)
    assert again.attempts == 2
    assert not job_store.finish(job.id, "w1", Outcome(JobStatus.SUCCEEDED, T0 + 13)), "old holder lost the job"
    assert job_store.requeue_expired(T0 + 30, max_attempts=2) == 1
    failed = job_store.get(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error["error_type"] == "worker_lost"


def test_release_puts_a_held_job_back_with_its_attempt_counted(job_store):
    job_store.create(make_job())
    job = job_store.claim_next("w1", T0, 30)
    assert not job_store.release(job.id, "w2")
    assert job_store.release(job.id, "w1")
    back = job_store.get(job.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 1
    assert job_store.claim_next("w2", T0 + 1, 30).attempts == 2


def test_cancel_stops_queued_and_running_jobs_and_the_worker_cannot_finish(job_store):
    queued = make_job(T0)
    running = make_job(T0 + 1)
    job_store.create(queued)
    job_store.create(running)
    job_store.claim(running.id, "w", T0 + 2, 30)
    assert job_store.cancel(queued.id, T0 + 3).status is JobStatus.CANCELED
    assert job_store.cancel(running.id, T0 + 3).status is JobStatus.CANCELED
    assert not job_store.finish(running.id, "w", Outcome(JobStatus.SUCCEEDED, T0 + 4))
    assert job_store.get(running.id).status is JobStatus.CANCELED
    assert job_store.cancel("unknown-unknown", T0) is None
    assert job_store.counts() == (0, 0)


def test_list_for_owner_is_newest_first_and_only_theirs(job_store):
    mine = [make_job(T0 + i, owner="user:a") for i in range(3)]
    for job in mine:
        job_store.create(job)
    job_store.create(make_job(owner="user:b"))
    listed = job_store.list_for_owner("user:a", 10)
    assert [j.id for j in listed] == [j.id for j in reversed(mine)]
    assert len(job_store.list_for_owner("user:a", 2)) == 2


def test_creating_a_job_whose_id_is_taken_returns_the_stored_one(job_store):
    first, created = job_store.create(make_job(id="derived-id-0001", params={"prompt": "first"}))
    again, created_again = job_store.create(make_job(id="derived-id-0001", params={"prompt": "second"}))
    assert created and not created_again
    assert again == first and job_store.get("derived-id-0001").params == {"prompt": "first"}


def test_queued_lists_jobs_in_queue_order_without_claiming_them(job_store):
    late = make_job(T0 + 5, priority=3)
    early = make_job(T0, priority=3)
    donor = make_job(T0 + 9, priority=1)
    running = make_job(T0 - 1, priority=1)
    for job in (late, early, donor, running):
        job_store.create(job)
    job_store.claim(running.id, "w", T0 + 10, 30)
    assert [j.id for j in job_store.queued(10)] == [donor.id, early.id, late.id]
    assert [j.id for j in job_store.queued(2)] == [donor.id, early.id]
    assert job_store.counts() == (3, 1), "listing claims nothing"


def test_the_queue_ages_a_waiting_job_ahead_of_better_tiers_that_came_much_later(job_store):
    """rank = submit time + priority x aging (shared.domain.queue_rank): with 60 s of aging a donor
    (1) overtakes an anonymous job (3) submitted up to 120 s before it, and no more."""
    aging = 60.0

    def job(created_at: float, priority: int) -> Job:
        return make_job(created_at, priority=priority, rank=queue_rank(created_at, priority, aging))

    anonymous = job(T0, 3)
    donors_within = [job(T0 + 10, 1), job(T0 + 119, 1)]
    registered_within, registered_after = job(T0 + 58, 2), job(T0 + 62, 2)
    donors_after = [job(T0 + 121, 1), job(T0 + 300, 1)]
    for j in (*donors_after, registered_after, anonymous, registered_within, *donors_within):
        job_store.create(j)
    expected = [*donors_within[:1], registered_within, donors_within[1], anonymous, *donors_after[:1]]
    expected += [registered_after, donors_after[1]]
    assert [j.id for j in job_store.queued(10)] == [j.id for j in expected]
    assert [job_store.position(j) for j in expected] == list(range(len(expected)))
    claimed = [job_store.claim_next("w", T0 + 400, 30) for _ in expected]
    assert [j.id for j in claimed] == [j.id for j in expected]
    assert job_store.get(anonymous.id).rank == T0 + 180, "the rank is kept as submitted"


def test_a_jobs_budget_reservation_round_trips_and_is_taken_exactly_once(job_store):
    budget = {"id": "r1", "units": 3.0, "provider": "stability", "lines": [{"group": "day:2027-01-15", "name": "x"}]}
    job, _ = job_store.create(make_job(budget=budget))
    assert job_store.get(job.id).budget == budget
    taken: list[dict | None] = []
    barrier = threading.Barrier(8)

    def take() -> None:
        barrier.wait()
        taken.append(job_store.take_budget(job.id))

    workers = [threading.Thread(target=take) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [t for t in taken if t is not None] == [budget]
    assert job_store.get(job.id).budget is None and job_store.take_budget(job.id) is None
    assert job_store.take_budget("missing-id-0000") is None


def test_a_deferred_job_stays_queued_in_its_place_and_is_claimed_only_from_its_not_before(job_store):
    """Deferral (rate limits): the holder gives the job back until ``not_before``; its attempt is not
    counted, its budget reservation (released by the runner) and lease go, its vendor task stays."""
    budget = {"id": "r1", "units": 1.0, "provider": "stability", "lines": []}
    deferred, _ = job_store.create(make_job(T0, priority=1, budget=budget))  # a donor
    later = make_job(T0 + 1, priority=3)
    job_store.create(later)
    held = job_store.claim_next("w1", T0 + 2, 30)
    assert held.id == deferred.id
    job_store.set_vendor_task(held.id, "w1", "task-1", "dashscope")
    assert not job_store.defer(held, "w2", T0 + 3, T0 + 50), "only the holder defers"
    assert job_store.defer(held, "w1", T0 + 3, T0 + 50)
    back = job_store.get(held.id)
    assert back.status is JobStatus.QUEUED and back.not_before == T0 + 50 and back.deferred == 47
    assert (back.attempts, back.lease_owner, back.budget) == (0, None, None)
    assert (back.vendor_task_id, back.provider, back.rank) == ("task-1", "dashscope", deferred.rank)
    assert job_store.counts() == (2, 0) and job_store.position(back) == 0 and job_store.position(later) == 1
    assert [j.id for j in job_store.queued(5)] == [deferred.id, later.id]
    assert not job_store.renew(held.id, "w1", T0 + 4, 30) and not job_store.finish(
        held.id, "w1", Outcome(JobStatus.SUCCEEDED, T0 + 4)
    ), "a deferral ends the lease"
    assert job_store.claim(deferred.id, "w2", T0 + 49, 30) is None, "not before its time"
    assert job_store.claim_next("w2", T0 + 49, 30).id == later.id, "later jobs go meanwhile"
    assert job_store.claim_next("w3", T0 + 49.5, 30) is None
    again = job_store.claim_next("w3", T0 + 50, 30)
    assert again.id == deferred.id and again.attempts == 1 and again.not_before is None
    assert again.vendor_task_id == "task-1"
    assert job_store.defer(again, "w3", T0 + 60, T0 + 70)
    assert job_store.get(again.id).deferred == 57, "deferrals add up"


def test_a_due_deferred_job_keeps_its_rank_ahead_of_later_jobs_behind_deferred_ones(job_store):
    """Several deferred jobs at the head (more than a claim looks at at once): fresh jobs behind them
    are claimed while they wait; once one is due it goes before every later job, in rank order."""
    donor = make_job(T0, priority=1)
    waiting = [make_job(T0 + 1 + i, priority=2) for i in range(7)]
    anonymous = [make_job(T0 + 10 + i, priority=3) for i in range(3)]
    for job in (donor, *waiting, *anonymous):
        job_store.create(job)
    for index, job in enumerate((donor, *waiting)):
        held = job_store.claim_next("w", T0 + 20, 30)
        assert held.id == job.id
        job_store.defer(held, "w", T0 + 20, T0 + (100 if held.id == donor.id else 200 + index))
    assert job_store.counts() == (11, 0)
    assert job_store.claim_next("w", T0 + 30, 30).id == anonymous[0].id
    assert job_store.claim_next("w", T0 + 100, 30).id == donor.id, "due: before the later anonymous jobs"
    assert job_store.claim_next("w", T0 + 101, 30).id == anonymous[1].id
    assert job_store.claim_next("w", T0 + 300, 30).id == waiting[0].id
    assert job_store.claim_next("w", T0 + 300, 30).id == waiting[1].id
