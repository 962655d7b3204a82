"""The health use case: liveness, load, queue length, each provider's circuit state, and whether
paid routes are open (the spend guard: some paid provider still within its budgets).

Cheap: no auth and no store write; the load figure and breaker states are cached per instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.clock import Clock
from shared.domain import Mode

if TYPE_CHECKING:
    from shared.providers.router import ProviderRouter
    from shared.ratelimit.load import LoadMonitor
    from shared.services.budget import BudgetService


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    modes: list[Mode]
    state: str  # closed, open or half_open


@dataclass(frozen=True)
class HealthReport:
    status: str  # ok, or degraded when no provider is configured
    timestamp: float
    load: float
    queue_length: int
    version: str
    providers: list[ProviderStatus]
    paid_routes_open: bool = True  # a paid provider can be afforded now (the spend guard; no amounts)


class HealthService:
    def __init__(
        self,
        load: LoadMonitor,
        router: ProviderRouter,
        clock: Clock,
        version: str,
        budget: BudgetService | None = None,
    ) -> None:
        self.budget = budget
        self.load = load
        self.router = router
        self.clock = clock
        self.version = version

    def report(self) -> HealthReport:
        snapshot = self.load.snapshot()
        states = self.router.states()  # circuit breakers, one store read (cached)
        providers = [
            ProviderStatus(name, sorted(p.modes, key=lambda m: m.value), states.get(name, "closed"))
            for name, p in self.router.providers.items()
        ]
        return HealthReport(
            status="ok" if providers else "degraded",
            timestamp=self.clock.now(),
            load=snapshot.load,
            queue_length=snapshot.queued,
            version=self.version,
            providers=providers,
            paid_routes_open=self.budget.paid_routes_open() if self.budget is not None else True,
        )
