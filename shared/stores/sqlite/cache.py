"""The response cache on SQLite: answers by request hash, with an expiry."""

from __future__ import annotations

import json
from typing import Any

from shared.stores.sqlite.db import SqliteDatabase


class SqliteCacheStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def get(self, key: str, now: float) -> dict[str, Any] | None:
        row = self.db.conn.execute(
            "SELECT value FROM response_cache WHERE key = ? AND expire_at > ?", (key, now)
        ).fetchone()
        return json.loads(row["value"]) if row else None

    def put(self, key: str, value: dict[str, Any], expire_at: float) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO response_cache (key, value, expire_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expire_at = excluded.expire_at",
                (key, json.dumps(value, separators=(",", ":")), expire_at),
            )

    def purge(self, before: float, limit: int | None = None) -> int:
        with self.db.write() as conn:
            return conn.execute(
                "DELETE FROM response_cache WHERE key IN "
                "(SELECT key FROM response_cache WHERE expire_at < ? ORDER BY expire_at LIMIT ?)",
                (before, -1 if limit is None else limit),
            ).rowcount
