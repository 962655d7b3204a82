"""The admin API: one function (``admin``) for the dashboard, behind the ``admin`` custom claim.

Every route calls ``wiring.services().admin(request)`` first: 401 without sign-in (or with an
anonymous account), 403 without the claim; only then are the query parameters read (422).
Sections: analytics, metrics and alerts, budgets (operations); the accounts and payments routes
(subscriptions, users, tiers, tasks) go in their own section below, into the same route table.
"""

from __future__ import annotations

from dataclasses import asdict

from shared import http, wiring
from shared.api import API_PREFIX
from shared.insight_models import (
    AlertAnswer,
    AlertsAnswer,
    AlertsQuery,
    AnalyticsAnswer,
    AnalyticsQuery,
    BudgetAnswer,
    BudgetsAnswer,
    MetricsAnswer,
    MetricsPointAnswer,
    MetricsQuery,
)

ADMIN = (401, 403)  # every admin route: not signed in, not an admin




# -- analytics, metrics and alerts, budgets ------------------------------------------------------


def _analytics(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.admin(call.request)
    query = http.query(call, AnalyticsQuery)
    return http.Reply(AnalyticsAnswer.model_validate(asdict(services.analytics.report(query.days))))


def _metrics(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.admin(call.request)
    query = http.query(call, MetricsQuery)
    since, points = services.metrics.history(query.hours)
    return http.Reply(MetricsAnswer(since=since, points=[MetricsPointAnswer(**asdict(p)) for p in points]))



def _alerts(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.admin(call.request)
    query = http.query(call, AlertsQuery)
    listed = services.alerts.alerts(open_only=query.state == "open")
    return http.Reply(AlertsAnswer(alerts=[AlertAnswer(**asdict(a)) for a in listed]))


def _evaluate(call: http.Call) -> http.Reply:
    """Evaluate every rule now; notifications go out in the background (this answer does not wait)."""
    services = wiring.services()
    services.admin(call.request)
    done = services.alerts.evaluate()
    listed = services.alerts.alerts(open_only=True)
    return http.Reply(
        AlertsAnswer(
            alerts=[AlertAnswer(**asdict(a)) for a in listed],
            opened=[a.rule for a in done.opened],
            closed=[a.rule for a in done.closed],
        )
    )


def _budgets(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.admin(call.request)
    return http.Reply(BudgetsAnswer(budgets=[BudgetAnswer(**asdict(b)) for b in services.budgets.report()]))


OPERATIONS = [
    http.get(
        "/analytics",
        _analytics,
        answer=AnalyticsAnswer,
        query=AnalyticsQuery,
        summary="Daily active users, generations, timings, providers, tiers, the funnel, page views",
        tag="admin",
        errors=(*ADMIN, 422),
    ),
    http.get(
        "/metrics",
        _metrics,
        answer=MetricsAnswer,
        query=MetricsQuery,
        summary="The metrics history: each instance's points and the deployment's, oldest first",
        tag="admin",
        errors=(*ADMIN, 422),
    ),
    http.get(
        "/alerts",
        _alerts,
        answer=AlertsAnswer,
        query=AlertsQuery,
        summary="Open alerts (state=open), or every alert kept (state=all), newest first",
        tag="admin",
        errors=(*ADMIN, 422),
    ),
    http.post(
        "/alerts/evaluate",
        _evaluate,
        answer=AlertsAnswer,
        summary="Evaluate the alert thresholds now: what opened, what closed, what is open",
        tag="admin",
        errors=ADMIN,
    ),
    http.get(
        "/budgets",
        _budgets,
        answer=BudgetsAnswer,
        summary="The spend guard's budgets now: cap, reserved, spent, remaining, reset, burn rate, used fraction",
        tag="admin",
        errors=ADMIN,
    ),
]

# -- accounts and payments (subscriptions, users, tier, tasks) -------------------------------------

from shared.api.admin_accounts import ROUTES as ACCOUNTS  # noqa: E402, I001 - the accounts routes


api = http.Api("admin", f"{API_PREFIX}/admin", [*OPERATIONS, *ACCOUNTS], wiring.settings)
