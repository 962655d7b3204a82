"""Store interfaces, one per aggregate. Implementations never read the clock: ``now`` is passed in.

Every store raises ``Contention`` (nothing changed, try again soon) when it cannot record a change.

The contract suite in ``tests/contract`` runs on every implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.analytics.counters import UserFigures
from shared.analytics.records import AlertRecord, MetricsPoint
from shared.budget.lines import BudgetLine, BudgetUsage, Reservation
from shared.domain import Contention, Job, Mode, Outcome, UnreadableKey
from shared.ratelimit.abuse import AbuseRule
from shared.ratelimit.bucket import Decision, Policy

__all__ = [
    "AlertRecord",
    "AlertStore",
    "AnalyticsStore",
    "MetricsPoint",
    "MetricsStore",
    "UserFigures",
    "BreakerState",
    "BudgetLine",
    "BudgetStore",
    "BudgetUsage",
    "CacheStore",
    "Contention",
    "Job",
    "JobStore",
    "LimiterStore",
    "Outcome",
    "ProviderStateStore",
    "Removed",
    "Reservation",
    "StoredKey",
    "UnreadableKey",
    "USER_FIELDS",
    "UsageRecord",
    "UsageStore",
    "UserKeyStore",
    "UserRecord",
    "UserStore",
]


@dataclass(frozen=True)
class Removed:
    """What one ``JobStore.delete`` call deleted."""

    jobs: list[str]  # ids of the jobs this call deleted (a concurrent caller gets the others)
    markers: int = 0  # idempotency markers deleted with them


class JobStore(Protocol):
    def create(self, job: Job) -> tuple[Job, bool]:
        """Insert ``job``. With an idempotency key already used by the same owner, or an id
        already taken (ids derived from identical submits), return that job instead and ``False``."""

    def get(self, job_id: str) -> Job | None: ...

    def list_for_owner(self, owner: str, limit: int) -> list[Job]: ...

    def position(self, job: Job) -> int:
        """Queued jobs ahead of ``job`` (priority, then submit time); 0 = next."""

    def counts(self) -> tuple[int, int]:
        """(queued, running)."""

    def claim_next(self, worker: str, now: float, lease_seconds: float) -> Job | None:
        """Atomically take the first queued job not deferred past ``now``; exactly one caller gets each job."""

    def claim(self, job_id: str, worker: str, now: float, lease_seconds: float) -> Job | None:
        """Atomically take this job if it is queued (and not deferred past ``now``)."""

    def renew(self, job_id: str, worker: str, now: float, lease_seconds: float) -> bool: ...

    def set_vendor_task(self, job_id: str, worker: str, vendor_task_id: str, provider: str) -> bool: ...

    def finish(self, job_id: str, worker: str, outcome: Outcome) -> bool:
        """Record the outcome if ``worker`` still holds the job; else ``False``."""

    def release(self, job_id: str, worker: str) -> bool:
        """Give a held job back to the queue (graceful shutdown); the attempt stays counted."""

    def defer(self, job: Job, worker: str, now: float, not_before: float) -> bool:
        """Give a held job back to the queue until ``not_before`` (rate limits, ``shared.jobs.runner``):
        it keeps its rank and vendor task, is not claimed before then, its attempt is not counted,
        ``deferred`` grows by the wait, and its budget reservation is dropped (the runner released
        it). ``job`` is the job as ``worker`` claimed it. False if ``worker`` no longer holds it."""

    def cancel(self, job_id: str, now: float) -> Job | None:
        """Cancel a queued or running job; return it as it is afterwards (None if unknown)."""

    def requeue_expired(self, now: float, max_attempts: int) -> int:
        """Jobs whose lease expired go back to the queue, or fail past ``max_attempts``."""

    def recent_durations(self, mode: Mode, limit: int) -> list[float]: ...

    def queued(self, limit: int) -> list[Job]:
        """The first ``limit`` queued jobs in queue order, without claiming them (re-dispatch)."""

    def take_budget(self, job_id: str) -> dict[str, Any] | None:
        """Remove the job's budget reservation (``Job.budget``) and return it: exactly one caller
        gets it, however many ask at once (releasing a canceled job's reservation once)."""

    # -- retention (shared.services.cleanup) ---------------------------------------------

    def expired(self, before: float, limit: int) -> list[Job]:
        """Up to ``limit`` jobs created before ``before``, oldest first, whatever their status."""

    def delete(self, jobs: Sequence[Job]) -> Removed:
        """Delete these jobs and their idempotency markers. Each job is reported deleted by exactly
        one caller, however many delete it at once; one already gone is skipped."""

    def purge_markers(self, before: float, limit: int) -> int:
        """Delete up to ``limit`` idempotency markers that expired before ``before`` (leftovers of
        jobs deleted without them); 0 where markers live in the job itself."""


class LimiterStore(Protocol):
    """Limiter state. Each call is one atomic decide-and-record step in the store."""

    def acquire(self, key: str, now: float, policy: Policy) -> Decision:
        """Run ``shared.ratelimit.bucket.decide`` on the stored state and keep the result."""

    def blocked_until(self, ip: str, now: float, bucket: str | None = None) -> float | None:
        """End of the address's current block, or None. ``bucket``: the key this thread's next
        ``acquire`` asks for; a store may read that bucket in the same round trip (Firestore:
        one query for both documents, one read when only one exists)."""

    def record_refusal(self, ip: str, now: float, rule: AbuseRule) -> float | None:
        """Count a refusal (``shared.ratelimit.abuse.record_refusal``); return the end of a
        block this refusal started, else None."""

    def purge(self, before: float, limit: int | None = None) -> int:
        """Delete limiter and abuse state untouched since ``before`` (stale callers); at most
        ``limit`` entries when given. Each entry is counted by the one caller that deleted it."""


@dataclass(frozen=True)
class UserRecord:
    id: str
    tier: str = "registered"
    limit_override: int | None = None
    text_limit_override: int | None = None
    email: str | None = None
    budget_override: float | None = None  # the user's own monthly spend cap (cost units); None = the tier's
    tier_expires_at: float | None = None  # a paid tier's end; then the tier counts as "registered"
    created_at: float | None = None  # first sign-in
    last_active: float | None = None  # written at most once a day
    signed_out_at: float | None = None  # sessions and tokens issued before it no longer count


# What ``UserStore.update`` may change (never the id).
USER_FIELDS = frozenset(UserRecord.__dataclass_fields__) - {"id"}


class UserStore(Protocol):
    def get(self, user_id: str) -> UserRecord | None: ...

    def put(self, user: UserRecord) -> None:
        """Write the whole record (made or replaced)."""

    def create(self, user: UserRecord) -> UserRecord:
        """Store ``user`` unless a record with its id exists; return the stored record."""

    def update(self, user_id: str, changes: dict[str, Any]) -> bool:
        """Set only these fields (of ``USER_FIELDS``) of an existing record, in one write; False if
        there is none. Concurrent updates of other fields are kept."""

    def ids(self, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` user ids in id order, after ``after`` (the admin's billing run pages them)."""


@dataclass(frozen=True)
class UsageRecord:
    """One generation served to a caller. A media job's record IS its job (read from the jobs);
    text requests are stored as usage records of their own."""

    id: str
    owner: str  # the caller's key: user:<uid>
    at: float  # when it was asked for (a job: its submit time)
    mode: Mode
    provider: str
    model: str
    duration: float  # seconds it took
    cost_units: float  # what it cost, per the price table when it ran (0: the user's own key, or cached)
    quantity: float  # what is priced: images (1), video seconds, text tokens
    cached: bool = False  # a text answer from the response cache


class UsageStore(Protocol):
    """Every generation of a caller, newest first, a month at a time (``[start, end)``)."""

    def record(self, usage: UsageRecord) -> None:
        """Store a text request's usage (one write). Media jobs are recorded by the job store."""

    def page(
        self, owner: str, start: float, end: float, before: tuple[float, str] | None, limit: int
    ) -> tuple[list[UsageRecord], tuple[float, str] | None]:
        """Up to ``limit`` records (text requests and succeeded jobs) newest first, after the
        cursor ``before`` (``(at, id)`` of the last record of the previous page); and the cursor
        of the next page, None on the last."""

    def totals(self, owner: str, start: float, end: float) -> dict[Mode, tuple[int, float]]:
        """Per mode: how many generations and their cost units (indexed aggregations)."""

    def purge(self, before: float, limit: int | None = None) -> int:
        """Delete text usage records from before ``before``; at most ``limit``."""


@dataclass(frozen=True)
class BreakerState:
    """A provider's circuit breaker as every instance sees it.

    Closed while ``opened_until`` is None; open until then; half-open after, when one caller
    at a time may probe (``probe_until`` is that probe's lease).
    """

    provider: str
    failures: int = 0
    opened_until: float | None = None
    probe_until: float | None = None

    def state(self, now: float) -> str:
        if self.opened_until is None:
            return "closed"
        return "open" if now < self.opened_until else "half_open"


class ProviderStateStore(Protocol):
    """Provider health shared by all instances. Each call is one atomic step."""

    def breakers(self) -> dict[str, BreakerState]:
        """Every provider with a non-closed or failing breaker (absent = closed, no failures)."""

    def record_failure(self, provider: str, now: float, threshold: int, open_seconds: float) -> BreakerState:
        """Count a failure; open (or re-open, after a failed probe) once ``threshold`` is reached."""

    def record_success(self, provider: str) -> None:
        """Close the breaker and forget failures."""

    def try_probe(self, provider: str, now: float, probe_seconds: float) -> bool:
        """In half-open state, let exactly one caller probe until ``now + probe_seconds``."""


@dataclass(frozen=True)
class StoredKey:
    """What may be shown of a stored user key: which provider, and its last 4 characters."""

    provider: str
    hint: str
    updated_at: float


class UserKeyStore(Protocol):
    """Users' own provider keys (BYOK), encrypted at rest; plaintext only in and out of these calls."""

    def keys_for(self, user_id: str) -> dict[str, str]:
        """Every provider -> key the user stored (one store read). Raises ``UnreadableKey``."""

    def get_key(self, user_id: str, provider: str) -> str | None: ...

    def list_keys(self, user_id: str) -> list[StoredKey]:
        """What the user may see: never the key itself."""

    def put_key(self, user_id: str, provider: str, key: str, now: float) -> None: ...

    def delete_key(self, user_id: str, provider: str) -> bool:
        """Forget the key; False if there was none."""


class CacheStore(Protocol):
    """Answers kept for a while under a key (a SHA-256 of the canonical request)."""

    def get(self, key: str, now: float) -> dict[str, Any] | None:
        """The value stored under ``key`` unless it expired by ``now``."""

    def put(self, key: str, value: dict[str, Any], expire_at: float) -> None: ...

    def purge(self, before: float, limit: int | None = None) -> int:
        """Delete entries that expired before ``before``; at most ``limit`` when given."""


class BudgetStore(Protocol):
    """Spend budgets (``shared.budget``). A reservation is all-or-nothing across its lines and never
    lets reserved + spent pass a line's cap, whatever the concurrency, across instances.

    Implementations may hold budget leased to this instance (Firestore): ``flush`` hands it back.
    Callers settle each reservation once (a job's by whoever finishes or cancels it); settling
    again is a no-op on the same store instance (and on SQLite across instances).
    """

    def reserve(self, reservation: Reservation, now: float) -> BudgetLine | None:
        """Reserve ``reservation.units`` on every one of its lines, or on none of them: None when
        done, else the first line without room."""

    def settle(self, reservation: Reservation, spent: float, now: float) -> bool:
        """Turn the reservation into ``spent`` units (at most its units); the rest is given back.
        ``spent`` 0 releases it. False when it was already settled."""

    def usage(self, lines: Sequence[BudgetLine]) -> dict[str, BudgetUsage]:
        """The counters of these budgets, by key (budgets nothing touched yet are absent)."""

    def flush(self) -> None:
        """Hand back budget leased to this instance and report its settled spend (shutdown)."""


class AnalyticsStore(Protocol):
    """Daily counters and distinct visitors per day (``shared.services.analytics``): never a scan."""

    def add(self, day: str, start: float, counts: Mapping[str, float]) -> None:
        """Add ``counts`` to the counters of ``day`` (which began at ``start``): ONE atomic write."""

    def mark_visitor(self, day: str, start: float, visitor: str, kind: str) -> bool:
        """Note ``visitor`` (of ``kind``) active on ``day``, at most once: True if this call did."""

    def earlier_job(self, owner: str, since: float, job: Job) -> bool:
        """Whether ``owner`` has another job created in ``[since, job.created_at)`` (one indexed read)."""

    def counters(self, since: float, until: float) -> dict[str, dict[str, float]]:
        """The counters of each day that began in ``[since, until)``, summed (days without any are absent)."""

    def visitors(self, day: str) -> dict[str, int]:
        """Distinct visitors active on ``day`` per kind (an aggregation)."""

    def users(self, tiers: Sequence[str], since: float, until: float) -> UserFigures:
        """User records per tier, and those created in ``[since, until)`` (aggregations)."""

    def purge(self, before: float, limit: int | None = None) -> int:
        """Delete counters and visitor marks of days that began before ``before``; at most ``limit``."""


class MetricsStore(Protocol):
    """The metrics history: points of each instance and of the deployment."""

    def add(self, point: MetricsPoint) -> None: ...

    def points(self, since: float, limit: int) -> list[MetricsPoint]:
        """Points recorded at or after ``since``, oldest first, at most ``limit`` (the newest ones)."""

    def recent_jobs(self, since: float, limit: int) -> list[Job]:
        """Up to ``limit`` jobs finished at or after ``since``, the latest first."""

    def purge(self, before: float, limit: int | None = None) -> int: ...


class AlertStore(Protocol):
    """Alerts and their history. A rule has at most one open alert, whoever evaluates at once."""

    def open(self, alert: AlertRecord) -> bool:
        """Store ``alert`` as its rule's open alert; False (nothing stored) when one is open already."""

    def close(self, rule: str, at: float, value: float) -> AlertRecord | None:
        """Close the rule's open alert: exactly one caller gets it back; None when none was open."""

    def list(self, open_only: bool, limit: int) -> list[AlertRecord]:
        """Alerts newest first (by opening time)."""

    def purge(self, before: float, limit: int | None = None) -> int:
        """Delete alerts closed before ``before``."""
