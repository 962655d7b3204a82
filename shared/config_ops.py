"""Settings of analytics, site events, metrics history and alerts: nested models of ``Settings``.

Each reads ``<PREFIX>_<FIELD>`` from the environment (``ALERT_WEBHOOK_URL`` -> ``alert.webhook_url``),
the way the vendor settings do; README's configuration table lists every one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

Csv = Annotated[list[str], NoDecode]
DEFAULT_PAGES = ["/", "/donate", "/account", "/history", "/admin", "/privacy", "/terms"]


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class AnalyticsSettings(BaseModel):
    """``ANALYTICS_*``: daily counters (README "Analytics")."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    shards: int = Field(default=4, ge=1, le=64)  # documents per day's counters on Firestore (~1 write/s each)
    flush_seconds: float = Field(default=10.0, ge=0, le=300)  # site events are summed this long per instance
    pages: Csv = Field(default_factory=lambda: list(DEFAULT_PAGES))  # counted by name; any other page is "other"

    _split = field_validator("pages", mode="before")(_csv)


class EventsSettings(BaseModel):
    """``EVENTS_*``: the site's page views and conversion events (``POST /api/v1/events``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    per_minute: int = Field(default=60, ge=1, le=100000)  # per network address and instance (in memory)


class MetricsSettings(BaseModel):
    """``METRICS_*``: the metrics history (README "Metrics and alerts")."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    interval_seconds: float = Field(default=60.0, ge=60)  # an instance records at most one point this often
    window_seconds: float = Field(default=900.0, ge=60)  # recent = finished (or recorded) within this window
    sample_jobs: int = Field(default=50, ge=1, le=500)  # recent finished jobs read by the scheduled run
    schedule_seconds: float = Field(default=300.0, ge=60)  # make dev: the scheduled run's own period


class AlertSettings(BaseModel):
    """``ALERT_*``: thresholds, hysteresis and the optional webhook."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cpu_percent: float = Field(default=85.0, gt=0)
    memory_percent: float = Field(default=90.0, gt=0)
    error_rate_percent: float = Field(default=5.0, gt=0)
    response_seconds: float = Field(default=30.0, gt=0)  # p95 time to result of recent jobs
    queue_wait_seconds: float = Field(default=120.0, gt=0)  # p95 queue wait, or the oldest queued job's wait
    budget_percents: Csv = Field(default_factory=lambda: ["50", "80", "100"])  # of each budget's cap
    clear_ratio: float = Field(default=0.8, gt=0, le=1)  # an open alert closes below threshold x this
    min_jobs: int = Field(default=5, ge=1)  # the error rate counts once this many jobs finished in the window
    webhook_url: str = Field(default="", pattern=r"^(https?://\S+)?$")  # Slack/Discord-compatible; empty = none
    webhook_secret: SecretStr | None = None  # set: X-Signature = HMAC-SHA256 of "timestamp.body"
    webhook_attempts: int = Field(default=3, ge=1, le=10)

    _split = field_validator("budget_percents", mode="before")(_csv)

    @field_validator("budget_percents")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        for item in value:
            if not 0 < float(item) <= 1000:
                raise ValueError("budget percents are numbers in (0, 1000]")
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def budget_fractions(self) -> list[float]:
        return sorted(float(item) / 100.0 for item in self.budget_percents)
