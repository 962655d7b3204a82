"""Scheduled cleanup: whatever is past its time goes, in bounded batches (README "Cleanup").

One run deletes, in this order, each kind in batches of ``batch_size`` until none is left:

1. jobs (which are also the usage records) created more than the retention ago, with their
   output media (``result.key``) and uploaded input (``input_key``); the files go first, so a run
   cut short never leaves a file without its job to find it by;
2. idempotency markers left behind (Firestore; SQLite keeps the key in the job row);
3. limiter and abuse state idle for ``limiter_idle_seconds``; 4. expired response-cache entries;
5. pending subscription requests older than a week (the payments store plugs in here);
5b. the operations history past the retention: metrics points, closed alerts, analytics days
   (``history``: any stores with ``purge(before, limit)``, by kind);
6. orphan media: files under ``outputs/`` and ``inputs/`` older than the retention plus a day
   whose job is gone already (Firestore's TTL policy may delete a job first; media has no TTL).
   The listing resumes where the last run stopped (a cursor kept in the response cache).

A run stops after ``max_seconds`` (and, for tests and admin calls, ``max_batches``): everything
is deleted by age, so the next run simply picks up what is left. Two runs at once are safe: a
row is deleted, and counted, by exactly one of them; deleting a file twice is harmless. After
deleting, ``compact`` hands the space back (SQLite: ``PRAGMA incremental_vacuum``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from shared.clock import Clock
from shared.media import MediaStore
from shared.stores.base import CacheStore, Job, JobStore, LimiterStore

log = logging.getLogger("gateway.cleanup")

KINDS = (
    *("jobs", "media", "inputs", "idempotency", "limiter", "cache", "pending_subscriptions", "orphan_media"),
    *("metrics", "alerts", "analytics"),  # the operations history (shared/services/metrics.py, alerts.py, analytics.py)
)
SWEPT = ("outputs/", "inputs/")  # media folders the orphan sweep lists
LIST_PAGE = 5000  # objects listed per orphan-sweep batch (at most ``batch_size`` of them deleted)
CURSOR = "ops:cleanup:media-cursor"  # the orphan sweep's position, in the response cache
CURSOR_TTL = 7 * 86400.0
WEEK = 7 * 86400.0


class PendingRequests(Protocol):
    """The hook for the payments store: pending subscription requests older than ``before``."""

    def purge(self, before: float, limit: int | None = None) -> int: ...


@dataclass(frozen=True)
class CleanupPolicy:
    retention_seconds: float = 30 * 86400.0
    limiter_idle_seconds: float = 7 * 86400.0  # idle limiter state goes (then a caller gets grace again)
    batch_size: int = 200
    max_seconds: float = 45.0
    orphan_grace_seconds: float = 86400.0  # a file this much older than the retention is an orphan


@dataclass
class CleanupReport:
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    complete: bool = True  # False: the budget ran out; the next run resumes
    stopped_in: str | None = None  # the kind it was deleting when the budget ran out
    batches: int = 0
    seconds: float = 0.0
    compacted_bytes: int = 0


@dataclass
class _Budget:
    clock: Clock
    deadline: float
    max_batches: int | None
    batches: int = 0

    def spent(self) -> bool:
        over = self.max_batches is not None and self.batches >= self.max_batches
        return over or self.clock.now() >= self.deadline


Step = Callable[[float, dict[str, int]], bool]  # one batch at ``now``: adds to the counts; True = more left


class CleanupService:
    def __init__(
        self,
        jobs: JobStore,
        limiter: LimiterStore,
        cache: CacheStore,
        media: MediaStore,
        clock: Clock,
        policy: CleanupPolicy,
        compact: Callable[[], int] = lambda: 0,
        pending_subscriptions: PendingRequests | None = None,  # THE HOOK: the payments store, when it exists
        history: Mapping[str, PendingRequests] | None = None,  # kind -> store: purged past the retention
    ) -> None:
        self.history = dict(history or {})
        self.jobs = jobs
        self.limiter = limiter
        self.cache = cache
        self.media = media
        self.clock = clock
        self.policy = policy
        self.compact = compact
        self.pending_subscriptions = pending_subscriptions

    def run(self, max_seconds: float | None = None, max_batches: int | None = None) -> CleanupReport:
        """Delete what is due, batch by batch, until done or out of budget; say what went."""
        started = self.clock.now()
        budget = _Budget(self.clock, started + (max_seconds or self.policy.max_seconds), max_batches)
        report = CleanupReport()
        for kind, step in self._steps():
            more = True
            while more:
                if budget.spent():
                    report.complete, report.stopped_in = False, kind
                    break
                more = step(started, report.deleted)
                budget.batches += 1
            if not report.complete:
                break
        report.batches = budget.batches
        if any(report.deleted.values()):
            report.compacted_bytes = self.compact()
        report.seconds = round(max(self.clock.now() - started, 0.0), 3)
        log.info("cleanup", extra={"fields": {**report.deleted, "complete": report.complete}})
        return report

    def _steps(self) -> Iterator[tuple[str, Step]]:
        yield "jobs", self._jobs
        yield "idempotency", self._markers
        yield "limiter", self._limiter
        yield "cache", self._cache
        if self.pending_subscriptions is not None:
            yield "pending_subscriptions", self._pending
        for kind, store in self.history.items():
            yield kind, partial(self._history, kind, store)
        yield "orphan_media", self._orphans

    def _jobs(self, now: float, counts: dict[str, int]) -> bool:
        due = self.jobs.expired(now - self.policy.retention_seconds, self.policy.batch_size)
        for job in due:  # files first: a run cut short leaves the job to find them by
            for key in _files(job):
                self.media.delete(key)
        removed = self.jobs.delete(due)
        gone = set(removed.jobs)
        counts["jobs"] += len(gone)
        counts["idempotency"] += removed.markers
        for job in due:
            if job.id in gone:
                counts["media"] += 1 if (job.result or {}).get("key") else 0
                counts["inputs"] += 1 if job.input_key else 0
        return len(due) >= self.policy.batch_size

    def _markers(self, now: float, counts: dict[str, int]) -> bool:
        deleted = self.jobs.purge_markers(now, self.policy.batch_size)
        counts["idempotency"] += deleted
        return deleted >= self.policy.batch_size

    def _limiter(self, now: float, counts: dict[str, int]) -> bool:
        deleted = self.limiter.purge(now - self.policy.limiter_idle_seconds, self.policy.batch_size)
        counts["limiter"] += deleted
        return deleted >= self.policy.batch_size

    def _cache(self, now: float, counts: dict[str, int]) -> bool:
        deleted = self.cache.purge(now, self.policy.batch_size)
        counts["cache"] += deleted
        return deleted >= self.policy.batch_size

    def _pending(self, now: float, counts: dict[str, int]) -> bool:
        assert self.pending_subscriptions is not None
        deleted = self.pending_subscriptions.purge(now - WEEK, self.policy.batch_size)
        counts["pending_subscriptions"] += deleted
        return deleted >= self.policy.batch_size

    def _history(self, kind: str, store: PendingRequests, now: float, counts: dict[str, int]) -> bool:
        deleted = store.purge(now - self.policy.retention_seconds, self.policy.batch_size)
        counts[kind] += deleted
        return deleted >= self.policy.batch_size

    def _orphans(self, now: float, counts: dict[str, int]) -> bool:
        """One page of one media folder; the position is kept between runs."""
        cutoff = now - self.policy.retention_seconds - self.policy.orphan_grace_seconds
        cursor = self.cache.get(CURSOR, now) or {}
        folder = int(cursor.get("folder", 0)) % len(SWEPT)
        page = self.media.objects(SWEPT[folder], str(cursor.get("after", "")), LIST_PAGE)
        position: dict[str, int | str] | None = None
        deleted = 0
        for stored in page:
            if stored.modified < cutoff:
                self.media.delete(stored.key)
                deleted += 1
                if deleted >= self.policy.batch_size:  # at most a batch of deletes; the rest next batch
                    position = {"folder": folder, "after": stored.key}
                    break
        counts["orphan_media"] += deleted
        if position is None and len(page) >= LIST_PAGE:
            position = {"folder": folder, "after": page[-1].key}
        elif position is None:
            position = {"folder": folder + 1, "after": ""}
        done = int(position["folder"]) >= len(SWEPT)
        self.cache.put(CURSOR, {"folder": 0, "after": ""} if done else position, now + CURSOR_TTL)
        return not done


def _files(job: Job) -> list[str]:
    result_key = (job.result or {}).get("key")
    return [key for key in (result_key, job.input_key) if key]
