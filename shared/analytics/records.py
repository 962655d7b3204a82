"""What the metrics history and the alert history keep (the stores persist these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DEPLOYMENT = "deployment"  # the source of the scheduled run's points; instances' are "instance:<name>"


@dataclass(frozen=True)
class MetricsPoint:
    at: float
    source: str
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRecord:
    """One alert: open from ``opened_at`` while its condition holds, then closed for good (history)."""

    id: str
    rule: str  # "cpu", "memory", "error_rate", "response_time", "queue_wait", "budget:<name>:<period>:<percent>"
    opened_at: float
    value: float  # the reading that opened it
    threshold: float
    message: str
    state: Literal["open", "closed"] = "open"
    closed_at: float | None = None
    closing_value: float | None = None
