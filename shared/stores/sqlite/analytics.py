"""Analytics on SQLite: a row per day and counter (upserted increments), a row per visitor and day.

The tables are made here (``CREATE ... IF NOT EXISTS``) rather than in the numbered migrations, so
this store needs nothing from the others' schema history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.analytics.counters import UserFigures
from shared.domain import Job
from shared.stores.sqlite.db import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS analytics_counters (
    day TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, start REAL NOT NULL,
    PRIMARY KEY (day, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS analytics_counters_start ON analytics_counters(start);
CREATE TABLE IF NOT EXISTS analytics_visitors (
    day TEXT NOT NULL, visitor TEXT NOT NULL, kind TEXT NOT NULL, start REAL NOT NULL,
    PRIMARY KEY (day, visitor)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS analytics_visitors_start ON analytics_visitors(start);
"""


def create_schema(db: SqliteDatabase, script: str) -> None:
    with db.write() as conn:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)


class SqliteAnalyticsStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        create_schema(db, SCHEMA)

    def add(self, day: str, start: float, counts: Mapping[str, float]) -> None:
        rows = [(day, name, float(value), start) for name, value in counts.items()]
        with self.db.write() as conn:
            conn.executemany(
                "INSERT INTO analytics_counters (day, name, value, start) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (day, name) DO UPDATE SET value = value + excluded.value",
                rows,
            )

    def mark_visitor(self, day: str, start: float, visitor: str, kind: str) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO analytics_visitors (day, visitor, kind, start) VALUES (?, ?, ?, ?)",
                (day, visitor, kind, start),
            )
        return cursor.rowcount == 1

    def earlier_job(self, owner: str, since: float, job: Job) -> bool:
        row = self.db.conn.execute(
            "SELECT 1 FROM jobs WHERE owner = ? AND created_at >= ? AND created_at < ? LIMIT 1",
            (owner, since, job.created_at),
        ).fetchone()
        return row is not None

    def counters(self, since: float, until: float) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        rows = self.db.conn.execute(
            "SELECT day, name, value FROM analytics_counters WHERE start >= ? AND start < ?", (since, until)
        ).fetchall()
        for day, name, value in rows:
            found.setdefault(day, {})[name] = value
        return found

    def visitors(self, day: str) -> dict[str, int]:
        rows = self.db.conn.execute(
            "SELECT kind, COUNT(*) FROM analytics_visitors WHERE day = ? GROUP BY kind", (day,)
        ).fetchall()
        return {kind: int(n) for kind, n in rows}

    def users(self, tiers: Sequence[str], since: float, until: float) -> UserFigures:
        conn = self.db.conn
        by_tier = {tier: int(n) for tier, n in conn.execute("SELECT tier, COUNT(*) FROM users GROUP BY tier")}
        made, donors = conn.execute(
            "SELECT COUNT(*), TOTAL(tier = 'donor') FROM users WHERE created_at >= ? AND created_at < ?",
            (since, until),
        ).fetchone()
        return UserFigures({t: by_tier.get(t, 0) for t in tiers}, int(made), int(donors))

    def purge(self, before: float, limit: int | None = None) -> int:
        left = -1 if limit is None else limit
        with self.db.write() as conn:
            deleted = conn.execute(
                "DELETE FROM analytics_visitors WHERE (day, visitor) IN "
                "(SELECT day, visitor FROM analytics_visitors WHERE start < ? LIMIT ?)",
                (before, left),
            ).rowcount
            if limit is not None:
                left = max(limit - deleted, 0)
            if left != 0:
                deleted += conn.execute(
                    "DELETE FROM analytics_counters WHERE (day, name) IN "
                    "(SELECT day, name FROM analytics_counters WHERE start < ? LIMIT ?)",
                    (before, left),
                ).rowcount
        return deleted
