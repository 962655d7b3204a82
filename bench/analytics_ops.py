"""What analytics costs on Firestore, as billed (``bench/store_ops.py`` prints it after the generations).

- ``AnalyticsShare``: the operations the analytics recorder makes inside whole generations (wraps
  ``AnalyticsService.job_finished`` and ``event`` with the op counter's ``track()``), and the
  instance's metrics points (``MetricsService.record_instance``, once a minute per instance).
- ``unit_costs``: each analytics operation on its own on the emulator: a signed-in owner's first job
  of the day, a later one, a later one on another instance (no memory of the first), a text request,
  a new visitor's page view, and the admin report over 7 and 30 days.

Figures (``--json`` for bench/run.py): each operation's writes and reads, with README's cost table
("Analytics") as the targets: analytics adds at most 1 write per generation and 1 per visitor per
day. The admin report's reads (days x shards) are reported only.

Run on its own: .venv/bin/python bench/analytics_ops.py [--quick] [--json PATH] (starts the emulator
unless FIRESTORE_EMULATOR_HOST is set; it takes seconds, so ``--quick`` changes nothing).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # common, also when imported as bench.analytics_ops

from common import Figure, add_json_argument, emit, noted  # noqa: E402

from shared.config import Settings  # noqa: E402
from shared.domain import Caller, Job, JobStatus, Mode, Outcome  # noqa: E402
from shared.services.analytics import AnalyticsService  # noqa: E402
from shared.services.metrics import MetricsService  # noqa: E402
from shared.stores.factory import open_firestore  # noqa: E402
from shared.stores.firestore.db import OpCount, OpCounter  # noqa: E402

T0 = 1_800_000_000.0


class AnalyticsShare:
    """Counts the operations made inside AnalyticsService's recording methods while installed."""

    def __init__(self, ops: OpCounter) -> None:
        self.ops = ops
        self.jobs = OpCount()
        self.events = OpCount()
        self.metrics = OpCount()
        self._saved: list[tuple[type, str, Callable]] = []

    def _wrap(self, owner: type, name: str, tally: OpCount) -> None:
        original = getattr(owner, name)
        self._saved.append((owner, name, original))

        def tracked(service, *args, **kwargs):
            with self.ops.track() as counted:
                result = original(service, *args, **kwargs)
            tally.add(counted)
            return result

        setattr(owner, name, tracked)

    def __enter__(self) -> AnalyticsShare:
        self._wrap(AnalyticsService, "job_finished", self.jobs)
        self._wrap(AnalyticsService, "event", self.events)
        self._wrap(MetricsService, "record_instance", self.metrics)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)


class _Clock:
    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value

    def sleep(self, seconds: float) -> None:
        self.value += seconds


def _job(owner: str, at: float) -> Job:
    return Job(uuid.uuid4().hex, owner, "registered", 2, Mode.TEXT_TO_IMAGE, {"prompt": "x"}, at, started_at=at + 1)


def _cost(ops: OpCounter, action: Callable[[], object]) -> OpCount:
    with ops.track() as tally:
        action()
    return tally


