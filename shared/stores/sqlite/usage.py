"""Usage on SQLite: text requests in ``usage``; media jobs read from ``jobs`` (their own record)."""

from __future__ import annotations

import sqlite3

from shared.domain import Mode
from shared.stores.base import UsageRecord
from shared.stores.sqlite.db import SqliteDatabase
from shared.stores.sqlite.jobs import _row_to_job
from shared.stores.usage_pages import Cursor, job_usage, merge_page

_COLUMNS = "id owner at mode provider model duration cost_units quantity cached".split()
_AFTER = "AND ({at} < :at OR ({at} = :at AND id < :id))"


def _record(row: sqlite3.Row) -> UsageRecord:
    data = dict(row)
    return UsageRecord(**{**data, "mode": Mode(data["mode"]), "cached": bool(data["cached"])})


class SqliteUsageStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def record(self, usage: UsageRecord) -> None:
        values = [getattr(usage, name) for name in _COLUMNS]
        values[3] = usage.mode.value
        with self.db.write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO usage ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
                values,
            )

    def _rows(
        self, table: str, at: str, owner: str, start: float, end: float, before: Cursor | None, limit: int
    ) -> list[sqlite3.Row]:
        after = _AFTER.format(at=at) if before is not None else ""
        params = {"owner": owner, "start": start, "end": end, "limit": limit}
        if before is not None:
            params.update(at=before[0], id=before[1])
        sql = (
            f"SELECT * FROM {table} WHERE owner = :owner AND {at} >= :start AND {at} < :end {after} "
            f"ORDER BY {at} DESC, id DESC LIMIT :limit"
        )
        return self.db.conn.execute(sql, params).fetchall()

    def page(
        self, owner: str, start: float, end: float, before: Cursor | None, limit: int
    ) -> tuple[list[UsageRecord], Cursor | None]:
        texts = [_record(r) for r in self._rows("usage", "at", owner, start, end, before, limit)]
        jobs = [_row_to_job(r) for r in self._rows("jobs", "created_at", owner, start, end, before, limit)]
        job_records = [u for u in (job_usage(j) for j in jobs) if u is not None]
        text_last = (texts[-1].at, texts[-1].id) if len(texts) == limit else None
        job_last = (jobs[-1].created_at, jobs[-1].id) if len(jobs) == limit else None
        return merge_page([(texts, text_last), (job_records, job_last)], limit)

    def totals(self, owner: str, start: float, end: float) -> dict[Mode, tuple[int, float]]:
        found: dict[Mode, tuple[int, float]] = {}
        texts = self.db.conn.execute(
            "SELECT mode, COUNT(*), TOTAL(cost_units) FROM usage WHERE owner = ? AND at >= ? AND at < ? GROUP BY mode",
            (owner, start, end),
        ).fetchall()
        jobs = self.db.conn.execute(
            "SELECT mode, COUNT(*), TOTAL(cost_units) FROM jobs WHERE owner = ? AND created_at >= ? AND created_at < ? "
            "AND provider IS NOT NULL AND status = 'succeeded' GROUP BY mode",
            (owner, start, end),
        ).fetchall()
        for mode, count, cost in [*texts, *jobs]:
            before = found.get(Mode(mode), (0, 0.0))
            found[Mode(mode)] = (before[0] + int(count), before[1] + float(cost))
        return found

    def purge(self, before: float, limit: int | None = None) -> int:
        with self.db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM usage WHERE id IN (SELECT id FROM usage WHERE at < ? ORDER BY at LIMIT ?)",
                (before, -1 if limit is None else limit),
            )
        return cursor.rowcount
