"""Subscriptions (requests, state, processed webhook events) and gateway API keys on SQLite (schema 9)."""

from __future__ import annotations

import sqlite3
from typing import Any

from shared.stores.base_money import (
    API_KEY_FIELDS,
    SUBSCRIPTION_FIELDS,
    ApiKeyRecord,
    SubscriptionRecord,
)
from shared.stores.sqlite.db import SqliteDatabase

_SUB_COLUMNS = ", ".join(SUBSCRIPTION_FIELDS)
_KEY_COLUMNS = ", ".join(API_KEY_FIELDS)


def _subscription(row: sqlite3.Row) -> SubscriptionRecord:
    return SubscriptionRecord(**{name: row[name] for name in SUBSCRIPTION_FIELDS})


def _api_key(row: sqlite3.Row) -> ApiKeyRecord:
    return ApiKeyRecord(**{name: row[name] for name in API_KEY_FIELDS})


class SqliteSubscriptionStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def create(self, record: SubscriptionRecord) -> bool:
        values = [getattr(record, name) for name in SUBSCRIPTION_FIELDS]
        marks = ", ".join("?" for _ in SUBSCRIPTION_FIELDS)
        with self.db.write() as conn:
            cursor = conn.execute(
                f"INSERT INTO subscriptions ({_SUB_COLUMNS}) VALUES ({marks}) ON CONFLICT(id) DO NOTHING", values
            )
        return cursor.rowcount == 1

    def get(self, request_id: str) -> SubscriptionRecord | None:
        row = self.db.conn.execute(f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE id = ?", (request_id,)).fetchone()
        return _subscription(row) if row else None

    def transition(self, request_id: str, expected: str, changes: dict[str, Any]) -> bool:
        unknown = set(changes) - set(SUBSCRIPTION_FIELDS[1:])
        if unknown:
            raise ValueError(f"not subscription fields: {sorted(unknown)}")
        sets = ", ".join(f"{name} = ?" for name in changes)  # names checked above
        with self.db.write() as conn:
            cursor = conn.execute(
                f"UPDATE subscriptions SET {sets} WHERE id = ? AND status = ?",
                [*changes.values(), request_id, expected],
            )
        return cursor.rowcount == 1

    def seen(self, event_id: str) -> bool:
        return self.db.conn.execute("SELECT 1 FROM payment_events WHERE id = ?", (event_id,)).fetchone() is not None

    def mark_seen(self, event_id: str, request_id: str, kind: str, now: float) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO payment_events (id, request_id, kind, at) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                (event_id, request_id, kind, now),
            )

    def page(
        self, status: str | None, before: tuple[float, str] | None, limit: int
    ) -> tuple[list[SubscriptionRecord], tuple[float, str] | None]:
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if before is not None:
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            args.extend([before[0], before[0], before[1]])
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.conn.execute(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions {clause} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*args, limit + 1],
        ).fetchall()
        items = [_subscription(row) for row in rows[:limit]]
        more = len(rows) > limit
        return items, ((items[-1].created_at, items[-1].id) if more and items else None)

    def purge(self, before: float, limit: int | None = None) -> int:
        with self.db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM subscriptions WHERE id IN (SELECT id FROM subscriptions "
                "WHERE status = 'pending' AND created_at < ? ORDER BY created_at LIMIT ?)",
                (before, -1 if limit is None else limit),
            )
        return cursor.rowcount


class SqliteApiKeyStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def create(self, record: ApiKeyRecord) -> None:
        values = [getattr(record, name) for name in API_KEY_FIELDS]
        marks = ", ".join("?" for _ in API_KEY_FIELDS)
        with self.db.write() as conn:
            conn.execute(f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES ({marks})", values)

    def by_digest(self, digest: str) -> ApiKeyRecord | None:
        row = self.db.conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE digest = ?", (digest,)).fetchone()
        return _api_key(row) if row else None

    def list_for(self, user_id: str) -> list[ApiKeyRecord]:
        rows = self.db.conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, id DESC", (user_id,)
        ).fetchall()
        return [_api_key(row) for row in rows]

    def delete(self, key_id: str, user_id: str | None = None) -> ApiKeyRecord | None:
        with self.db.write() as conn:
            row = conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None or (user_id is not None and row["user_id"] != user_id):
                return None
            conn.execute("DELETE FROM api_keys WHERE id = ?", (key_id,))
        return _api_key(row)

    def touch(self, digest: str, now: float) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE api_keys SET last_used_at = ? WHERE digest = ?", (now, digest))
