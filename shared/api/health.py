"""Health: cheap, no auth, no store writes."""

from __future__ import annotations

from shared import http, wiring
from shared.api import API
from shared.models import HealthAnswer, ProviderHealth


def _health(call: http.Call) -> http.Reply:
    gw = wiring.gateway()
    snapshot = gw.load.snapshot()
    states = gw.providers.states()  # circuit breakers, one store read
    providers = [
        ProviderHealth(name=p.name, modes=sorted(p.modes, key=lambda m: m.value), state=states.get(p.name, "closed"))
        for p in gw.providers.providers.values()
    ]
    answer = HealthAnswer(
        status="ok" if providers else "degraded",
        timestamp=gw.clock.now(),
        load=snapshot.load,
        queue_length=snapshot.queued,
        version=gw.settings.version,
        providers=providers,
    )
    return http.Reply(answer)


api = http.Api(
    f"{API}/health",
    [http.get(f"{API}/health", _health, answer=HealthAnswer, summary="Liveness, load and providers", tag="ops")],
    wiring.settings,
)
