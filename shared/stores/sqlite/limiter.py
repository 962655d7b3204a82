"""Limiter, abuse and user state on SQLite: each decision is one IMMEDIATE transaction."""

from __future__ import annotations

from shared.ratelimit.abuse import AbuseRule, AbuseState, record_refusal
from shared.ratelimit.bucket import BucketState, Decision, Policy, decide
from shared.stores.sqlite.db import SqliteDatabase


class SqliteLimiterStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def acquire(self, key: str, now: float, policy: Policy) -> Decision:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT tat, grace_used, updated_at FROM limiter_buckets WHERE key = ?", (key,)
            ).fetchone()
            state = BucketState(row[0], row[1], row[2]) if row else None
            decision, new = decide(state, now, policy)
            if new != state:
                conn.execute(
                    "INSERT INTO limiter_buckets (key, tat, grace_used, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET tat = excluded.tat, grace_used = excluded.grace_used, "
                    "updated_at = excluded.updated_at",
                    (key, new.tat, new.grace_used, new.seen),
                )
        return decision

    def blocked_until(self, ip: str, now: float, bucket: str | None = None) -> float | None:
        row = self.db.conn.execute("SELECT blocked_until FROM abuse WHERE ip = ?", (ip,)).fetchone()
        return row[0] if row and row[0] > now else None

    def record_refusal(self, ip: str, now: float, rule: AbuseRule) -> float | None:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT window_start, refusals, level, blocked_until FROM abuse WHERE ip = ?", (ip,)
            ).fetchone()
            before = AbuseState(*row) if row else None
            after = record_refusal(before, now, rule)
            conn.execute(
                "INSERT INTO abuse (ip, window_start, refusals, level, blocked_until, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(ip) DO UPDATE SET window_start = excluded.window_start, "
                "refusals = excluded.refusals, level = excluded.level, blocked_until = excluded.blocked_until, "
                "updated_at = excluded.updated_at",
                (ip, after.window_start, after.refusals, after.level, after.blocked_until, now),
            )
        started = before is None or after.blocked_until != before.blocked_until
        return after.blocked_until if started and after.blocked_until > now else None

    def purge(self, before: float, limit: int | None = None) -> int:
        cap = -1 if limit is None else limit  # LIMIT -1: no limit
        with self.db.write() as conn:
            buckets = conn.execute(
                "DELETE FROM limiter_buckets WHERE key IN "
                "(SELECT key FROM limiter_buckets WHERE updated_at < ? ORDER BY updated_at LIMIT ?)",
                (before, cap),
            ).rowcount
            if limit is not None and buckets >= limit:
                return buckets
            abuse = conn.execute(
                "DELETE FROM abuse WHERE ip IN "
                "(SELECT ip FROM abuse WHERE updated_at < ? AND blocked_until < ? LIMIT ?)",
                (before, before, -1 if limit is None else limit - buckets),
            ).rowcount
        return buckets + abuse
