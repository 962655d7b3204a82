"""Build the provider router from ``Settings``: real vendors that have keys, then ``local``.

Called once per instance by ``shared.wiring``. Vendor modules are imported only when their
keys are set, so a keyless deployment never loads them.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import TYPE_CHECKING

from shared.clock import Clock
from shared.config import Settings
from shared.domain import Mode
from shared.providers.base import Provider
from shared.providers.byok import UserKeyProviders
from shared.providers.guards import BreakerPolicy, CircuitBreaker, Throttle
from shared.providers.router import ProviderRouter
from shared.stores.base import ProviderStateStore

if TYPE_CHECKING:
    from shared.providers.vendor_base import VendorConfig

log = logging.getLogger("gateway.providers")

# provider name -> (module, class); the order is the default route order.
VENDORS: dict[str, tuple[str, str]] = {
    "stability": ("shared.providers.stability", "StabilityProvider"),
    "dashscope": ("shared.providers.dashscope", "DashScopeProvider"),
    "gemini": ("shared.providers.gemini", "GeminiProvider"),
    "openai": ("shared.providers.openai_compat", "OpenAICompatProvider"),
}
_MODE_FIELDS = {
    Mode.TEXT_TO_IMAGE: "text_to_image",
    Mode.IMAGE_TO_IMAGE: "image_to_image",
    Mode.TEXT_TO_VIDEO: "text_to_video",
    Mode.IMAGE_TO_VIDEO: "image_to_video",
    Mode.TEXT: "text",
}


def split_keys(value: str) -> list[str]:
    return [k.strip() for k in value.split(",") if k.strip()]


def vendor_config(settings: Settings, vendor: str, keys: list[str]) -> VendorConfig:
    # Imported here: they pull in requests, which a keyless instance never needs.
    from shared.providers.vendor_base import VendorConfig
    from shared.providers.vendor_http import HttpPolicy

    models = {mode: str(getattr(settings, f"{vendor}_{field}_model", "") or "") for mode, field in _MODE_FIELDS.items()}
    policy = HttpPolicy(
        connect_timeout=settings.provider_connect_timeout,
        read_timeout=settings.provider_read_timeout,
        max_retries=settings.provider_max_retries,
        max_wait=settings.provider_max_wait_seconds,
    )
    return VendorConfig(
        getattr(settings, f"{vendor}_base_url"),
        keys,
        models,
        policy,
        settings.provider_poll_seconds,
        settings.provider_max_task_seconds,
    )


def build_vendor(settings: Settings, vendor: str, keys: list[str], clock: Clock) -> Provider:
    module, cls = VENDORS[vendor]
    return getattr(import_module(module), cls)(vendor_config(settings, vendor, keys), clock)


def build_providers(settings: Settings, clock: Clock) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for vendor in VENDORS:
        secret = getattr(settings, f"{vendor}_api_keys")
        keys = split_keys(secret.get_secret_value()) if secret is not None else []
        if keys:
            providers[vendor] = build_vendor(settings, vendor, keys, clock)
    if settings.local_provider_enabled:
        from shared.providers.local import LocalProvider

        providers["local"] = LocalProvider(settings.local_video_fps, settings.local_delay_seconds)
    return providers


def user_key_providers(settings: Settings, clock: Clock, providers: dict[str, Provider]) -> UserKeyProviders:
    """Adapters for callers' own keys: clones of the platform's, or keyless ones built on first use."""

    def template(vendor: str) -> Provider | None:
        if vendor not in VENDORS:
            return None
        return providers.get(vendor) or build_vendor(settings, vendor, [], clock)

    orders = {
        mode: [n for n in getattr(settings, f"route_{field}") if n in VENDORS] or list(VENDORS)
        for mode, field in _MODE_FIELDS.items()
    }
    return UserKeyProviders(template, orders)


def build_router(settings: Settings, clock: Clock, state: ProviderStateStore | None) -> ProviderRouter:
    providers = build_providers(settings, clock)
    configured = {mode: getattr(settings, f"route_{field}") for mode, field in _MODE_FIELDS.items()}
    routes = {
        mode: list(names) or [n for n, p in providers.items() if mode in p.modes] for mode, names in configured.items()
    }
    throttles = {}
    for name in providers:
        per_minute = int(getattr(settings, f"{name}_max_per_minute", 0))
        concurrent = int(getattr(settings, f"{name}_max_concurrent", settings.provider_concurrency))
        throttles[name] = Throttle(name, per_minute, concurrent, clock, settings.provider_max_wait_seconds)
    breaker = None
    if state is not None:
        policy = BreakerPolicy(
            settings.breaker_threshold, settings.breaker_open_seconds, cache_seconds=settings.breaker_cache_seconds
        )
        breaker = CircuitBreaker(state, clock, policy)
    router = ProviderRouter(
        providers,
        routes,
        throttles=throttles,
        breaker=breaker,
        prices=settings.prices,
        clock=clock,
        byok=user_key_providers(settings, clock, providers),
    )
    for name, provider in providers.items():
        for mode in provider.modes:
            if router.price(provider, mode) is None:
                log.warning(
                    "provider model has no price: not routed",
                    extra={"fields": {"provider": name, "mode": mode.value, "model": provider.model_for(mode)}},
                )
    return router
