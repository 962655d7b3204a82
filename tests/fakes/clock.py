"""A clock tests move by hand (``shared.clock.Clock``); ``sleep`` advances it instantly."""

from __future__ import annotations

import threading


class FakeClock:
    """A clock tests move by hand; ``sleep`` advances it instantly."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
