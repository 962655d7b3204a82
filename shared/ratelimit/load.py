"""The load figure in [0, 1] that drives adaptive limits, cached briefly per instance."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadSnapshot:
    load: float
    queued: int
    running: int
    queue_pressure: float
    provider_errors: float
    host: float


def host_pressure(memory_limit_mb: int) -> float:
    """This process's memory against its instance limit, and CPU use, where visible."""
    try:
        import psutil

        process = psutil.Process()
        memory = process.memory_info().rss / (memory_limit_mb * 1024 * 1024)
        cpu = psutil.cpu_percent(interval=None) / 100
    except Exception:  # not visible here (sandboxes, exotic platforms): no host signal
        return 0.0
    return min(max(memory, cpu), 1.0)


def combine(queued: int, running: int, capacity: int, provider_errors: float, host: float) -> LoadSnapshot:
    queue_pressure = min((queued + running) / max(capacity, 1), 1.0)
    load = max(queue_pressure, min(max(provider_errors, 0.0), 1.0), host)
    return LoadSnapshot(round(load, 3), queued, running, round(queue_pressure, 3), provider_errors, round(host, 3))


class LoadMonitor:
    def __init__(
        self,
        counts: Callable[[], tuple[int, int]],
        capacity: int,
        now: Callable[[], float],
        ttl: float = 2.0,
        provider_errors: Callable[[], float] = lambda: 0.0,
        host: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._counts = counts
        self.capacity = capacity
        self._now = now
        self._ttl = ttl
        self._provider_errors = provider_errors
        self._host = host
        self._cached: tuple[float, LoadSnapshot] | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> LoadSnapshot:
        now = self._now()
        cached = self._cached
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        with self._lock:
            queued, running = self._counts()
            snapshot = combine(queued, running, self.capacity, self._provider_errors(), self._host())
            self._cached = (now, snapshot)
        return snapshot
