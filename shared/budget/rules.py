"""Which budgets a paid call falls under, and what it may cost at most.

Budgets (all optional; a missing one is no cap), in cost units of the ``PRICES`` table:

* the deployment's spend per day and per month (``BUDGET_DAILY_UNITS``, ``BUDGET_MONTHLY_UNITS``);
* each provider's per day (``BUDGET_PROVIDER_DAILY_UNITS``);
* the pool all anonymous visitors share, per day (``BUDGET_ANONYMOUS_DAILY_UNITS``);
* a signed-in user's own, per month: the user record's override, else their tier's
  (``BUDGET_USER_MONTHLY_UNITS``).

An estimate is an upper bound of what the vendor can bill: an image its price, a video its price
per second times the seconds asked for (rounded up, at least one: vendors bill whole seconds), a
text its price per 1K tokens times a bound of the prompt's tokens plus ``max_tokens``. A prompt
never has more tokens than UTF-8 bytes under a byte-level tokenizer, plus a few per message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

from shared.budget.lines import BudgetLine, field_name
from shared.budget.periods import period

Fallback = Literal["refuse", "local"]
TOKENS_PER_MESSAGE = 4  # role and separators, as chat formats add them
TOKENS_PER_REQUEST = 3


@dataclass(frozen=True)
class BudgetCaps:
    daily: float | None = None
    monthly: float | None = None
    provider_daily: Mapping[str, float] = field(default_factory=dict)
    anonymous_daily: float | None = None
    user_monthly: Mapping[str, float] = field(default_factory=dict)  # per tier
    timezone: str = "UTC"
    fallback: Fallback = "refuse"

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def enabled(self) -> bool:
        """Whether any budget is set; with none, the guard does nothing at all (no store call)."""
        return any(v is not None for v in (self.daily, self.monthly, self.anonymous_daily)) or bool(
            self.provider_daily or self.user_monthly
        )


@dataclass(frozen=True)
class Spender:
    """Whose budgets a call draws on: the tier, the signed-in user, and that user's own cap."""

    tier: str
    user_id: str | None = None
    override: float | None = None  # the user record's monthly cap; wins over the tier's

    @property
    def anonymous(self) -> bool:
        return self.user_id is None or self.tier == "anonymous"


def user_cap(caps: BudgetCaps, spender: Spender) -> float | None:
    if spender.anonymous:
        return None
    if spender.override is not None:
        return spender.override
    return caps.user_monthly.get(spender.tier)


def lines_for(caps: BudgetCaps, provider: str, spender: Spender, now: float) -> list[BudgetLine]:
    """Every budget a paid call to ``provider`` by ``spender`` at ``now`` falls under."""
    day, month = period("day", now, caps.tz), period("month", now, caps.tz)
    lines: list[BudgetLine] = []
    if caps.daily is not None:
        lines.append(BudgetLine(day.group, "deployment", caps.daily, day.end))
    if caps.monthly is not None:
        lines.append(BudgetLine(month.group, "deployment", caps.monthly, month.end))
    if provider in caps.provider_daily:
        lines.append(BudgetLine(day.group, field_name(f"provider_{provider}"), caps.provider_daily[provider], day.end))
    if spender.anonymous and caps.anonymous_daily is not None:
        lines.append(BudgetLine(day.group, "anonymous", caps.anonymous_daily, day.end))
    cap = user_cap(caps, spender)
    if cap is not None and spender.user_id is not None:
        group = f"user:{spender.user_id}:{month.group}"
        lines.append(BudgetLine(group, "user", cap, month.end, pooled=False))
    return lines


def deployment_lines(caps: BudgetCaps, providers: Iterable[str], now: float) -> list[BudgetLine]:
    """The budgets that are not anyone's own (what the admin report and health look at)."""
    day, month = period("day", now, caps.tz), period("month", now, caps.tz)
    lines: list[BudgetLine] = []
    if caps.daily is not None:
        lines.append(BudgetLine(day.group, "deployment", caps.daily, day.end))
    if caps.monthly is not None:
        lines.append(BudgetLine(month.group, "deployment", caps.monthly, month.end))
    for name in providers:
        if name in caps.provider_daily:
            lines.append(BudgetLine(day.group, field_name(f"provider_{name}"), caps.provider_daily[name], day.end))
    if caps.anonymous_daily is not None:
        lines.append(BudgetLine(day.group, "anonymous", caps.anonymous_daily, day.end))
    return lines


def video_units(price: float, seconds: float) -> float:
    return price * max(1, math.ceil(seconds - 1e-9))


def text_tokens(contents: Iterable[str], max_tokens: int) -> int:
    """An upper bound of the tokens a text request can be billed: prompt plus ``max_tokens``."""
    prompt = sum(len(text.encode()) + TOKENS_PER_MESSAGE for text in contents) + TOKENS_PER_REQUEST
    return prompt + max_tokens


def text_units(price: float, tokens: int) -> float:
    return price * tokens / 1000.0


def text_spent(price: float, contents: Iterable[str], prompt_tokens: int, completion_tokens: int, text: str) -> float:
    """A text call's cost: the tokens the vendor reported, else a bound from what was sent and got."""
    tokens = prompt_tokens + completion_tokens
    if tokens <= 0:
        tokens = text_tokens(contents, 0) + len(text.encode())
    return text_units(price, tokens)
