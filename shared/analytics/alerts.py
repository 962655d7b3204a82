"""Alert rules: thresholds, readings and the open/close decision (pure).

A rule opens when its reading reaches the threshold and stays open until the reading falls below
``threshold x clear_ratio`` (hysteresis: a reading wavering around the threshold opens it once, it
does not flap). A rule without a reading keeps its state. Budget rules are one per deployment-wide
budget and percentage (``budget:<name>:<period>:<percent>``) on the spend guard's used fraction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from shared.analytics.records import MetricsPoint
from shared.budget.status import BudgetStatus

Change = Literal["open", "close"]
MIN_REQUESTS = 20  # an instance's 5xx share counts once this many requests were served in its minute


@dataclass(frozen=True)
class Thresholds:
    cpu: float = 0.85  # fractions of one
    memory: float = 0.90
    error_rate: float = 0.05
    response_seconds: float = 30.0
    queue_wait_seconds: float = 120.0
    clear_ratio: float = 0.8
    min_jobs: int = 5
    budget_fractions: tuple[float, ...] = (0.5, 0.8, 1.0)


@dataclass(frozen=True)
class Rule:
    key: str
    title: str
    threshold: float
    unit: Literal["%", "s"]


def fixed_rules(t: Thresholds) -> list[Rule]:
    return [
        Rule("cpu", "CPU", t.cpu, "%"),
        Rule("memory", "Memory", t.memory, "%"),
        Rule("error_rate", "Error rate", t.error_rate, "%"),
        Rule("response_time", "Time to result (p95)", t.response_seconds, "s"),
        Rule("queue_wait", "Queue wait", t.queue_wait_seconds, "s"),
    ]


def budget_rule(key: str) -> Rule:
    """``budget:<name>:<period>:<percent>``."""
    _, name, period, percent = key.split(":")
    return Rule(key, f"Budget {name} ({period})", float(percent) / 100.0, "%")


def budget_key(status: BudgetStatus, fraction: float) -> str:
    return f"budget:{status.name}:{status.period}:{fraction * 100:g}"


def decide(value: float | None, threshold: float, is_open: bool, clear_ratio: float) -> Change | None:
    if value is None:
        return None
    if not is_open and value >= threshold:
        return "open"
    if is_open and value < threshold * clear_ratio:
        return "close"
    return None


def _error_rate(deployment: Mapping[str, float], instances: Sequence[MetricsPoint], min_jobs: int) -> float:
    jobs = deployment.get("error_rate", 0.0) if deployment.get("finished", 0) >= min_jobs else 0.0
    requests = sum(p.values.get("requests", 0.0) for p in instances)
    errors = sum(p.values.get("error_rate", 0.0) * p.values.get("requests", 0.0) for p in instances)
    http = errors / requests if requests >= MIN_REQUESTS else 0.0
    return max(jobs, http)


def readings(
    t: Thresholds,
    deployment: Mapping[str, float],
    instances: Sequence[MetricsPoint],
    budgets: Iterable[BudgetStatus],
) -> dict[str, float]:
    """Every rule's reading: instances' latest points (the highest), the deployment's figures, budgets."""

    def highest(name: str) -> float:
        return max((p.values.get(name, 0.0) for p in instances), default=0.0)

    found = {
        "cpu": highest("cpu"),
        "memory": highest("memory"),
        "error_rate": _error_rate(deployment, instances, t.min_jobs),
        "response_time": max(deployment.get("time_to_result_p95", 0.0), highest("response_avg")),
        "queue_wait": max(deployment.get("queue_wait_p95", 0.0), deployment.get("oldest_queued_wait", 0.0)),
    }
    for status in budgets:
        for fraction in t.budget_fractions:
            found[budget_key(status, fraction)] = status.used_fraction
    return found


def shown(rule: Rule, value: float) -> str:
    return f"{value * 100:.0f}%" if rule.unit == "%" else f"{value:.1f} s"


def message(rule: Rule, value: float, change: Change) -> str:
    if change == "open":
        return f"{rule.title} is {shown(rule, value)}, at or over {shown(rule, rule.threshold)}."
    return f"{rule.title} is back to {shown(rule, value)} (opened at {shown(rule, rule.threshold)} or more)."
