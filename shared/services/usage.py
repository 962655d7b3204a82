"""Usage and the monthly bill: every generation recorded for its caller, read a month at a time.

Media jobs are their own usage records (the job store keeps provider, model, mode, duration and
cost units); text requests are recorded here, one store write each (``record_text``). Months are
calendar months in ``BUDGET_TIMEZONE``, as the spend guard's. A bill is computed on demand from the
recorded cost units (priced when the generation ran, per the ``PRICES`` table: an image per image,
a video per second, text per 1K tokens), with totals per mode and per provider; the admin's
"bill every user for a month" task calls ``bill`` for each user.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from shared import errors
from shared.budget.periods import Period, period
from shared.clock import Clock
from shared.domain import Caller, Mode
from shared.stores.base import UsageRecord, UsageStore

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
BILL_PAGE = 500  # records read per store call while a bill is summed
UNITS = {Mode.TEXT: "tokens", Mode.TEXT_TO_VIDEO: "seconds", Mode.IMAGE_TO_VIDEO: "seconds"}  # else images


def unit_of(mode: Mode) -> str:
    return UNITS.get(mode, "images")


@dataclass(frozen=True)
class UsagePage:
    month: str
    items: list[UsageRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class BillLine:
    mode: Mode
    provider: str
    generations: int
    quantity: float  # images, video seconds or text tokens (``unit_of(mode)``)
    cost_units: float


@dataclass(frozen=True)
class Bill:
    user_id: str
    month: str
    lines: list[BillLine]  # one per (mode, provider), sorted
    by_mode: dict[str, float]
    by_provider: dict[str, float]
    total_units: float
    generations: int


class BadMonth(errors.ValidationFailed):
    default_message = "month must be YYYY-MM."


class BadCursor(errors.ValidationFailed):
    default_message = "The cursor is not one this API gave out. Start again without it."


def encode_cursor(cursor: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps([cursor[0], cursor[1]]).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[float, str]:
    try:
        at, key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(key, str) or isinstance(at, bool) or not isinstance(at, int | float):
            raise ValueError(token)
        return float(at), key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadCursor() from None


class UsageService:
    def __init__(self, store: UsageStore, clock: Clock, timezone: str, page_size: int) -> None:
        self.store = store
        self.clock = clock
        self.tz = ZoneInfo(timezone)
        self.page_size = page_size

    def month(self, label: str | None) -> Period:
        """The calendar month ``YYYY-MM`` (None: this month)."""
        if label is None:
            return period("month", self.clock.now(), self.tz)
        match = _MONTH.match(label)
        if match is None:
            raise BadMonth()
        first = datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=self.tz).timestamp()
        return period("month", first, self.tz)

    def record_text(
        self, caller: Caller | None, provider: str, model: str, tokens: int, cost: float, started: float, cached: bool
    ) -> None:
        """One text request served to a signed-in (or anonymous-account) caller: one write."""
        if caller is None or caller.user_id is None:
            return  # a one-off caller without an account: nobody could ever read it
        now = self.clock.now()
        usage = UsageRecord(
            id=uuid.uuid4().hex,
            owner=caller.key,
            at=started,
            mode=Mode.TEXT,
            provider=provider,
            model=model,
            duration=max(now - started, 0.0),
            cost_units=cost,
            quantity=float(tokens),
            cached=cached,
        )
        self.store.record(usage)

    def page(self, user_id: str, label: str | None, cursor: str | None) -> UsagePage:
        month = self.month(label)
        before = decode_cursor(cursor) if cursor else None
        items, after = self.store.page(f"user:{user_id}", month.start, month.end, before, self.page_size)
        return UsagePage(month.label, items, encode_cursor(after) if after is not None else None)

    def totals(self, user_id: str) -> dict[Mode, tuple[int, float]]:
        """This month's generations and cost units per mode (the user record's usage_stats)."""
        month = self.month(None)
        return self.store.totals(f"user:{user_id}", month.start, month.end)

    def bill(self, user_id: str, label: str) -> Bill:
        month = self.month(label)
        sums: dict[tuple[Mode, str], list[float]] = {}
        before: tuple[float, str] | None = None
        while True:
            items, before = self.store.page(f"user:{user_id}", month.start, month.end, before, BILL_PAGE)
            for item in items:
                line = sums.setdefault((item.mode, item.provider), [0, 0.0, 0.0])
                line[0] += 1
                line[1] += item.quantity
                line[2] += item.cost_units
            if before is None:
                break
        return _bill(user_id, month.label, sums)


def _bill(user_id: str, month: str, sums: dict[tuple[Mode, str], list[float]]) -> Bill:
    lines = [
        BillLine(mode, provider, int(n), quantity, round(cost, 6))
        for (mode, provider), (n, quantity, cost) in sorted(sums.items(), key=lambda kv: (kv[0][0].value, kv[0][1]))
    ]
    by_mode: dict[str, float] = {}
    by_provider: dict[str, float] = {}
    for line in lines:
        by_mode[line.mode.value] = round(by_mode.get(line.mode.value, 0.0) + line.cost_units, 6)
        by_provider[line.provider] = round(by_provider.get(line.provider, 0.0) + line.cost_units, 6)
    total = round(sum(line.cost_units for line in lines), 6)
    return Bill(user_id, month, lines, by_mode, by_provider, total, sum(line.generations for line in lines))
