"""The load figure in [0, 1] that drives adaptive limits, cached briefly per instance."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LoadSnapshot:
    load: float
    queued: int
    running: int
    queue_pressure: float
    provider_errors: float
    host: float


def _cgroup_cpu_quota() -> float | None:
    """CPUs a cgroup CPU limit allows (Cloud Run, containers), if one is visible."""
    try:  # cgroup v2: "<quota> <period>" or "max <period>"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: quota -1 = no limit
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def usable_cpus() -> float:
    """The CPUs this process may run on (its affinity), capped by a cgroup CPU limit."""
    try:
        count = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        count = float(os.cpu_count() or 1)
    quota = _cgroup_cpu_quota()
    return max(min(count, quota) if quota else count, 0.01)


class ProcessCpu:
    """This process's own CPU time (every thread) over wall time, as a share of its CPUs.

    Not the machine's: on a shared host, other processes' work says nothing about this
    instance. Each figure covers at least ``min_window`` seconds (a shorter gap returns the
    previous figure), so one request's own burst does not read as a saturated instance;
    the first reading only sets the baseline (0).
    """

    def __init__(self, cpus: float | None = None, min_window: float = 1.0) -> None:
        self._cpus = cpus
        self.min_window = min_window
        self._last: tuple[float, float] | None = None
        self._share = 0.0
        self._lock = threading.Lock()

    def share(self) -> float:
        wall, used = time.monotonic(), time.process_time()
        with self._lock:
            if self._cpus is None:
                self._cpus = usable_cpus()
            if self._last is None:
                self._last = (wall, used)
                return self._share
            elapsed = wall - self._last[0]
            if elapsed < self.min_window or elapsed <= 0:
                return self._share
            self._share = min(max((used - self._last[1]) / (elapsed * self._cpus), 0.0), 1.0)
            self._last = (wall, used)
            return self._share


_process_cpu = ProcessCpu()


def memory_share(memory_limit_mb: int) -> float:
    """This process's resident memory (RSS) against its instance limit (the metrics history reads it too)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / (memory_limit_mb * 1024 * 1024)
    except Exception:  # not visible here (sandboxes, exotic platforms): no memory signal
        return 0.0


def host_pressure(memory_limit_mb: int) -> float:
    """This process's memory (RSS) against its instance limit, and its own CPU use."""
    cpu = _process_cpu.share()
    return min(max(memory_share(memory_limit_mb), cpu), 1.0)


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
        """The cached figure while fresh. Once stale, ONE request refreshes it (a store count) while
        the others keep using the previous figure; before the first figure, they wait for it. Every
        request refreshing in turn queued them all behind one count each (seconds on Firestore)."""
        now = self._now()
        cached = self._cached
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        if cached is not None and not self._lock.acquire(blocking=False):
            return cached[1]  # another request is refreshing it
        if cached is None:
            self._lock.acquire()
        try:
            cached = self._cached
            if cached is not None and self._now() - cached[0] < self._ttl:
                return cached[1]  # refreshed while this request waited for the first figure
            queued, running = self._counts()
            snapshot = combine(queued, running, self.capacity, self._provider_errors(), self._host())
            self._cached = (now, snapshot)
            return snapshot
        finally:
            self._lock.release()
