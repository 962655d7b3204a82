"""Provider circuit breakers in SQLite, shared by every process on the same database file."""

from __future__ import annotations

import sqlite3

from shared.stores.base import BreakerState
from shared.stores.sqlite.db import SqliteDatabase


def _state(row: sqlite3.Row) -> BreakerState:
    return BreakerState(row["provider"], row["failures"], row["opened_until"], row["probe_until"])


class SqliteProviderStateStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def breakers(self) -> dict[str, BreakerState]:
        rows = self.db.conn.execute("SELECT * FROM provider_breakers").fetchall()
        return {row["provider"]: _state(row) for row in rows}

    def record_failure(self, provider: str, now: float, threshold: int, open_seconds: float) -> BreakerState:
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM provider_breakers WHERE provider = ?", (provider,)).fetchone()
            current = _state(row) if row else BreakerState(provider)
            failures = current.failures + 1
            opened_until = current.opened_until
            if failures >= threshold or current.opened_until is not None:
                opened_until = now + open_seconds
            conn.execute(
                "INSERT INTO provider_breakers (provider, failures, opened_until, probe_until) VALUES (?, ?, ?, NULL) "
                "ON CONFLICT(provider) DO UPDATE SET failures = excluded.failures, "
                "opened_until = excluded.opened_until, probe_until = NULL",
                (provider, failures, opened_until),
            )
        return BreakerState(provider, failures, opened_until, None)

    def record_success(self, provider: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM provider_breakers WHERE provider = ?", (provider,))

    def try_probe(self, provider: str, now: float, probe_seconds: float) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE provider_breakers SET probe_until = ? WHERE provider = ? AND opened_until IS NOT NULL "
                "AND opened_until <= ? AND (probe_until IS NULL OR probe_until <= ?)",
                (now + probe_seconds, provider, now, now),
            )
            return cursor.rowcount == 1
