"""Spend budgets on SQLite: each reserve and each settle is one ``BEGIN IMMEDIATE`` transaction.

Table ``budget_lines``: one row per budget and period (``key`` = ``group/name``) with ``reserved``
and ``spent``; ``budget_reservations``: one row per reservation not settled yet, with the keys it
holds, so settling is idempotent (the row goes when it is settled). The write lock is taken
before the first read, so the check and the update are one step across threads and processes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from shared.budget.lines import BudgetLine, BudgetUsage, Reservation
from shared.stores.sqlite.db import SqliteDatabase

EPSILON = 1e-9  # units are sums of decimal prices: forgive float rounding, never a real overshoot


def _fits(used: float, units: float, cap: float) -> bool:
    return used + units <= cap + EPSILON * max(cap, 1.0)


class SqliteBudgetStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def reserve(self, reservation: Reservation, now: float) -> BudgetLine | None:
        units = float(reservation.units)
        keys = [line.key for line in reservation.lines]
        marks = ", ".join("?" for _ in keys)
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM budget_reservations WHERE id = ?", (reservation.id,)).fetchone():
                return None  # already made
            used = dict(conn.execute(f"SELECT key, reserved + spent FROM budget_lines WHERE key IN ({marks})", keys))
            for line in reservation.lines:
                if not _fits(float(used.get(line.key, 0.0)), units, line.cap):
                    return line
            conn.executemany(
                "INSERT INTO budget_lines (key, cap, reserved, spent, resets_at, updated_at) "
                "VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT(key) DO UPDATE SET cap = excluded.cap, "
                "reserved = reserved + excluded.reserved, updated_at = excluded.updated_at",
                [(line.key, line.cap, units, line.resets_at, now) for line in reservation.lines],
            )
            conn.execute(
                "INSERT INTO budget_reservations (id, keys, units, created_at) VALUES (?, ?, ?, ?)",
                (reservation.id, json.dumps(keys), units, now),
            )
        return None

    def settle(self, reservation: Reservation, spent: float, now: float) -> bool:
        with self.db.write() as conn:
            row = conn.execute("SELECT keys, units FROM budget_reservations WHERE id = ?", (reservation.id,)).fetchone()
            if row is None:
                return False
            keys, units = json.loads(row[0]), float(row[1])
            used = min(max(float(spent), 0.0), units)
            conn.execute(
                "UPDATE budget_lines SET reserved = MAX(reserved - ?, 0), spent = spent + ?, updated_at = ? "
                f"WHERE key IN ({', '.join('?' for _ in keys)})",
                (units, used, now, *keys),
            )
            conn.execute("DELETE FROM budget_reservations WHERE id = ?", (reservation.id,))
        return True

    def usage(self, lines: Sequence[BudgetLine]) -> dict[str, BudgetUsage]:
        keys = [line.key for line in lines]
        if not keys:
            return {}
        rows = self.db.conn.execute(
            f"SELECT key, cap, reserved, spent FROM budget_lines WHERE key IN ({', '.join('?' for _ in keys)})", keys
        ).fetchall()
        return {row[0]: BudgetUsage(row[0], float(row[1]), float(row[2]), float(row[3])) for row in rows}

    def flush(self) -> None:
        """Nothing is held in the instance: every reservation is in the file already."""

    def purge(self, before: float) -> int:
        """Forget budgets whose period ended before ``before`` (their reservations went with them)."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM budget_reservations WHERE created_at < ?", (before,))
            return conn.execute("DELETE FROM budget_lines WHERE resets_at < ?", (before,)).rowcount
