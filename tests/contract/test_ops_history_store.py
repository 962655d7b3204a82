"""The metrics history and the alerts on every store, and their cleanup past the retention."""

from __future__ import annotations

import threading
from pathlib import Path

from shared.analytics.records import AlertRecord, MetricsPoint
from shared.domain import JobStatus, Outcome
from shared.media import LocalMediaStore
from shared.services.cleanup import CleanupPolicy, CleanupService
from tests.contract.test_job_store import make_job
from tests.fakes.clock import FakeClock

T0 = 1_800_000_000.0
DAY = 86400.0


def _alert(rule: str, at: float, value: float = 0.9) -> AlertRecord:
    return AlertRecord(f"{rule}~{at:.0f}", rule, at, value, 0.85, f"{rule} is high")


def test_points_come_back_oldest_first_from_a_time_on(stores):
    metrics = stores.metrics
    for i in range(5):
        metrics.add(MetricsPoint(T0 + i * 60, "instance:health:a1", {"cpu": i / 10, "requests": i}))
    metrics.add(MetricsPoint(T0 + 30, "deployment", {"queued": 3.0}))
    points = metrics.points(T0 + 60, 100)
    assert [p.at for p in points] == [T0 + 60, T0 + 120, T0 + 180, T0 + 240]
    assert points[0] == MetricsPoint(T0 + 60, "instance:health:a1", {"cpu": 0.1, "requests": 1})
    assert [p.at for p in metrics.points(T0, 2)] == [T0 + 180, T0 + 240], "the newest ones, oldest first"
    assert metrics.points(T0 + 1000, 10) == []


def test_recent_jobs_are_the_latest_finished(stores):
    jobs = stores.jobs
    finished = []
    for i in range(4):
        job = make_job(T0 + i)
        jobs.create(job)
        jobs.claim(job.id, "w", T0 + 10, 30)
        jobs.finish(job.id, "w", Outcome(JobStatus.SUCCEEDED if i % 2 else JobStatus.FAILED, T0 + 20 + i))
        finished.append(job.id)
    jobs.create(make_job(T0 + 9))  # still queued: not finished
    recent = stores.metrics.recent_jobs(T0 + 21, 10)
    assert [j.id for j in recent] == finished[:0:-1]
    assert [j.status for j in recent] == [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SUCCEEDED]
    assert [j.id for j in stores.metrics.recent_jobs(T0, 2)] == finished[:1:-1]


def test_an_alert_opens_once_and_closes_once(stores):
    alerts = stores.alerts
    first = _alert("cpu", T0)
    assert alerts.open(first) is True
    assert alerts.open(_alert("cpu", T0 + 60)) is False, "the rule has an open alert"
    assert alerts.open(_alert("memory", T0 + 5)) is True
    assert [a.rule for a in alerts.list(True, 10)] == ["memory", "cpu"]
    closed = alerts.close("cpu", T0 + 300, 0.5)
    assert closed is not None and closed.id == first.id and closed.state == "closed"
    assert (closed.closed_at, closed.closing_value, closed.value) == (T0 + 300, 0.5, 0.9)
    assert alerts.close("cpu", T0 + 301, 0.4) is None, "closed already"
    assert [a.rule for a in alerts.list(True, 10)] == ["memory"]
    again = _alert("cpu", T0 + 400)
    assert alerts.open(again) is True, "a new episode after it closed"
    history = alerts.list(False, 10)
    assert [(a.rule, a.state) for a in history] == [("cpu", "open"), ("memory", "open"), ("cpu", "closed")]
    assert [a.id for a in alerts.list(False, 2)] == [again.id, f"memory~{T0 + 5:.0f}"]


def test_concurrent_evaluators_open_and_close_an_alert_exactly_once(stores):
    alerts = stores.alerts
    opened, closed = [], []
    barrier = threading.Barrier(8)

    def evaluate(i: int) -> None:
        barrier.wait()
        if alerts.open(_alert("queue_wait", T0 + i)):
            opened.append(i)
        barrier.wait()
        if alerts.close("queue_wait", T0 + 100, 1.0) is not None:
            closed.append(i)

    threads = [threading.Thread(target=evaluate, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opened) == 1 and len(closed) == 1
    assert [a.state for a in alerts.list(False, 10)] == ["closed"]


def test_the_cleanup_purges_the_history_past_the_retention(stores, tmp_path: Path):
    retention = 30 * DAY
    for i in range(3):
        stores.metrics.add(MetricsPoint(T0 - 40 * DAY + i, "deployment", {"queued": 1.0}))
    stores.metrics.add(MetricsPoint(T0 - DAY, "deployment", {"queued": 2.0}))
    stores.alerts.open(_alert("cpu", T0 - 50 * DAY))
    stores.alerts.close("cpu", T0 - 45 * DAY, 0.1)
    stores.alerts.open(_alert("memory", T0 - 50 * DAY))  # still open: kept, however old
    stores.alerts.open(_alert("error_rate", T0 - 2 * DAY))
    stores.alerts.close("error_rate", T0 - DAY, 0.0)
    old_day = T0 - 40 * DAY
    stores.analytics.add("old", old_day, {"a": 1})
    stores.analytics.mark_visitor("old", old_day, "v", "anonymous")
    stores.analytics.add("new", T0 - DAY, {"a": 1})
    media = LocalMediaStore(tmp_path / "media", b"k" * 32, "/m", 60)
    policy = CleanupPolicy(retention_seconds=retention, batch_size=2, max_seconds=60)
    history = {"metrics": stores.metrics, "alerts": stores.alerts, "analytics": stores.analytics}
    service = CleanupService(stores.jobs, stores.limiter, stores.cache, media, FakeClock(T0), policy, history=history)
    report = service.run()
    assert report.complete
    assert (report.deleted["metrics"], report.deleted["alerts"]) == (3, 1)
    assert report.deleted["analytics"] >= 2
    assert [p.values for p in stores.metrics.points(0, 10)] == [{"queued": 2.0}]
    assert sorted(a.rule for a in stores.alerts.list(False, 10)) == ["error_rate", "memory"]
    assert stores.analytics.counters(0, T0) == {"new": {"a": 1}} and stores.analytics.visitors("old") == {}
    assert sum(service.run().deleted.values()) == 0
