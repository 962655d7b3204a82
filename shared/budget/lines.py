"""What a budget store keeps: budget lines, reservations against them, and their usage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def field_name(name: str) -> str:
    """A budget's name as a plain identifier (a Firestore field path segment needs no quoting)."""
    return _UNSAFE.sub("_", name)


@dataclass(frozen=True)
class BudgetLine:
    """One budget in one period: at most ``cap`` units may be reserved or spent in it.

    ``group`` is the period the budget belongs to (``day:2026-11-24``, ``month:2026-11``, or a
    user's own month), ``name`` the budget in it (``deployment``, ``provider_stability``,
    ``anonymous``, ``user``). ``pooled``: many callers draw on it, so a store may lease it to
    instances in chunks; a one-caller budget (a user's) is reserved directly.
    """

    group: str
    name: str
    cap: float
    resets_at: float
    pooled: bool = True

    @property
    def key(self) -> str:
        return f"{self.group}/{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "cap": self.cap,
            "resets_at": self.resets_at,
            "pooled": self.pooled,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BudgetLine:
        return cls(
            str(data["group"]), str(data["name"]), float(data["cap"]), float(data["resets_at"]), bool(data["pooled"])
        )


@dataclass(frozen=True)
class Reservation:
    """``units`` reserved on every one of ``lines`` for a call to ``provider``.

    Kept on the job it pays for (``Job.budget``), so whoever finishes or cancels the job can
    settle it; ``id`` makes settling idempotent."""

    id: str
    units: float
    lines: tuple[BudgetLine, ...]
    provider: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "units": self.units,
            "provider": self.provider,
            "lines": [line.as_dict() for line in self.lines],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reservation:
        lines = tuple(BudgetLine.from_dict(line) for line in data.get("lines") or [])
        return cls(str(data["id"]), float(data["units"]), lines, data.get("provider"))


@dataclass(frozen=True)
class BudgetUsage:
    """A budget's counters as the store holds them. ``reserved`` counts units held for calls not
    settled yet, including (on Firestore) units leased to instances and not used yet."""

    key: str
    cap: float
    reserved: float = 0.0
    spent: float = 0.0

    @property
    def remaining(self) -> float:
        return max(self.cap - self.reserved - self.spent, 0.0)
