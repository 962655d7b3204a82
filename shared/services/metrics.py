"""The metrics history (README "Metrics and alerts").

- Each instance records at most one point per ``METRICS_INTERVAL_SECONDS`` (60 s by default), from
  a background thread the request meter starts (``shared/meter.py``): this process's CPU share and
  memory against ``MEMORY_LIMIT_MB`` (``shared.ratelimit.load``), requests in flight (now and the
  most at once), requests served, their average response time and 5xx share, the queue.
- The scheduled run (``POST /api/v1/tasks/metrics``) records one point for the whole deployment,
  from the store: the queue, and from the last ``METRICS_SAMPLE_JOBS`` jobs finished within
  ``METRICS_WINDOW_SECONDS``: error rate, average and p95 time to result, p95 queue wait; and how
  long the oldest queued job has waited.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.analytics.records import DEPLOYMENT, MetricsPoint
from shared.clock import Clock
from shared.domain import Job, JobStatus
from shared.meter import RequestMeter
from shared.ratelimit.load import LoadMonitor, ProcessCpu, memory_share
from shared.stores.base import JobStore, MetricsStore

MAX_POINTS = 5000  # points one history answer holds at most (the newest)


@dataclass(frozen=True)
class MetricsPolicy:
    interval_seconds: float = 60.0
    window_seconds: float = 900.0
    sample_jobs: int = 50
    memory_limit_mb: int = 256


def p95(values: Sequence[float]) -> float | None:
    """Nearest-rank 95th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)], 3)


def job_figures(jobs: Sequence[Job]) -> dict[str, float]:
    """Error rate and timings of finished jobs (canceled ones do not count)."""
    done = [j for j in jobs if j.status in (JobStatus.SUCCEEDED, JobStatus.FAILED) and j.finished_at is not None]
    failed = sum(1 for j in done if j.status is JobStatus.FAILED)
    results = [j.finished_at - j.created_at for j in done if j.status is JobStatus.SUCCEEDED and j.finished_at]
    waits = [j.started_at - j.created_at for j in done if j.started_at is not None]
    figures: dict[str, float] = {"finished": len(done), "failed": failed}
    if done:
        figures["error_rate"] = round(failed / len(done), 4)
    if results:
        figures["time_to_result_avg"] = round(sum(results) / len(results), 3)
        figures["time_to_result_p95"] = p95(results) or 0.0
    if waits:
        figures["queue_wait_p95"] = p95(waits) or 0.0
    return figures


def instance_name() -> str:
    """This process in the history: the function it serves (Cloud Functions' K_SERVICE) and a random id."""
    return f"instance:{os.environ.get('K_SERVICE') or 'local'}:{secrets.token_hex(3)}"


class MetricsService:
    def __init__(
        self,
        store: MetricsStore,
        jobs: JobStore,
        load: LoadMonitor,
        clock: Clock,
        meter: RequestMeter,
        policy: MetricsPolicy,
        memory: Callable[[int], float] = memory_share,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.load = load
        self.clock = clock
        self.meter = meter
        self.policy = policy
        self.source = instance_name()
        self._memory = memory
        self._cpu = ProcessCpu(min_window=1.0)
        self._cpu.share()  # the baseline: the first point covers the time since the instance started
        self._last = -math.inf
        self._lock = threading.Lock()

    def instance_values(self) -> dict[str, float]:
        reading = self.meter.read()
        snapshot = self.load.snapshot()
        values: dict[str, float] = {
            "cpu": round(self._cpu.share(), 4),
            "memory": round(self._memory(self.policy.memory_limit_mb), 4),
            "in_flight": reading.in_flight,
            "in_flight_max": reading.in_flight_max,
            "requests": reading.requests,
            "queued": snapshot.queued,
            "running": snapshot.running,
        }
        if reading.requests:
            values["response_avg"] = round(reading.average_seconds or 0.0, 4)
            values["error_rate"] = round(reading.errors / reading.requests, 4)
        return values

    def record_instance(self, values: dict[str, float] | None = None) -> MetricsPoint | None:
        """This instance's point, unless one was recorded less than the interval ago (then None)."""
        now = self.clock.now()
        with self._lock:
            if now - self._last < self.policy.interval_seconds:
                return None
            self._last = now
        point = MetricsPoint(now, self.source, values if values is not None else self.instance_values())
        self.store.add(point)
        return point

    def deployment_values(self) -> dict[str, float]:
        now = self.clock.now()
        queued, running = self.jobs.counts()
        recent = self.store.recent_jobs(now - self.policy.window_seconds, self.policy.sample_jobs)
        values: dict[str, float] = {"queued": queued, "running": running, **job_figures(recent)}
        oldest = self.jobs.queued(1)
        values["oldest_queued_wait"] = round(max(now - oldest[0].created_at, 0.0), 3) if oldest else 0.0
        return values

    def record_deployment(self, values: dict[str, float] | None = None) -> MetricsPoint:
        """The scheduled run's point for the whole deployment."""
        point = MetricsPoint(self.clock.now(), DEPLOYMENT, values if values is not None else self.deployment_values())
        self.store.add(point)
        return point

    def history(self, hours: float) -> tuple[float, list[MetricsPoint]]:
        since = self.clock.now() - hours * 3600.0
        return since, self.store.points(since, MAX_POINTS)

    def recent_instances(self) -> list[MetricsPoint]:
        """The latest point of each instance that recorded one within the window."""
        latest: dict[str, MetricsPoint] = {}
        for point in self.store.points(self.clock.now() - self.policy.window_seconds, MAX_POINTS):
            if point.source != DEPLOYMENT:
                latest[point.source] = point
        return list(latest.values())
