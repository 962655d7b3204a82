"""This process's request figures for the metrics history: requests in flight, how many were served
since the last reading, their average response time and the share answered with a 5xx.

``shared.http.Api`` calls ``started()`` and ``finished()`` around every request (a few operations
under a lock). Every ``PERIOD`` seconds of wall time, the first request to finish calls ``on_due`` in
a background thread (``shared.wiring_ops`` makes it record this instance's metrics point), so the
request never waits for it and an idle instance records nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("gateway.metrics")
PERIOD = 60.0


@dataclass(frozen=True)
class Reading:
    in_flight: int
    in_flight_max: int  # the most at once since the last reading
    requests: int
    average_seconds: float | None
    errors: int  # answered with a 5xx


class RequestMeter:
    def __init__(self, period: float = PERIOD, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = self._peak = self._count = self._errors = 0
        self._seconds = 0.0
        self._due = clock() + period
        self.on_due: Callable[[], None] | None = None

    def started(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)

    def finished(self, status: int, seconds: float) -> None:
        with self._lock:
            self._in_flight = max(self._in_flight - 1, 0)
            self._count += 1
            self._seconds += seconds
            self._errors += 1 if status >= 500 else 0
            now = self._clock()
            due = now >= self._due
            if due:
                self._due = now + self.period
        if due and self.on_due is not None:
            threading.Thread(target=self._run, args=(self.on_due,), name="metrics-point", daemon=True).start()

    @staticmethod
    def _run(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.warning("the metrics point was not recorded", exc_info=True)

    def read(self) -> Reading:
        """The figures since the last reading (which this one resets)."""
        with self._lock:
            average = self._seconds / self._count if self._count else None
            reading = Reading(self._in_flight, self._peak, self._count, average, self._errors)
            self._peak, self._count, self._errors, self._seconds = self._in_flight, 0, 0, 0.0
        return reading


METER = RequestMeter()
