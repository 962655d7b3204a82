"""Jobs on Firestore: one document per job, which is also the usage record.

Document ``jobs/{id}`` holds every ``Job`` field, plus ``queue_key`` (the rank fixed at submit,
``shared.domain.queue_rank``, and the id packed into one string that sorts in queue order, so queue
position is ONE ``count()`` and the claim query needs one composite index) ``expire_at`` (a Timestamp for the TTL
policy; the exact float is kept as ``expire_at_seconds``) and ``running`` (1 while running, else
0), so ``counts()`` is one aggregation: ``count()`` and ``sum(running)`` of the active jobs.

No transactions. Every change of a job is a compare-and-set on the document's update time:
claims try the first queued candidates in order and take the first whose CAS wins, so any
number of workers get distinct jobs. A worker remembers the update time of its own last write
to a held job, so renewing and finishing cost one write and no read while nobody else touched
the job (a cancel or a lease sweep makes the CAS fail, then it re-reads and checks).

Queue position without a read: a submit's admission reads ``counts()`` just before the job is
created. When that read saw no queued job, and this instance created exactly one job since, less
than ``EMPTY_QUEUE_SECONDS`` ago, that job's position is 0: nothing was queued ahead of it but
what another instance queued in that instant (a job put back in the queue here drops this too).

A job deferred for rate limits stays queued with ``not_before``; a claim that meets one at the
head of the queue looks past it with two queries (``_ready``), so undeferred claims cost as before.

An ``Idempotency-Key`` is a document ``idempotency/{sha256(owner, key)}`` created in the same
batch as the job, with ``exists=False``: the second submit's batch fails and it returns the
job the first one made.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.domain import JobStatus, Mode
from shared.stores.base import Contention, Job, Outcome, Removed
from shared.stores.firestore.db import MAX_ROUNDS, FirestoreDb, doc_id, timestamp

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, DocumentSnapshot

EMPTY_QUEUE_SECONDS = 2.0  # how long counts() seeing an empty queue answers position() (LOAD_CACHE_SECONDS)
CANDIDATES = 5  # queued jobs a claim looks at per query once it lost a race (the first query reads one)
_FIELDS = [f.name for f in dataclasses.fields(Job)]
_LOST = {"error_type": "worker_lost", "message": "The job was interrupted too many times."}
_NOT_HELD = {"lease_owner": None, "lease_expires_at": None, "running": 0}


def _sortable(value: float) -> str:
    """Hex of a float's bits, arranged so that strings sort as the numbers do."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", float(value)))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


def queue_key(job: Job) -> str:
    """Queue order (rank, then id) as one sortable string. Keys written before ranks existed
    (``8000000p|time|id``) sort before every rank: those older jobs drain first."""
    return f"{_sortable(job.ordering_rank)}|{job.id}"


def _to_doc(job: Job) -> dict[str, Any]:
    data = {name: getattr(job, name) for name in _FIELDS}
    data["mode"], data["status"] = job.mode.value, job.status.value
    data["expire_at_seconds"] = data.pop("expire_at")
    if job.expire_at is not None:
        data["expire_at"] = timestamp(job.expire_at)
    data["queue_key"] = queue_key(job)
    data["rank"] = job.ordering_rank
    data["running"] = int(job.status is JobStatus.RUNNING)
    return data


def _to_job(data: dict[str, Any]) -> Job:
    values = {name: data.get(name) for name in _FIELDS}
    values["mode"], values["status"] = Mode(data["mode"]), JobStatus(data["status"])
    values["expire_at"] = data.get("expire_at_seconds")
    values["attempts"] = int(data.get("attempts") or 0)
    values["cost_units"] = data.get("cost_units") or 0.0
    return Job(**values)


