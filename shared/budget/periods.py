"""Budget periods: calendar days and months in the budget's time zone (``BUDGET_TIMEZONE``).

A budget resets at local midnight (day) or at local midnight of the 1st (month); days around a
daylight-saving change are 23 or 25 hours long, as the calendar says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["day", "month"]


@dataclass(frozen=True)
class Period:
    kind: Kind
    label: str  # "2026-11-24" or "2026-11": part of the budget's key, so a new period is a new budget
    start: float
    end: float  # the next reset (epoch seconds)

    @property
    def group(self) -> str:
        return f"{self.kind}:{self.label}"


def _midnight(day: date, tz: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


_last: dict[tuple[Kind, str], Period] = {}  # the period last computed per kind and zone (a hot path)


def period(kind: Kind, now: float, tz: ZoneInfo) -> Period:
    """The day or month that contains ``now`` in ``tz``."""
    known = _last.get((kind, tz.key))
    if known is not None and known.start <= now < known.end:
        return known
    found = _period(kind, now, tz)
    _last[(kind, tz.key)] = found
    return found


def _period(kind: Kind, now: float, tz: ZoneInfo) -> Period:
    today = datetime.fromtimestamp(now, tz).date()
    if kind == "day":
        return Period(kind, today.isoformat(), _midnight(today, tz), _midnight(today + timedelta(days=1), tz))
    first = today.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(kind, first.strftime("%Y-%m"), _midnight(first, tz), _midnight(following, tz))
