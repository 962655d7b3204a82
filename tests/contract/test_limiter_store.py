"""The limiter store contract: exact decisions, abuse blocks, users. Runs on every store."""

from __future__ import annotations

import threading

from shared.ratelimit.abuse import AbuseRule
from shared.ratelimit.bucket import Policy
from shared.stores.base import UserRecord

NOW = 1_800_000_000.0
ANON = Policy("anonymous", 3, grace=5)


def test_a_new_caller_gets_grace_then_the_bucket(limiter_store):
    decisions = [limiter_store.acquire("media:ip:1.1.1.1", NOW, ANON) for _ in range(10)]
    assert [d.allowed for d in decisions] == [True] * 8 + [False] * 2
    assert [d.grace for d in decisions[:5]] == [True] * 5
    refused = decisions[-1]
    assert refused.retry_after == 20.0 and refused.remaining == 0


def test_tokens_refill_with_time(limiter_store):
    policy = Policy("anonymous", 3, grace=0)
    assert all(limiter_store.acquire("k", NOW, policy).allowed for _ in range(3))
    assert not limiter_store.acquire("k", NOW + 10, policy).allowed
    assert limiter_store.acquire("k", NOW + 20, policy).allowed
    assert not limiter_store.acquire("k", NOW + 20, policy).allowed


def test_callers_are_independent(limiter_store):
    policy = Policy("anonymous", 1, grace=0)
    assert limiter_store.acquire("a", NOW, policy).allowed
    assert not limiter_store.acquire("a", NOW, policy).allowed
    assert limiter_store.acquire("b", NOW, policy).allowed


def test_halved_limit_applies_to_existing_state(limiter_store):
    full = Policy("donor", 10, grace=0)
    half = Policy("donor", 5, grace=0)
    for _ in range(5):
        assert limiter_store.acquire("d", NOW, full).allowed
    # half the 10/min bucket is used; under a 5/min limit that leaves 2.5 tokens: 2 whole ones
    assert [limiter_store.acquire("d", NOW, half).allowed for _ in range(3)] == [True, True, False]
    decisions = [limiter_store.acquire("d2", NOW, half) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]


def _burst(limiter_store, key: str, threads: int, policy: Policy) -> int:
    admitted = 0
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def fire() -> None:
        nonlocal admitted
        barrier.wait()
        if limiter_store.acquire(key, NOW, policy).allowed:
            with lock:
                admitted += 1

    workers = [threading.Thread(target=fire) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return admitted


def test_twenty_at_once_admits_exactly_eight(limiter_store):
    assert _burst(limiter_store, "burst20", 20, ANON) == 8


def test_fifty_threads_admit_exactly_grace_plus_capacity(limiter_store):
    donor = Policy("donor", 10, grace=5)
    assert _burst(limiter_store, "burst50", 50, donor) == 15


def test_abuse_block_starts_after_the_threshold_and_grows(limiter_store):
    rule = AbuseRule(refusals=3, window=60, ladder=(60, 300, 1800))
    assert limiter_store.blocked_until("9.9.9.9", NOW) is None
    assert limiter_store.record_refusal("9.9.9.9", NOW, rule) is None
    assert limiter_store.record_refusal("9.9.9.9", NOW + 1, rule) is None
    assert limiter_store.record_refusal("9.9.9.9", NOW + 2, rule) == NOW + 2 + 60
    assert limiter_store.blocked_until("9.9.9.9", NOW + 30) == NOW + 62
    assert limiter_store.blocked_until("9.9.9.9", NOW + 63) is None
    assert limiter_store.blocked_until("8.8.8.8", NOW + 30) is None
    for t in (100, 101):
        assert limiter_store.record_refusal("9.9.9.9", NOW + t, rule) is None
    assert limiter_store.record_refusal("9.9.9.9", NOW + 102, rule) == NOW + 102 + 300


def test_refusals_outside_the_window_do_not_add_up(limiter_store):
    rule = AbuseRule(refusals=3, window=10, ladder=(60,))
    for t in (0, 11, 22, 33):
        assert limiter_store.record_refusal("7.7.7.7", NOW + t, rule) is None
    assert limiter_store.blocked_until("7.7.7.7", NOW + 34) is None


def test_purge_removes_stale_state_only(limiter_store):
    policy = Policy("anonymous", 3, grace=0)
    limiter_store.acquire("old", NOW, policy)
    limiter_store.acquire("new", NOW + 1000, policy)
    assert limiter_store.purge(NOW + 500) >= 1
    assert limiter_store.acquire("old", NOW + 1000, policy).remaining == 2  # fresh bucket again
    assert limiter_store.acquire("new", NOW + 1000, policy).remaining == 1


def test_users_round_trip(user_store):
    assert user_store.get("u1") is None
    user_store.put(UserRecord("u1", tier="donor", limit_override=50, email="a@example.com"))
    assert user_store.get("u1") == UserRecord("u1", "donor", 50, None, "a@example.com")
    user_store.put(UserRecord("u1", tier="registered"))
    assert user_store.get("u1").tier == "registered" and user_store.get("u1").limit_override is None
    user_store.put(UserRecord("u1", tier="registered", budget_override=12.5))
    assert user_store.get("u1").budget_override == 12.5


def test_an_earlier_clock_reading_never_costs_a_token(limiter_store):
    """Concurrent callers read the clock a moment apart and commit in any order."""
    policy = Policy("registered", 2, grace=0)  # one token every 30 s
    assert limiter_store.acquire("skew", NOW + 0.005, policy).allowed
    assert limiter_store.acquire("skew", NOW, policy).allowed, "decided at the later time already seen"
    assert not limiter_store.acquire("skew", NOW, policy).allowed