class FirestoreJobStore:
    def __init__(self, db: FirestoreDb) -> None:
        self.db = db
        self._held: OrderedDict[str, tuple[str, datetime]] = OrderedDict()  # job -> (worker, update time)
        self._lock = threading.Lock()
        self._empty: tuple[float, str | None] | None = None  # (when counts() saw no queued job, the job created since)

    def _created(self, job_id: str) -> None:
        with self._lock:
            if self._empty is not None:
                seen, first = self._empty
                self._empty = (seen, job_id) if first is None else None

    def _ref(self, job_id: str) -> DocumentReference:
        return self.db.collection("jobs").document(doc_id(job_id))

    def _marker(self, owner: str, key: str) -> DocumentReference:
        return self.db.collection("idempotency").document(hashlib.sha256(f"{owner}\0{key}".encode()).hexdigest())

    def _where(self, *conditions: tuple[str, str, Any]) -> Any:
        from google.cloud.firestore import FieldFilter

        query: Any = self.db.collection("jobs")
        for field, op, value in conditions:
            query = query.where(filter=FieldFilter(field, op, value))
        return query

    # -- submit and read -----------------------------------------------------------------

    def create(self, job: Job) -> tuple[Job, bool]:
        if job.idempotency_key is None:
            if self.db.create(self._ref(job.id), _to_doc(job)) is None:
                existing = self.get(job.id)
                if existing is None:  # deleted meanwhile
                    raise Contention("this job id")
                return existing, False
            self._created(job.id)
            return job, True
        marker = self._marker(job.owner, job.idempotency_key)
        claim: dict[str, Any] = {"job_id": job.id, "owner": job.owner}
        if job.expire_at is not None:  # expire_at (TTL) is not indexed; the cleanup queries the float
            claim["expire_at"], claim["expire_at_seconds"] = timestamp(job.expire_at), float(job.expire_at)
        for _ in range(MAX_ROUNDS):
            if self.db.create_all([(marker, claim), (self._ref(job.id), _to_doc(job))]):
                self._created(job.id)
                return job, True
            snap = self.db.get(marker)
            first = self.get(snap.get("job_id")) if snap.exists else None
            if first is not None:
                return first, False
            if snap.exists:  # the first job expired before its key: the key is free again
                self.db.delete(marker, since=snap.update_time)
        raise Contention("this idempotency key")

    def get(self, job_id: str) -> Job | None:
        snap = self.db.get(self._ref(job_id))
        data = snap.to_dict()
        return _to_job(data) if data else None

    def list_for_owner(self, owner: str, limit: int) -> list[Job]:
        from google.cloud.firestore import Query

        query = self._where(("owner", "==", owner)).order_by("created_at", direction=Query.DESCENDING).limit(limit)
        return [_to_job(snap.to_dict() or {}) for snap in self.db.query(query)]

    def position(self, job: Job) -> int:
        with self._lock:
            empty = self._empty
        if empty is not None and empty[1] == job.id and time.monotonic() - empty[0] < EMPTY_QUEUE_SECONDS:
            return 0  # the queue was empty just before this instance created this job
        return self.db.count(self._where(("status", "==", "queued"), ("queue_key", "<", queue_key(job))))

    def counts(self) -> tuple[int, int]:
        active, running = self.db.count_and_sum(self._where(("status", "in", ["queued", "running"])), "running")
        queued = active - int(running)
        with self._lock:
            self._empty = (time.monotonic(), None) if queued == 0 else None
        return queued, int(running)

    def recent_durations(self, mode: Mode, limit: int) -> list[float]:
        from google.cloud.firestore import Query

        query = (
            self._where(("mode", "==", mode.value), ("status", "==", "succeeded"))
            .order_by("finished_at", direction=Query.DESCENDING)
            .limit(limit)
        )
        durations = []
        for snap in self.db.query(query):
            data = snap.to_dict() or {}
            if data.get("started_at") is not None and data.get("finished_at") is not None:
                durations.append(max(float(data["finished_at"]) - float(data["started_at"]), 0.0))
        return durations

    # -- claims --------------------------------------------------------------------------

    def _remember(self, job_id: str, worker: str, update_time: datetime) -> None:
        with self._lock:
            self._held[job_id] = (worker, update_time)
            self._held.move_to_end(job_id)
            while len(self._held) > 4096:
                self._held.popitem(last=False)

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._held.pop(job_id, None)

    def _take(self, snap: DocumentSnapshot, worker: str, now: float, lease_seconds: float) -> Job | None:
        """Compare-and-set one queued job to running for ``worker``; None if it lost."""
        data = snap.to_dict()
        if not data or data.get("status") != "queued" or (data.get("not_before") or now) > now:
            return None  # taken, or deferred past now
        changes = {
            "status": "running",
            "lease_owner": worker,
            "lease_expires_at": now + lease_seconds,
            "attempts": int(data.get("attempts") or 0) + 1,
            "started_at": now,
            "running": 1,
            "not_before": None,
        }
        written = self.db.update(snap.reference, changes, since=snap.update_time)
        if written is None:
            return None
        job = _to_job({**data, **changes})
        self._remember(job.id, worker, written.update_time)
        return job

    def claim_next(self, worker: str, now: float, lease_seconds: float) -> Job | None:
        for round_ in range(MAX_ROUNDS):
            # One read when nobody races us; a lost race looks at more candidates.
            limit = CANDIDATES if round_ else 1
            query = self._where(("status", "==", "queued")).order_by("queue_key").limit(limit)
            candidates = self.db.query(query)
            if any(((snap.to_dict() or {}).get("not_before") or now) > now for snap in candidates):
                candidates = self._ready(now)  # deferred jobs ahead: only then the two queries below
            for snap in candidates:
                job = self._take(snap, worker, now, lease_seconds)
                if job is not None:
                    return job
            if not candidates:
                return None
        raise Contention("the job queue")

    def _ready(self, now: float) -> list[DocumentSnapshot]:
        """Queued jobs that may run now (never deferred, or due: earliest first), in queue order."""
        fresh = self._where(("status", "==", "queued"), ("not_before", "==", None))
        due = self._where(("status", "==", "queued"), ("not_before", "<=", now)).order_by("not_before")
        found = self.db.query(fresh.order_by("queue_key").limit(CANDIDATES)) + self.db.query(due.limit(CANDIDATES))
        return sorted(found, key=lambda snap: str(snap.get("queue_key")))

    def take_budget(self, job_id: str) -> dict[str, Any] | None:
        ref = self._ref(job_id)
        for _ in range(MAX_ROUNDS):
            snap = self.db.get(ref)
            budget = (snap.to_dict() or {}).get("budget")
            if not budget:
                return None
            if self.db.update(ref, {"budget": None}, since=snap.update_time) is not None:
                return dict(budget)
        raise Contention("this job")

    def queued(self, limit: int) -> list[Job]:
        query = self._where(("status", "==", "queued")).order_by("queue_key").limit(limit)
        return [_to_job(snap.to_dict() or {}) for snap in self.db.query(query)]

    def claim(self, job_id: str, worker: str, now: float, lease_seconds: float) -> Job | None:
        for _ in range(MAX_ROUNDS):
            snap = self.db.get(self._ref(job_id))
            data = snap.to_dict() or {}
            if data.get("status") != "queued" or (data.get("not_before") or now) > now:
                return None
            job = self._take(snap, worker, now, lease_seconds)
            if job is not None:
                return job
        raise Contention("this job")

    # -- the holder's writes -------------------------------------------------------------

    def _held_update(self, job_id: str, worker: str, changes: dict[str, Any], done: bool = False) -> bool:
        """Apply ``changes`` if ``worker`` still holds the job (status running, its lease)."""
        ref = self._ref(job_id)
        with self._lock:
            hint = self._held.get(job_id)
        written = None
        if hint is not None and hint[0] == worker:  # unchanged since our own last write: still ours
            written = self.db.update(ref, changes, since=hint[1])
        for _ in range(MAX_ROUNDS):
            if written is not None:
                if done:
                    self._forget(job_id)
                else:
                    self._remember(job_id, worker, written.update_time)
                return True
            snap = self.db.get(ref)
            data = snap.to_dict()
            if not data or data.get("status") != "running" or data.get("lease_owner") != worker:
                self._forget(job_id)
                return False
            written = self.db.update(ref, changes, since=snap.update_time)
        raise Contention("this job")

    def renew(self, job_id: str, worker: str, now: float, lease_seconds: float) -> bool:
        return self._held_update(job_id, worker, {"lease_expires_at": now + lease_seconds})

    def set_vendor_task(self, job_id: str, worker: str, vendor_task_id: str, provider: str) -> bool:
        return self._held_update(job_id, worker, {"vendor_task_id": vendor_task_id, "provider": provider})

    def finish(self, job_id: str, worker: str, outcome: Outcome) -> bool:
        changes: dict[str, Any] = {
            "status": outcome.status.value,
            "finished_at": outcome.finished_at,
            "result": outcome.result,
            "error": outcome.error,
            "cost_units": outcome.cost_units,
            **_NOT_HELD,
        }
        if outcome.provider is not None:
            changes["provider"] = outcome.provider
        if outcome.model is not None:
            changes["model"] = outcome.model
        return self._held_update(job_id, worker, changes, done=True)

    def defer(self, job: Job, worker: str, now: float, not_before: float) -> bool:
        with self._lock:
            self._empty = None  # back in the queue
        changes: dict[str, Any] = {"status": "queued", **_NOT_HELD, "started_at": None, "budget": None}
        changes["attempts"] = max(job.attempts - 1, 0)  # the holder's count: nobody else changes it while held
        changes.update(not_before=not_before, deferred=job.deferred + max(not_before - now, 0.0))
        return self._held_update(job.id, worker, changes, done=True)

    def release(self, job_id: str, worker: str) -> bool:
        with self._lock:
            self._empty = None  # back in the queue
        return self._held_update(job_id, worker, {"status": "queued", **_NOT_HELD}, done=True)

    # -- everyone else's writes ----------------------------------------------------------

    def _change(
        self, snap: DocumentSnapshot, decide: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """CAS ``decide(data)``'s changes onto the job, re-reading on conflict; the job's data
        afterwards, or None when ``decide`` finds nothing to change."""
        for _ in range(MAX_ROUNDS):
            data = snap.to_dict()
            changes = decide(data) if data else None
            if changes is None:
                return None
            if self.db.update(snap.reference, changes, since=snap.update_time) is not None:
                return {**(data or {}), **changes}
            snap = self.db.get(snap.reference)
        raise Contention("this job")

    def cancel(self, job_id: str, now: float) -> Job | None:
        snap = self.db.get(self._ref(job_id))
        if not snap.exists:
            return None
        changes = {"status": "canceled", "finished_at": now, **_NOT_HELD}

        def stop(data: dict[str, Any]) -> dict[str, Any] | None:
            return changes if data.get("status") in ("queued", "running") else None

        after = self._change(snap, stop)
        if after is not None:
            return _to_job(after)
        return self.get(job_id)

    def requeue_expired(self, now: float, max_attempts: int) -> int:
        def back(data: dict[str, Any]) -> dict[str, Any] | None:
            expires = data.get("lease_expires_at")
            if data.get("status") != "running" or expires is None or expires >= now:
                return None
            if int(data.get("attempts") or 0) >= max_attempts:
                return {"status": "failed", "finished_at": now, "error": _LOST, **_NOT_HELD}
            return {"status": "queued", **_NOT_HELD}

        expired = self._where(("status", "==", "running"), ("lease_expires_at", "<", now))
        with self._lock:
            self._empty = None  # some may go back in the queue
        return sum(self._change(snap, back) is not None for snap in self.db.query(expired))

    # -- retention -----------------------------------------------------------------------

    def expired(self, before: float, limit: int) -> list[Job]:
        query = self._where(("created_at", "<", before)).order_by("created_at").limit(limit)
        return [_to_job(snap.to_dict() or {}) for snap in self.db.query(query)]

    def delete(self, jobs: Sequence[Job]) -> Removed:
        """One batch with an ``exists`` precondition per job (one delete each when another caller
        got some first), then the markers of the jobs this call deleted."""
        done = self.db.delete_all([self._ref(job.id) for job in jobs])
        gone = [job for job, deleted in zip(jobs, done, strict=True) if deleted]
        for job in gone:
            self._forget(job.id)
        keyed = [self._marker(job.owner, job.idempotency_key) for job in gone if job.idempotency_key is not None]
        return Removed([job.id for job in gone], sum(self.db.delete_all(keyed)))

    def purge_markers(self, before: float, limit: int) -> int:
        from google.cloud.firestore import FieldFilter

        stale = (
            self.db.collection("idempotency")
            .where(filter=FieldFilter("expire_at_seconds", "<", before))
            .order_by("expire_at_seconds")
            .limit(limit)
        )
        return sum(self.db.delete_all([snap.reference for snap in self.db.query(stale)]))
