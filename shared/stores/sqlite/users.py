"""User records (tier, expiry, limit overrides, activity) on SQLite."""

from __future__ import annotations

from typing import Any

from shared.stores.base import USER_FIELDS, UserRecord
from shared.stores.sqlite.db import SqliteDatabase

_COLUMNS = list(UserRecord.__dataclass_fields__)  # id first, then every field in declaration order


class SqliteUserStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def get(self, user_id: str) -> UserRecord | None:
        row = self.db.conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM users WHERE id = ?", (user_id,)).fetchone()
        return UserRecord(*row) if row else None

    def _values(self, user: UserRecord) -> list[Any]:
        return [getattr(user, name) for name in _COLUMNS]

    def put(self, user: UserRecord) -> None:
        updates = ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS[1:])
        with self.db.write() as conn:
            conn.execute(
                f"INSERT INTO users ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
                f"ON CONFLICT(id) DO UPDATE SET {updates}",
                self._values(user),
            )

    def create(self, user: UserRecord) -> UserRecord:
        with self.db.write() as conn:
            conn.execute(
                f"INSERT INTO users ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
                "ON CONFLICT(id) DO NOTHING",
                self._values(user),
            )
        stored = self.get(user.id)
        assert stored is not None
        return stored

    def update(self, user_id: str, changes: dict[str, Any]) -> bool:
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError(f"not user fields: {sorted(unknown)}")
        if not changes:
            return self.get(user_id) is not None
        sets = ", ".join(f"{name} = ?" for name in changes)  # names checked against USER_FIELDS above
        with self.db.write() as conn:
            cursor = conn.execute(f"UPDATE users SET {sets} WHERE id = ?", [*changes.values(), user_id])
        return cursor.rowcount == 1

    def ids(self, after: str | None, limit: int) -> list[str]:
        rows = self.db.conn.execute(
            "SELECT id FROM users WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit)
        ).fetchall()
        return [row["id"] for row in rows]
