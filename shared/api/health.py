"""Health: cheap, no auth, no store writes."""

from __future__ import annotations

from shared import http, wiring
from shared.api import API_PREFIX, views
from shared.models import HealthAnswer


def _health(call: http.Call) -> http.Reply:
    return http.Reply(views.health_answer(wiring.services().health.report()))


api = http.Api(
    "health",
    f"{API_PREFIX}/health",
    [http.get("", _health, answer=HealthAnswer, summary="Liveness, load and providers", tag="ops")],
    wiring.settings,
)
