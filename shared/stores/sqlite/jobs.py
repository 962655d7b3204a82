"""Jobs on SQLite. Claims are single ``UPDATE ... RETURNING`` statements: exactly-once."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from shared.domain import JobStatus, Mode
from shared.stores.base import Job, Outcome, Removed
from shared.stores.sqlite.db import SqliteDatabase

_JSON_FIELDS = ("params", "result", "error", "budget")
_COLUMNS = (
    "id owner tier priority mode status params created_at input_key idempotency_key attempts "
    "lease_owner lease_expires_at started_at finished_at provider model vendor_task_id result "
    "error cost_units expire_at budget rank not_before deferred"
).split()
_INSERT = f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
_CLAIM_SET = (
    "status = 'running', lease_owner = :worker, lease_expires_at = :expires, attempts = attempts + 1, "
    "started_at = :now, not_before = NULL"
)
_READY = "status = 'queued' AND (not_before IS NULL OR not_before <= :now)"  # claimable: not deferred past now


def _row_to_job(row: sqlite3.Row) -> Job:
    data: dict[str, Any] = dict(row)
    data.pop("extra", None)  # an unused column of schema 1
    for name in _JSON_FIELDS:
        raw = data[name]
        data[name] = json.loads(raw) if raw is not None else None
    data["mode"] = Mode(data["mode"])
    data["status"] = JobStatus(data["status"])
    return Job(**data)


def _job_to_row(job: Job) -> list[Any]:
    values = []
    for name in _COLUMNS:
        value = getattr(job, name)
        if name in _JSON_FIELDS and value is not None:
            value = json.dumps(value)
        elif name in ("mode", "status"):
            value = value.value
        elif name == "rank":
            value = job.ordering_rank
        values.append(value)
    return values


class SqliteJobStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def create(self, job: Job) -> tuple[Job, bool]:
        with self.db.write() as conn:
            if job.idempotency_key is not None:
                row = conn.execute(
                    "SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?",
                    (job.owner, job.idempotency_key),
                ).fetchone()
                if row is not None:
                    return _row_to_job(row), False
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job.id,)).fetchone()
            if row is not None:
                return _row_to_job(row), False
            conn.execute(_INSERT, _job_to_row(job))
        return job, True

    def get(self, job_id: str) -> Job | None:
        row = self.db.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row_to_job(row) if row else None

    def list_for_owner(self, owner: str, limit: int) -> list[Job]:
        rows = self.db.conn.execute(
            "SELECT * FROM jobs WHERE owner = ? ORDER BY created_at DESC LIMIT ?", (owner, limit)
        ).fetchall()
        return [_row_to_job(r) for r in rows]

    def position(self, job: Job) -> int:
        row = self.db.conn.execute(
            "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND (rank < :r OR (rank = :r AND id < :id))",
            {"r": job.ordering_rank, "id": job.id},
        ).fetchone()
        return int(row[0])

    def counts(self) -> tuple[int, int]:
        rows = self.db.conn.execute(
            "SELECT status, COUNT(*) FROM jobs WHERE status IN ('queued', 'running') GROUP BY status"
        ).fetchall()
        found = {r[0]: int(r[1]) for r in rows}
        return found.get("queued", 0), found.get("running", 0)

    def claim_next(self, worker: str, now: float, lease_seconds: float) -> Job | None:
        with self.db.write() as conn:
            row = conn.execute(
                f"UPDATE jobs SET {_CLAIM_SET} WHERE id = (SELECT id FROM jobs WHERE {_READY} "
                "ORDER BY rank, id LIMIT 1) AND status = 'queued' RETURNING *",
                {"worker": worker, "expires": now + lease_seconds, "now": now},
            ).fetchone()
        return _row_to_job(row) if row else None

    def claim(self, job_id: str, worker: str, now: float, lease_seconds: float) -> Job | None:
        with self.db.write() as conn:
            row = conn.execute(
                f"UPDATE jobs SET {_CLAIM_SET} WHERE id = :id AND {_READY} RETURNING *",
                {"worker": worker, "expires": now + lease_seconds, "now": now, "id": job_id},
            ).fetchone()
        return _row_to_job(row) if row else None

    def _held_update(self, job_id: str, worker: str, assignments: str, values: dict[str, Any]) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                f"UPDATE jobs SET {assignments} WHERE id = :id AND status = 'running' AND lease_owner = :worker",
                {"id": job_id, "worker": worker, **values},
            )
            return cursor.rowcount == 1

    def renew(self, job_id: str, worker: str, now: float, lease_seconds: float) -> bool:
        return self._held_update(job_id, worker, "lease_expires_at = :expires", {"expires": now + lease_seconds})

    def set_vendor_task(self, job_id: str, worker: str, vendor_task_id: str, provider: str) -> bool:
        return self._held_update(
            job_id,
            worker,
            "vendor_task_id = :task, provider = :provider",
            {"task": vendor_task_id, "provider": provider},
        )

    def finish(self, job_id: str, worker: str, outcome: Outcome) -> bool:
        return self._held_update(
            job_id,
            worker,
            "status = :status, finished_at = :finished, result = :result, error = :error, "
            "provider = COALESCE(:provider, provider), model = COALESCE(:model, model), "
            "cost_units = :cost, lease_owner = NULL, lease_expires_at = NULL",
            {
                "status": outcome.status.value,
                "finished": outcome.finished_at,
                "result": json.dumps(outcome.result) if outcome.result is not None else None,
                "error": json.dumps(outcome.error) if outcome.error is not None else None,
                "provider": outcome.provider,
                "model": outcome.model,
                "cost": outcome.cost_units,
            },
        )

    def release(self, job_id: str, worker: str) -> bool:
        return self._held_update(job_id, worker, "status = 'queued', lease_owner = NULL, lease_expires_at = NULL", {})

    def defer(self, job: Job, worker: str, now: float, not_before: float) -> bool:
        return self._held_update(
            job.id,
            worker,
            "status = 'queued', lease_owner = NULL, lease_expires_at = NULL, started_at = NULL, budget = NULL, "
            "attempts = MAX(attempts - 1, 0), not_before = :until, deferred = deferred + MAX(:until - :now, 0)",
            {"until": not_before, "now": now},
        )

    def cancel(self, job_id: str, now: float) -> Job | None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'canceled', finished_at = :now, lease_owner = NULL, "
                "lease_expires_at = NULL WHERE id = :id AND status IN ('queued', 'running')",
                {"id": job_id, "now": now},
            )
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row_to_job(row) if row else None

    def requeue_expired(self, now: float, max_attempts: int) -> int:
        lost = json.dumps({"error_type": "worker_lost", "message": "The job was interrupted too many times."})
        with self.db.write() as conn:
            failed = conn.execute(
                "UPDATE jobs SET status = 'failed', finished_at = :now, error = :error, "
                "lease_owner = NULL, lease_expires_at = NULL WHERE status = 'running' "
                "AND lease_expires_at < :now AND attempts >= :max",
                {"now": now, "error": lost, "max": max_attempts},
            ).rowcount
            requeued = conn.execute(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL "
                "WHERE status = 'running' AND lease_expires_at < :now",
                {"now": now},
            ).rowcount
        return failed + requeued

    def recent_durations(self, mode: Mode, limit: int) -> list[float]:
        rows = self.db.conn.execute(
            "SELECT finished_at - started_at FROM jobs WHERE mode = ? AND status = 'succeeded' "
            "AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
            (mode.value, limit),
        ).fetchall()
        return [max(float(r[0]), 0.0) for r in rows]

    def take_budget(self, job_id: str) -> dict[str, Any] | None:
        with self.db.write() as conn:
            row = conn.execute("SELECT budget FROM jobs WHERE id = ? AND budget IS NOT NULL", (job_id,)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE jobs SET budget = NULL WHERE id = ?", (job_id,))
        return dict(json.loads(row[0]))

    def queued(self, limit: int) -> list[Job]:
        rows = self.db.conn.execute(
            "SELECT * FROM jobs WHERE status = 'queued' ORDER BY rank, id LIMIT ?", (limit,)
        ).fetchall()
        return [_row_to_job(r) for r in rows]

    # -- retention -----------------------------------------------------------------------

    def expired(self, before: float, limit: int) -> list[Job]:
        rows = self.db.conn.execute(
            "SELECT * FROM jobs WHERE created_at < ? ORDER BY created_at, id LIMIT ?", (before, limit)
        ).fetchall()
        return [_row_to_job(r) for r in rows]

    def delete(self, jobs: Sequence[Job]) -> Removed:
        """One statement: the rows this call deleted come back (a concurrent delete gets the rest).
        Idempotency keys are columns of the row, so they go with it."""
        ids = [job.id for job in jobs]
        if not ids:
            return Removed([])
        with self.db.write() as conn:
            rows = conn.execute(
                f"DELETE FROM jobs WHERE id IN ({', '.join('?' for _ in ids)}) RETURNING id", ids
            ).fetchall()
        return Removed([r[0] for r in rows])

    def purge_markers(self, before: float, limit: int) -> int:
        return 0  # no separate markers: the key is a column of the job
