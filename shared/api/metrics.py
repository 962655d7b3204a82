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
from shared.api.cleanup import _authorize  # the same X-API-Key check as the daily cleanup
from shared.insight_models import MetricsPointAnswer, MetricsRunAnswer


def scheduled_run() -> MetricsRunAnswer:
    services = wiring.services()
    point = services.metrics.record_deployment()
    return MetricsRunAnswer(point=MetricsPointAnswer(**asdict(point)), opened=[], closed=[], notified=0)


def _run(call: http.Call) -> http.Reply:
    _authorize(call)
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
