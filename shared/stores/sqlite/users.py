"""User records (tier, limit overrides) on SQLite."""

from __future__ import annotations

from shared.stores.base import UserRecord
from shared.stores.sqlite.db import SqliteDatabase


class SqliteUserStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def get(self, user_id: str) -> UserRecord | None:
        row = self.db.conn.execute(
            "SELECT id, tier, limit_override, text_limit_override, email, budget_override FROM users WHERE id = ?",
            (user_id,),
        ).fetchone()
        return UserRecord(*row) if row else None

    def put(self, user: UserRecord) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO users (id, tier, limit_override, text_limit_override, email, budget_override) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET tier = excluded.tier, limit_override = excluded.limit_override, "
                "text_limit_override = excluded.text_limit_override, email = excluded.email, "
                "budget_override = excluded.budget_override",
                (user.id, user.tier, user.limit_override, user.text_limit_override, user.email, user.budget_override),
            )
