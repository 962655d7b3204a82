"""The scheduled operations run: ``POST /api/v1/tasks/metrics`` with ``X-API-Key: $TASK_API_KEY``.

Cloud Scheduler calls it every few minutes (``tools/deploy.py`` lists it); ``make dev`` runs the same
thing itself every ``METRICS_SCHEDULE_SECONDS``. One run records the deployment's metrics point from
the store, evaluates every alert rule on it (opening and closing alerts) and delivers the webhook
notifications before it answers.
"""

from __future__ import annotations

from dataclasses import asdict

from shared import http, wiring
from shared.api import API_PREFIX
from shared.api.cleanup import require_task_key  # the same X-API-Key check as the daily cleanup
from shared.insight_models import MetricsPointAnswer, MetricsRunAnswer

DELIVERY_SECONDS = 20.0  # the run waits this long at most for the webhook (retries included)


def scheduled_run() -> MetricsRunAnswer:
    services = wiring.services()
    point = services.metrics.record_deployment()
    done = services.alerts.evaluate(services.alerts.current(point.values))
    changes = len(done.opened) + len(done.closed)
    delivered = services.alerts.deliver(DELIVERY_SECONDS)
    return MetricsRunAnswer(
        point=MetricsPointAnswer(**asdict(point)),
        opened=[a.rule for a in done.opened],
        closed=[a.rule for a in done.closed],
        notifications=changes if services.alerts.notifier is not None else 0,
        delivered=delivered,
    )


def _run(call: http.Call) -> http.Reply:
    require_task_key(call)
    return http.Reply(scheduled_run())


api = http.Api(
    "metrics_task",
    f"{API_PREFIX}/tasks/metrics",
    [
        http.post(
            "",
            _run,
            answer=MetricsRunAnswer,
            summary="Record the deployment's metrics point and evaluate the alerts (scheduler target)",
            tag="ops",
            errors=(401, 503),
            security=("taskApiKey",),
        )
    ],
    wiring.settings,
)
