"""Alerts (README "Metrics and alerts"): thresholds from settings, evaluated by the scheduled run
and on demand (the admin API), with an optional webhook notification per opening and closing.

An evaluation reads every rule (``shared.analytics.alerts.readings``: instances' latest points, the
deployment's figures, each budget's used fraction) and opens or closes alerts with hysteresis. The
store makes the changes exactly once whoever evaluates at the same time, and only the evaluator
whose change went through sends the notification.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from shared.analytics.alerts import Rule, Thresholds, budget_rule, decide, fixed_rules, message, readings
from shared.analytics.records import AlertRecord
from shared.budget.status import BudgetStatus
from shared.clock import Clock
from shared.services.metrics import MetricsService
from shared.stores.base import AlertStore

log = logging.getLogger("gateway.alerts")
LISTED = 200  # alerts one answer lists at most (newest first)


class Notifier(Protocol):
    def send(self, event: dict[str, Any]) -> None: ...

    def drain(self, timeout: float) -> bool: ...


@dataclass
class Evaluation:
    opened: list[AlertRecord] = field(default_factory=list)
    closed: list[AlertRecord] = field(default_factory=list)


class AlertService:
    def __init__(
        self,
        store: AlertStore,
        metrics: MetricsService,
        budgets: Callable[[], list[BudgetStatus]],
        clock: Clock,
        thresholds: Thresholds,
        notifier: Notifier | None = None,
        site: str = "AiArt Gateway",
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.budgets = budgets
        self.clock = clock
        self.thresholds = thresholds
        self.notifier = notifier
        self.site = site

    def current(self, deployment: Mapping[str, float] | None = None) -> dict[str, float]:
        """Every rule's reading now (the deployment's figures read from the store unless given)."""
        figures = deployment if deployment is not None else self.metrics.deployment_values()
        return readings(self.thresholds, figures, self.metrics.recent_instances(), self.budgets())

    def evaluate(self, values: Mapping[str, float] | None = None) -> Evaluation:
        """Open and close alerts on ``values`` (rule -> reading; read now when None)."""
        values = dict(values) if values is not None else self.current()
        open_now = {alert.rule: alert for alert in self.store.list(True, LISTED)}
        rules = {rule.key: rule for rule in fixed_rules(self.thresholds)}
        for key in [*values, *open_now]:
            if key.startswith("budget:") and key not in rules:
                rules[key] = budget_rule(key)
        done = Evaluation()
        for key, rule in rules.items():
            value = values.get(key, 0.0 if key.startswith("budget:") else None)  # a budget gone: nothing used
            change = decide(value, rule.threshold, key in open_now, self.thresholds.clear_ratio)
            if change is not None and value is not None:
                self._apply(rule, value, change, done)
        return done

    def _apply(self, rule: Rule, value: float, change: str, done: Evaluation) -> None:
        now = self.clock.now()
        if change == "open":
            text = message(rule, value, "open")
            alert = AlertRecord(f"{rule.key}~{now:.3f}", rule.key, now, value, rule.threshold, text)
            if self.store.open(alert):
                done.opened.append(alert)
                self._notify("opened", alert, alert.message)
            return
        closed = self.store.close(rule.key, now, value)
        if closed is not None:
            done.closed.append(closed)
            self._notify("closed", closed, message(rule, value, "close"))

    def _notify(self, event: str, alert: AlertRecord, text: str) -> None:
        log.warning("alert %s", event, extra={"fields": {"rule": alert.rule, "value": alert.value}})
        if self.notifier is None:
            return
        sentence = f"{'🔴' if event == 'opened' else '✅'} {self.site}: {text}"
        self.notifier.send({"text": sentence, "content": sentence, "event": event, "alert": asdict(alert)})

    def alerts(self, open_only: bool) -> list[AlertRecord]:
        return self.store.list(open_only, LISTED)

    def deliver(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) for queued notifications: the scheduled run, before it answers."""
        return self.notifier.drain(timeout) if self.notifier is not None else True
