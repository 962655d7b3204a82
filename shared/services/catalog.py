"""The models a deployment offers, by the names OpenAI clients use (``GET /v1/models``).

A model name is ``auto`` (the mode's configured route, with failover), a ``provider/model`` pair
the route offers (a priced model of a provider with keys), a provider's bare name, or a bare
model name that exactly one offered pair carries (``gpt-4o-mini`` -> ``openai``). Each resolves
to the ``provider`` preference the text and job services accept (None = the route's order).
A provider the platform does not route but a caller may use with their own key (BYOK) is
accepted by name: the router then serves it with that caller's key, or refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import errors
from shared.domain import Mode, ProviderError
from shared.providers.router import ProviderRouter

AUTO = "auto"


@dataclass(frozen=True)
class ModelOffer:
    id: str  # "auto" or "provider/model"
    owned_by: str  # the provider ("gateway" for auto)
    modes: tuple[Mode, ...]


class ModelCatalog:
    def __init__(self, router: ProviderRouter, modes: tuple[Mode, ...] = (Mode.TEXT, Mode.TEXT_TO_IMAGE)) -> None:
        self.router = router
        self.modes = modes

    def _pairs(self, mode: Mode) -> list[tuple[str, str]]:
        """(provider, model) in route order: providers with keys whose model has a price."""
        try:
            providers = self.router.route(mode)
        except ProviderError:  # nothing routed for this mode
            return []
        return [(p.name, p.model_for(mode)) for p in providers]

    def offers(self) -> list[ModelOffer]:
        found: dict[str, tuple[str, list[Mode]]] = {}
        routed: list[Mode] = []
        for mode in self.modes:
            pairs = self._pairs(mode)
            if pairs:
                routed.append(mode)
            for provider, model in pairs:
                found.setdefault(f"{provider}/{model}", (provider, []))[1].append(mode)
        offers = [ModelOffer(AUTO, "gateway", tuple(routed))] if routed else []
        return offers + [ModelOffer(name, owner, tuple(modes)) for name, (owner, modes) in found.items()]

    def _own_key_vendors(self, mode: Mode) -> list[str]:
        return list(self.router.byok.orders.get(mode, [])) if self.router.byok is not None else []

    def resolve(self, name: str, mode: Mode, byok: bool = True) -> str | None:
        """The provider preference ``name`` stands for in ``mode`` (None: the route's order).
        With ``byok`` (a signed-in caller, who may hold their own key) a vendor the platform has
        no route for is accepted too."""
        name = name.strip()
        if name in ("", AUTO):
            return None
        pairs = self._pairs(mode)
        if "/" in name:
            provider, _, model = name.partition("/")
            if (provider, model) in pairs:
                return provider
        elif name in {p for p, _ in pairs} or (byok and name in self._own_key_vendors(mode)):
            return name
        else:
            carriers = {p for p, m in pairs if m == name}
            if len(carriers) == 1:
                return carriers.pop()
        raise errors.ModelNotFound(
            f"The model '{name[:100]}' is not offered for {mode.value} here. GET /v1/models lists the models."
        )
