"""The metrics history and the alerts on SQLite. A partial unique index keeps one open alert per rule."""

from __future__ import annotations

import json
import sqlite3
import uuid

from shared.analytics.records import AlertRecord, MetricsPoint
from shared.domain import Job
from shared.stores.sqlite.analytics import create_schema
from shared.stores.sqlite.db import SqliteDatabase
from shared.stores.sqlite.jobs import _row_to_job

SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics_points (
    id TEXT PRIMARY KEY, at REAL NOT NULL, source TEXT NOT NULL, figures TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS metrics_points_at ON metrics_points(at);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, state TEXT NOT NULL, opened_at REAL NOT NULL, value REAL NOT NULL,
    threshold REAL NOT NULL, message TEXT NOT NULL, closed_at REAL, closing_value REAL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts(rule) WHERE state = 'open';
CREATE INDEX IF NOT EXISTS alerts_opened ON alerts(opened_at);
CREATE INDEX IF NOT EXISTS alerts_closed ON alerts(closed_at);
"""
_ALERT_COLUMNS = "id rule state opened_at value threshold message closed_at closing_value".split()


def _alert(row: sqlite3.Row) -> AlertRecord:
    return AlertRecord(**{name: row[name] for name in _ALERT_COLUMNS})


class SqliteMetricsStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        create_schema(db, SCHEMA)

    def add(self, point: MetricsPoint) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO metrics_points (id, at, source, figures) VALUES (?, ?, ?, ?)",
                (uuid.uuid4().hex, point.at, point.source, json.dumps(point.values)),
            )

    def points(self, since: float, limit: int) -> list[MetricsPoint]:
        rows = self.db.conn.execute(
            "SELECT at, source, figures FROM metrics_points WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?",
            (since, limit),
        ).fetchall()
        return [MetricsPoint(at, source, json.loads(figures)) for at, source, figures in reversed(rows)]

    def recent_jobs(self, since: float, limit: int) -> list[Job]:
        rows = self.db.conn.execute(
            "SELECT * FROM jobs WHERE finished_at >= ? ORDER BY finished_at DESC LIMIT ?", (since, limit)
        ).fetchall()
        return [_row_to_job(row) for row in rows]

    def purge(self, before: float, limit: int | None = None) -> int:
        with self.db.write() as conn:
            return conn.execute(
                "DELETE FROM metrics_points WHERE id IN (SELECT id FROM metrics_points WHERE at < ? LIMIT ?)",
                (before, -1 if limit is None else limit),
            ).rowcount


class SqliteAlertStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        create_schema(db, SCHEMA)

    def open(self, alert: AlertRecord) -> bool:
        values = [getattr(alert, name) for name in _ALERT_COLUMNS]
        values[2] = "open"
        with self.db.write() as conn:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO alerts ({', '.join(_ALERT_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _ALERT_COLUMNS)})",
                values,
            )
        return cursor.rowcount == 1

    def close(self, rule: str, at: float, value: float) -> AlertRecord | None:
        with self.db.write() as conn:
            row = conn.execute(
                "UPDATE alerts SET state = 'closed', closed_at = ?, closing_value = ? "
                "WHERE rule = ? AND state = 'open' RETURNING *",
                (at, value, rule),
            ).fetchone()
        return _alert(row) if row is not None else None

    def list(self, open_only: bool, limit: int) -> list[AlertRecord]:
        where = "WHERE state = 'open'" if open_only else ""
        rows = self.db.conn.execute(
            f"SELECT * FROM alerts {where} ORDER BY opened_at DESC, id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_alert(row) for row in rows]

    def purge(self, before: float, limit: int | None = None) -> int:
        with self.db.write() as conn:
            return conn.execute(
                "DELETE FROM alerts WHERE id IN "
                "(SELECT id FROM alerts WHERE state = 'closed' AND closed_at < ? LIMIT ?)",
                (before, -1 if limit is None else limit),
            ).rowcount
