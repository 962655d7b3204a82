"""Users' provider keys (encrypted) and the response cache, on SQLite."""

from __future__ import annotations

from shared.secretbox import KeyCipher, decrypt_key, hint
from shared.stores.base import StoredKey
from shared.stores.sqlite.db import SqliteDatabase


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
