"""Analytics for the admin dashboard: recorded as generations finish and the site sends events,
read as daily counters (README "Analytics").

What it costs the store:
- a finished job: ONE counter write (``AnalyticsStore.add``); a signed-in or
  anonymous-account owner's job also one indexed read (``earlier_job``, skipped once this instance
  knows the answer for the owner's day), which tells the funnel's first generation of the day;
- a visitor's first activity of the day: ONE visitor mark (a create; this instance remembers it);
- text requests and site events: summed in memory and written every ``flush_seconds`` (one write
  per day touched, whatever the traffic), and when the instance shuts down (``Gateway.close``,
  registered at exit); an instance killed outright loses at most those seconds of counts.

Visitors are kept as an HMAC of their key and the day (never an address, never a uid): a signed
caller's key (``user:<uid>``, Firebase anonymous accounts included), else the network address and
the User-Agent. Recording never raises: analytics must not break a generation or an answer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from shared.analytics.counters import (
    AnalyticsReport,
    Generation,
    build_report,
    event_counts,
    generation_counts,
    page_name,
)
from shared.budget.periods import Period, period
from shared.clock import Clock
from shared.domain import Caller, Job, JobStatus, Outcome
from shared.stores.base import AnalyticsStore

log = logging.getLogger("gateway.analytics")
MEMO_LIMIT = 50_000  # visitors (and owners) remembered per instance before the memory starts over


def kind_of(user_id: str | None, tier: str) -> str:
    return "signed_in" if user_id is not None and tier != "anonymous" else "anonymous"


class AnalyticsService:
    def __init__(
        self,
        store: AnalyticsStore,
        clock: Clock,
        timezone: str,
        visitor_key: bytes,
        pages: Sequence[str],
        tiers: Sequence[str],
        flush_seconds: float = 10.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.tz = ZoneInfo(timezone)
        self._key = visitor_key
        self.pages = list(pages)
        self.tiers = list(tiers)
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._buffer: dict[tuple[str, float], dict[str, float]] = {}
        self._flushed_at = clock.now()
        self._marked: set[tuple[str, str]] = set()
        self._firsts: dict[tuple[str, str], float] = {}  # owner's day -> created_at from which jobs are not first

    # -- recording -------------------------------------------------------------------------

    def visitor(self, day: str, key: str) -> str:
        """The visitor's id for ``day``: unlinkable across days, and not reversible to the key."""
        return hmac.new(self._key, f"{day}\0{key}".encode(), hashlib.sha256).hexdigest()[:32]

    def _mark(self, day: Period, key: str, kind: str) -> None:
        """At most one visitor mark per visitor and day from this instance."""
        visitor = self.visitor(day.label, key)
        with self._lock:
            if (day.label, visitor) in self._marked:
                return
            if len(self._marked) >= MEMO_LIMIT:
                self._marked.clear()
            self._marked.add((day.label, visitor))
        self.store.mark_visitor(day.label, day.start, visitor, kind)

    def _first_of_day(self, job: Job, day: Period) -> str | None:
        """The owner's kind when ``job`` is its first job of the day (the funnel's "generated")."""
        if not job.owner.startswith("user:"):
            return None  # a one-off caller without an account (curl): a new owner on every request
        memo = (day.label, job.owner)
        with self._lock:
            bound = self._firsts.get(memo)
        if bound is not None and job.created_at >= bound:
            return None
        if self.store.earlier_job(job.owner, day.start, job):
            found: float = job.created_at if bound is None else min(bound, job.created_at)
            first = None
        else:
            found, first = -math.inf, kind_of(job.owner, job.tier)
        with self._lock:
            if len(self._firsts) >= MEMO_LIMIT:
                self._firsts.clear()
            self._firsts[memo] = found
        if first is not None:
            self._mark(day, job.owner, first)
        return first

    def job_finished(self, job: Job, outcome: Outcome, failed_provider: str | None = None) -> None:
        """A job the runner finished (succeeded or failed): one counter write."""
        try:
            day = period("day", job.created_at, self.tz)
            started = job.started_at if job.started_at is not None else job.created_at
            generation = Generation(
                mode=job.mode.value,
                succeeded=outcome.status is JobStatus.SUCCEEDED,
                provider=outcome.provider or failed_provider,
                cost_units=outcome.cost_units,
                tier=job.tier,
                time_to_result=outcome.finished_at - job.created_at,
                queue_wait=max(started - job.created_at, 0.0),
                first_of_day=self._first_of_day(job, day),
            )
            self.store.add(day.label, day.start, generation_counts(generation))
        except Exception:
            log.warning("analytics: a finished job was not counted", exc_info=True)

    def text_finished(
        self, caller: Caller | None, provider: str | None, succeeded: bool, cost: float, started: float, cached: bool
    ) -> None:
        """A text request answered (or refused by its providers): summed with the next flush."""
        try:
            day = period("day", started, self.tz)
            tier = caller.tier if caller is not None else "anonymous"
            if caller is not None and caller.user_id is not None:
                self._mark(day, caller.key, kind_of(caller.user_id, tier))
            generation = Generation(
                mode="text",
                succeeded=succeeded,
                provider=provider,
                cost_units=cost,
                tier=tier,
                time_to_result=self.clock.now() - started,
                cached=cached,
            )
            self._add_later(day.label, day.start, generation_counts(generation))
        except Exception:
            log.warning("analytics: a text request was not counted", exc_info=True)

    def event(self, kind: str, page: str, caller: Caller, fingerprint: str) -> None:
        """A site event (``kind`` from ``EVENT_TYPES``): the visitor's mark, and counters summed in memory."""
        now = self.clock.now()
        day = period("day", now, self.tz)
        key = caller.key if caller.user_id is not None else f"net:{fingerprint}"
        self._mark(day, key, kind_of(caller.user_id, caller.tier))
        self._add_later(day.label, day.start, event_counts(kind, page_name(page, self.pages)))

    def _add_later(self, label: str, start: float, counts: dict[str, float]) -> None:
        """Sum ``counts`` in memory; write what was summed once ``flush_seconds`` have passed."""
        with self._lock:
            summed = self._buffer.setdefault((label, start), {})
            for name, value in counts.items():
                summed[name] = summed.get(name, 0.0) + value
            due = self.clock.now() - self._flushed_at >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the events summed so far: one write per day; what fails stays for the next flush."""
        with self._lock:
            pending, self._buffer = self._buffer, {}
            self._flushed_at = self.clock.now()
        for (label, start), counts in pending.items():
            try:
                self.store.add(label, start, counts)
            except Exception:
                log.warning("analytics: events kept for the next flush", exc_info=True)
                with self._lock:
                    kept = self._buffer.setdefault((label, start), {})
                    for name, value in counts.items():
                        kept[name] = kept.get(name, 0.0) + value

    # -- the report ------------------------------------------------------------------------

    def report(self, days: int) -> AnalyticsReport:
        """The last ``days`` calendar days (today included) in ``BUDGET_TIMEZONE``."""
        self.flush()
        periods = [period("day", self.clock.now(), self.tz)]
        while len(periods) < days:
            periods.append(period("day", periods[-1].start - 1.0, self.tz))
        periods.reverse()
        start, end = periods[0].start, periods[-1].end
        counters = self.store.counters(start, end)
        rows = [(p.label, counters.get(p.label, {}), self.store.visitors(p.label)) for p in periods]
        return build_report((start, end), rows, self.store.users(self.tiers, start, end))
