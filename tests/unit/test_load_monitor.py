"""The load figure is refreshed by one request at a time, never by every request in turn.

Found by the compressed busy day on Firestore (bench/busy_day.py): when the cached figure went
stale, each request that arrived waited for the lock and then ran the store's count itself, so
a burst queued behind one count each (submit p99 about 15 s on the emulator). Now one request
refreshes while the others use the previous figure, and the very first figure is loaded once.
"""

from __future__ import annotations

import threading

from shared.ratelimit.load import LoadMonitor


class Counts:
    """The store's count, held open by the test; it remembers how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.queued = 1

    def __call__(self) -> tuple[int, int]:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(30), "the test never released the count"
        return self.queued, 0


def _run(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()


def test_while_one_request_refreshes_a_stale_figure_the_others_use_the_previous_one():
    counts, now = Counts(), [0.0]
    counts.release.set()
    monitor = LoadMonitor(counts, capacity=40, now=lambda: now[0], ttl=2.0)
    assert monitor.snapshot().queued == 1 and counts.calls == 1

    now[0], counts.queued = 10.0, 7  # stale: the next request refreshes it
    counts.release.clear()
    counts.entered.clear()
    refresher = threading.Thread(target=monitor.snapshot)
    refresher.start()
    assert counts.entered.wait(30)

    seen: list[int] = []
    others = [threading.Thread(target=lambda: seen.append(monitor.snapshot().queued)) for _ in range(20)]
    _run(others)
    for thread in others:
        thread.join(30)
    assert seen == [1] * 20, "the others answered at once, from the previous figure"
    assert counts.calls == 2, "and did not count again"

    counts.release.set()
    refresher.join(30)
    assert monitor.snapshot().queued == 7 and counts.calls == 2


def test_the_first_figure_is_loaded_once_however_many_ask_at_once():
    counts = Counts()
    monitor = LoadMonitor(counts, capacity=40, now=lambda: 0.0, ttl=2.0)
    seen: list[int] = []
    askers = [threading.Thread(target=lambda: seen.append(monitor.snapshot().queued)) for _ in range(10)]
    _run(askers)
    assert counts.entered.wait(30)
    counts.release.set()
    for thread in askers:
        thread.join(30)
    assert seen == [1] * 10 and counts.calls == 1


def test_without_a_cache_every_request_reads_the_store():
    counts, now = Counts(), [0.0]
    counts.release.set()
    monitor = LoadMonitor(counts, capacity=40, now=lambda: now[0], ttl=0)
    for _ in range(3):
        monitor.snapshot()
    assert counts.calls == 3
