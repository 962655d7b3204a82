"""Users' provider keys (encrypted) and the response cache, on SQLite."""

from __future__ import annotations

import json
from typing import Any

from shared.secretbox import KeyCipher, decrypt_key, hint
from shared.stores.base import StoredKey
from shared.stores.sqlite_db import SqliteDatabase


class SqliteUserKeyStore:
    def __init__(self, db: SqliteDatabase, cipher: KeyCipher) -> None:
        self.db = db
        self.cipher = cipher

    def keys_for(self, user_id: str) -> dict[str, str]:
        rows = self.db.conn.execute("SELECT provider, token FROM user_keys WHERE user_id = ?", (user_id,)).fetchall()
        return {row["provider"]: decrypt_key(self.cipher, row["provider"], row["token"]) for row in rows}

    def get_key(self, user_id: str, provider: str) -> str | None:
        row = self.db.conn.execute(
            "SELECT token FROM user_keys WHERE user_id = ? AND provider = ?", (user_id, provider)
        ).fetchone()
        return decrypt_key(self.cipher, provider, row["token"]) if row else None

    def list_keys(self, user_id: str) -> list[StoredKey]:
        rows = self.db.conn.execute(
            "SELECT provider, hint, updated_at FROM user_keys WHERE user_id = ? ORDER BY provider", (user_id,)
        ).fetchall()
        return [StoredKey(row["provider"], row["hint"], row["updated_at"]) for row in rows]

    def put_key(self, user_id: str, provider: str, key: str, now: float) -> None:
        token = self.cipher.encrypt(key)
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO user_keys (user_id, provider, token, hint, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(user_id, provider) DO UPDATE SET token = excluded.token, hint = excluded.hint, "
                "updated_at = excluded.updated_at",
                (user_id, provider, token, hint(key), now),
            )

    def delete_key(self, user_id: str, provider: str) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute("DELETE FROM user_keys WHERE user_id = ? AND provider = ?", (user_id, provider))
            return cursor.rowcount == 1


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

    def purge(self, before: float) -> int:
        with self.db.write() as conn:
            return conn.execute("DELETE FROM response_cache WHERE expire_at < ?", (before,)).rowcount
