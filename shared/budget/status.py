"""A budget as the admin report (and the operations alerts at 50/80/100 %) see it."""

from __future__ import annotations

from dataclasses import dataclass

from shared.budget.lines import BudgetLine, BudgetUsage


@dataclass(frozen=True)
class BudgetStatus:
    name: str  # "deployment", "provider_stability", "anonymous"
    period: str  # "day" or "month"
    cap: float
    reserved: float  # held for calls not settled yet (on Firestore: also leased to instances)
    spent: float
    remaining: float
    resets_at: float
    burn_rate_per_hour: float  # spent per hour since the period began
    used_fraction: float  # (reserved + spent) / cap: what alerts compare with 0.5, 0.8, 1.0


def status(line: BudgetLine, usage: BudgetUsage | None, started: float, now: float) -> BudgetStatus:
    usage = usage or BudgetUsage(line.key, line.cap)
    elapsed_hours = max(now - started, 60.0) / 3600.0
    used = usage.reserved + usage.spent
    return BudgetStatus(
        name=line.name,
        period=line.group.split(":", 1)[0],
        cap=line.cap,
        reserved=round(usage.reserved, 6),
        spent=round(usage.spent, 6),
        remaining=round(max(line.cap - used, 0.0), 6),
        resets_at=line.resets_at,
        burn_rate_per_hour=round(usage.spent / elapsed_hours, 6),
        used_fraction=round(used / line.cap, 6) if line.cap > 0 else 1.0,
    )
