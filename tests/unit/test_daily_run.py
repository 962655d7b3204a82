"""The embedded default's daily run: started by traffic, at most once a day, never by a timer."""

from __future__ import annotations

import threading

from shared.services.daily import DailyRun
from tests.fakes.clock import FakeClock


def test_the_first_request_starts_it_then_once_a_day_in_the_background():
    clock = FakeClock()
    runs: list[float] = []
    release = threading.Event()

    def run() -> None:
        runs.append(clock.now())
        release.wait(10)

    daily = DailyRun(run, clock)
    daily.poke()
    assert daily.thread is not None
    first = daily.thread
    for _ in range(50):  # requests while it runs and for the rest of the day start nothing
        daily.poke()
        clock.advance(1000)
    assert daily.thread is first
    release.set()
    first.join(10)
    clock.advance(86400 - 50 * 1000)
    daily.poke()
    assert daily.thread is not first
    daily.thread.join(10)
    assert len(runs) == 2 and runs[1] - runs[0] == 86400


def test_a_failing_run_is_logged_and_tried_again_the_next_day(caplog):
    clock = FakeClock()
    calls = []

    def run() -> None:
        calls.append(1)
        raise RuntimeError("disk full")

    daily = DailyRun(run, clock)
    daily.poke()
    daily.thread.join(10)
    assert "the daily run failed" in caplog.text
    clock.advance(86400)
    daily.poke()
    daily.thread.join(10)
    assert len(calls) == 2
