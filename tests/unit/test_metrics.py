"""The request meter and the metrics history's use case, on a fake clock with injected readings."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from shared.analytics.records import DEPLOYMENT
from shared.domain import JobStatus, Outcome
from shared.meter import RequestMeter
from shared.ratelimit.load import LoadMonitor
from shared.services.metrics import MetricsPolicy, MetricsService, job_figures, p95
from shared.stores.factory import open_sqlite
from tests.contract.test_job_store import make_job
from tests.fakes.clock import FakeClock

T0 = 1_800_000_000.0


def test_the_meter_counts_requests_in_flight_and_response_times():
    meter = RequestMeter(period=60, clock=lambda: 0.0)
    for _ in range(3):
        meter.started()
    meter.finished(200, 0.2)
    meter.finished(503, 0.4)
    reading = meter.read()
    assert (reading.in_flight, reading.in_flight_max, reading.requests, reading.errors) == (1, 3, 2, 1)
    assert reading.average_seconds == pytest.approx(0.3)
    again = meter.read()
    assert (again.in_flight, again.in_flight_max, again.requests, again.average_seconds) == (1, 1, 0, None)


def test_the_meter_calls_back_once_a_period_in_the_background():
    now = [0.0]
    meter = RequestMeter(period=60, clock=lambda: now[0])
    called = threading.Event()
    calls = []

    def due() -> None:
        calls.append(threading.current_thread().name)
        called.set()

    meter.on_due = due
    meter.started()
    meter.finished(200, 0.01)
    assert not called.is_set()
    now[0] = 61.0
    meter.started()
    meter.finished(200, 0.01)
    assert called.wait(5)
    called.clear()
    meter.started()
    meter.finished(200, 0.01)
    assert not called.wait(0.2), "not again within the period"
    assert calls == ["metrics-point"]


@pytest.fixture
def service(tmp_path: Path):
    stores = open_sqlite(tmp_path / "m.sqlite3")
    clock = FakeClock(T0)
    meter = RequestMeter(clock=lambda: 0.0)
    load = LoadMonitor(stores.jobs.counts, 40, clock.now, ttl=0)
    policy = MetricsPolicy(interval_seconds=60, window_seconds=900, sample_jobs=50, memory_limit_mb=256)
    yield MetricsService(stores.metrics, stores.jobs, load, clock, meter, policy, memory=lambda _mb: 0.42), clock
    stores.close()


def test_an_instance_records_at_most_one_point_a_minute(service):
    metrics, clock = service
    metrics.meter.started()
    metrics.meter.finished(200, 0.5)
    first = metrics.record_instance()
    assert first is not None and first.source.startswith("instance:")
    assert first.values["memory"] == 0.42 and first.values["requests"] == 1 and first.values["response_avg"] == 0.5
    assert first.values["error_rate"] == 0.0 and first.values["in_flight"] == 0 and 0 <= first.values["cpu"] <= 1
    clock.advance(59)
    assert metrics.record_instance({"cpu": 0.99}) is None
    clock.advance(1)
    assert metrics.record_instance({"cpu": 0.99}) is not None
    since, points = metrics.history(1)
    assert since == clock.now() - 3600 and [p.values.get("cpu") for p in points][1:] == [0.99]


def test_the_deployment_point_comes_from_recent_jobs_and_the_queue(service):
    metrics, clock = service
    jobs = metrics.jobs
    for i, (took, status) in enumerate([(2, "ok"), (4, "ok"), (6, "failed"), (40, "ok")]):
        job = make_job(T0 - 100 + i)
        jobs.create(job)
        jobs.claim(job.id, "w", T0 - 90 + i, 30)
        done = JobStatus.SUCCEEDED if status == "ok" else JobStatus.FAILED
        jobs.finish(job.id, "w", Outcome(done, T0 - 100 + i + took))
    waiting = make_job(T0 - 30)
    jobs.create(waiting)
    point = metrics.record_deployment()
    assert point.source == DEPLOYMENT and point.at == T0
    values = point.values
    assert (values["queued"], values["running"], values["finished"], values["failed"]) == (1, 0, 4, 1)
    assert values["error_rate"] == 0.25 and values["time_to_result_p95"] == 40.0
    assert values["time_to_result_avg"] == round((2 + 4 + 40) / 3, 3) and values["queue_wait_p95"] == 10.0
    assert values["oldest_queued_wait"] == 30.0
    clock.advance(3600)  # outside the window: no recent jobs
    later = metrics.record_deployment().values
    assert later["finished"] == 0 and "error_rate" not in later and later["oldest_queued_wait"] == 3630.0


def test_p95_and_job_figures():
    assert p95([]) is None and p95([5.0]) == 5.0
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    assert job_figures([]) == {"finished": 0, "failed": 0}
