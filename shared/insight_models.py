"""Requests and answers of the site events and the admin dashboard (analytics, metrics, alerts,
budgets): pydantic edge models, as in ``shared.models``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.models import Answer, Edge

EventType = Literal[
    "page_view", "generate_click", "sign_in_click", "sign_up", "donate_click", "donate_complete", "share", "download"
]


class EventRequest(Edge):
    type: EventType
    page: str = Field(min_length=1, max_length=512, pattern=r"^/[^\s]*$", description="the page's path, e.g. /donate")
    referrer: str | None = Field(default=None, max_length=2048, description="accepted, never stored")


class AnalyticsQuery(Edge):
    days: int = Field(default=7, ge=1, le=90, description="calendar days, today included (BUDGET_TIMEZONE)")


class MetricsQuery(Edge):
    hours: int = Field(default=24, ge=1, le=720)


class AlertsQuery(Edge):
    state: Literal["open", "all"] = "open"


# -- analytics -------------------------------------------------------------------------------


class TimingAnswer(Answer):
    count: int
    average: float | None = Field(description="seconds")
    p95: float | None = Field(description="seconds: the upper bound of the histogram bucket holding it")


class ProviderAnswer(Answer):
    generations: int
    failed: int
    error_rate: float | None
    cost_units: float


class DayAnswer(Answer):
    day: str
    active_anonymous: int
    active_signed_in: int
    generations: int
    succeeded: int
    failed: int
    by_mode: dict[str, int]
    page_views: int


class FunnelAnswer(Answer):
    visitors: int = Field(description="visitor-days: each visitor once per day active")
    generated: int = Field(description="visitor-days with an image or video generation")
    signed_up: int = Field(description="accounts made in the window")
    donors: int = Field(description="of those, donors now")


class AnalyticsAnswer(Answer):
    start: float
    end: float
    days: list[DayAnswer]
    generations: int
    by_mode: dict[str, int]
    success_rate: float | None
    time_to_result: TimingAnswer
    queue_wait: TimingAnswer
    providers: dict[str, ProviderAnswer]
    generations_by_tier: dict[str, int]
    users_by_tier: dict[str, int]
    funnel: FunnelAnswer
    page_views: dict[str, int]
    events: dict[str, int]
    cached_text: int
    notes: list[str]


# -- metrics, alerts, budgets ------------------------------------------------------------------


class MetricsPointAnswer(Answer):
    at: float
    source: str = Field(description="deployment (the scheduled run) or instance:<function>:<id>")
    values: dict[str, float]


class MetricsAnswer(Answer):
    since: float
    points: list[MetricsPointAnswer]


class AlertAnswer(Answer):
    id: str
    rule: str
    state: Literal["open", "closed"]
    opened_at: float
    value: float
    threshold: float
    message: str
    closed_at: float | None = None
    closing_value: float | None = None


class AlertsAnswer(Answer):
    alerts: list[AlertAnswer]
    opened: list[str] = Field(default_factory=list, description="rules this evaluation opened")
    closed: list[str] = Field(default_factory=list, description="rules this evaluation closed")


class BudgetAnswer(Answer):
    name: str
    period: str
    cap: float
    reserved: float
    spent: float
    remaining: float
    resets_at: float
    burn_rate_per_hour: float
    used_fraction: float


class BudgetsAnswer(Answer):
    budgets: list[BudgetAnswer]


class MetricsRunAnswer(Answer):
    point: MetricsPointAnswer
    opened: list[str]
    closed: list[str]
    notifications: int = Field(description="webhook notifications this run sent (ALERT_WEBHOOK_URL set)")
    delivered: bool = Field(description="every notification was delivered (or given up) before this answer")