def unit_costs(host: str) -> list[tuple[str, OpCount]]:
    project = f"demo-analytics-{uuid.uuid4().hex[:6]}"
    settings = Settings(store="firestore", firestore_emulator_host=host, firestore_project=project)
    stores = open_firestore(settings)
    ops = stores.ops
    assert ops is not None
    clock = _Clock(T0)

    def service() -> AnalyticsService:  # one instance's recorder (its own memory of visitors and owners)
        return AnalyticsService(stores.analytics, clock, "UTC", b"k" * 32, ["/"], ["registered", "donor"], 10.0)

    first, other = service(), service()
    jobs = [_job("user:bench", T0 + i) for i in range(3)]
    for job in jobs:
        stores.jobs.create(job)
    done = Outcome(JobStatus.SUCCEEDED, T0 + 5, provider="local")
    caller = Caller("user:bench", "registered", "203.0.113.1", user_id="bench")
    rows = [
        ("signed-in owner's first job of the day", _cost(ops, lambda: first.job_finished(replace(jobs[0]), done))),
        ("the same owner's next job, same instance", _cost(ops, lambda: first.job_finished(jobs[1], done))),
        ("the next job on another instance", _cost(ops, lambda: other.job_finished(jobs[2], done))),
        ("an anonymous one-off caller's job", _cost(ops, lambda: first.job_finished(_job("anon:x", T0), done))),
        ("a text request (signed in)", _cost(ops, lambda: first.text_finished(caller, "local", True, 0, T0, False))),
    ]
    visitor = Caller("anon:v", "anonymous", "198.51.100.1")
    view = lambda: first.event("page_view", "/", visitor, "v|ua")  # noqa: E731
    rows.append(("a new visitor's page view (buffered counters)", _cost(ops, view)))
    rows.append(("its next page view", _cost(ops, view)))
    rows.append(("a flush of the summed events", _cost(ops, first.flush)))
    rows.append(("the admin report, 7 days", _cost(ops, lambda: first.report(7))))
    rows.append(("the admin report, 30 days", _cost(ops, lambda: first.report(30))))
    stores.close()
    return rows


# README's cost table: operation -> (writes, reads) at most; None is reported only.
TARGETS: dict[str, tuple[int | None, int | None]] = {
    "signed-in owner's first job of the day": (2, 1),
    "the same owner's next job, same instance": (1, 0),
    "the next job on another instance": (1, 1),
    "an anonymous one-off caller's job": (1, 0),
    "a text request (signed in)": (1, 0),
    "a new visitor's page view (buffered counters)": (1, 0),
    "its next page view": (0, 0),
    "a flush of the summed events": (1, 0),
    "the admin report, 7 days": (0, None),
    "the admin report, 30 days": (0, None),
}
NOTE = (
    "more operations than README's cost table: a write per generation or per visitor beyond the one "
    "merge write (an increment split in two, a mark written again, a flush with nothing to flush) or a "
    "read the instance's memory should have saved; compare with OpCounter.track() around the call"
)


def figures(rows: list[tuple[str, OpCount]]) -> list[Figure]:
    out = []
    for name, count in rows:
        for kind, measured, limit in zip(("writes", "reads"), (count.writes, count.reads), TARGETS[name], strict=True):
            figure = Figure("analytics_ops", f"{name}: {kind}", measured, kind)
            figure.target = "" if limit is None else f"<= {limit}"
            out.append(noted(figure, NOTE))
    return out


def print_unit_costs(host: str) -> list[tuple[str, OpCount]]:
    """Measure each operation on the emulator at ``host`` and print the table (bench/store_ops.py too)."""
    rows = unit_costs(host)
    print_rows(rows)
    return rows


def print_rows(rows: list[tuple[str, OpCount]]) -> None:
    print("analytics operations on their own (Firestore emulator):")
    for name, count in rows:
        print(f"  {name:<48} writes {count.writes:3d}  reads {count.reads:3d}  lost creates {count.conflicts}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="the same run: it already takes seconds")
    add_json_argument(parser)
    args = parser.parse_args()
    emulator = None
    address = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if address is None:
        from tests.firestore_emulator import FirestoreEmulator, missing_requirements

        if missing_requirements():
            print(f"analytics operations on Firestore: skipped ({missing_requirements()})")
            emit([], args.json)
            return
        emulator = FirestoreEmulator(Path(tempfile.mkdtemp()) / "emulator.log")
        address = emulator.host
        os.environ["FIRESTORE_EMULATOR_HOST"] = address
    try:
        rows = print_unit_costs(address)
    finally:
        if emulator is not None:
            emulator.stop()
    emit(figures(rows), args.json)


if __name__ == "__main__":
    main()
