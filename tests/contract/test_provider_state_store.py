"""The provider state (circuit breaker) store contract. Runs on every store."""

from __future__ import annotations

import threading

from shared.stores.base import BreakerState

NOW = 1_800_000_000.0


def test_failures_open_the_breaker_at_the_threshold(stores):
    state = stores.provider_state
    assert state.breakers() == {}
    assert state.record_failure("stability", NOW, 3, 30) == BreakerState("stability", 1, None, None)
    state.record_failure("stability", NOW, 3, 30)
    assert state.breakers()["stability"].state(NOW) == "closed"
    opened = state.record_failure("stability", NOW + 1, 3, 30)
    assert opened == BreakerState("stability", 3, NOW + 31, None)
    assert state.breakers() == {"stability": opened}
    assert opened.state(NOW + 30) == "open" and opened.state(NOW + 31) == "half_open"


def test_exactly_one_caller_wins_the_half_open_probe(stores):
    state = stores.provider_state
    state.record_failure("openai", NOW, 1, 30)
    assert state.try_probe("openai", NOW + 10, 60) is False  # still open
    assert state.try_probe("gemini", NOW + 10, 60) is False  # never failed
    wins = []
    barrier = threading.Barrier(8)

    def probe() -> None:
        barrier.wait()
        wins.append(state.try_probe("openai", NOW + 31, 60))

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]
    assert state.breakers()["openai"].probe_until == NOW + 91
    assert state.try_probe("openai", NOW + 90, 60) is False
    assert state.try_probe("openai", NOW + 91, 60) is True  # the first probe's lease ran out


def test_a_failed_probe_reopens_and_a_success_closes(stores):
    state = stores.provider_state
    state.record_failure("dashscope", NOW, 1, 30)
    assert state.try_probe("dashscope", NOW + 31, 60)
    reopened = state.record_failure("dashscope", NOW + 32, 5, 30)
    assert reopened == BreakerState("dashscope", 2, NOW + 62, None)
    state.record_failure("openai", NOW, 5, 30)
    state.record_success("dashscope")
    assert set(state.breakers()) == {"openai"}
    state.record_success("gemini")  # nothing to close: no error
    assert set(state.breakers()) == {"openai"}


def test_concurrent_failures_are_all_counted(stores):
    state = stores.provider_state
    barrier = threading.Barrier(10)

    def fail() -> None:
        barrier.wait()
        state.record_failure("stability", NOW, 100, 30)

    threads = [threading.Thread(target=fail) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state.breakers()["stability"].failures == 10
