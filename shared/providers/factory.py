"""Build the provider router from ``Settings``: real vendors that have keys, then ``local``.

Called once per instance by ``shared.wiring``. Vendor modules are imported only when their
keys are set, so a keyless deployment never loads them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib import import_module
from typing import TYPE_CHECKING

from shared.clock import Clock
from shared.config import Settings, VendorSettings
from shared.domain import Mode
from shared.providers.base import Provider
from shared.providers.byok import UserKeyProviders
from shared.providers.guards import BreakerPolicy, CircuitBreaker, Throttle
from shared.providers.results import OutputLimits
from shared.providers.router import ProviderRouter
from shared.stores.base import ProviderStateStore

if TYPE_CHECKING:
    from shared.providers.vendor_base import VendorConfig, VendorProvider

log = logging.getLogger("gateway.providers")

# provider name -> (module, class); the order is the default route order. Each has its
# settings at ``settings.vendors[name]`` (``Settings.stability``, ...: STABILITY_API_KEYS, ...).
VENDORS: dict[str, tuple[str, str]] = {
    "stability": ("shared.providers.stability", "StabilityProvider"),
    "dashscope": ("shared.providers.dashscope", "DashScopeProvider"),
    "gemini": ("shared.providers.gemini", "GeminiProvider"),
    "openai": ("shared.providers.openai_compat", "OpenAICompatProvider"),
}


def vendor_config(settings: Settings, vendor: VendorSettings, keys: list[str]) -> VendorConfig:
    # Imported here: they pull in requests, which a keyless instance never needs.
    from shared.providers.vendor_base import VendorConfig
    from shared.providers.vendor_http import HttpPolicy

    policy = HttpPolicy(
        connect_timeout=settings.provider_connect_timeout,
        read_timeout=settings.provider_read_timeout,
        max_retries=settings.provider_max_retries,
        max_wait=settings.provider_max_wait_seconds,
        max_result_bytes=settings.provider_max_result_bytes,
    )
    return VendorConfig(
        vendor.base_url,
        keys,
        vendor.models,
        policy,
        settings.provider_poll_seconds,
        settings.provider_max_task_seconds,
        tuple(vendor.result_hosts),
    )


def build_vendor(settings: Settings, name: str, keys: list[str], clock: Clock) -> Provider:
    """One vendor's adapter, on its own session (its transport: see ``safe_fetch.vendor_session``)."""
    from shared.providers.safe_fetch import vendor_session

    module, cls = VENDORS[name]
    config = vendor_config(settings, settings.vendors[name], keys)
    adapter: type[VendorProvider] = getattr(import_module(module), cls)
    return adapter(config, clock, vendor_session(config.hosts))


def build_providers(settings: Settings, clock: Clock) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name in VENDORS:
        keys = settings.vendors[name].keys
        if keys:
            providers[name] = build_vendor(settings, name, keys, clock)
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

    orders = {mode: [n for n in settings.route.for_mode(mode) if n in VENDORS] or list(VENDORS) for mode in Mode}
    return UserKeyProviders(template, orders)


def build_throttles(settings: Settings, clock: Clock, names: Iterable[str]) -> dict[str, Throttle]:
    """Our own dispatch throttle per provider: a vendor's ``max_per_minute`` / ``max_concurrent``;
    ``local``: ``PROVIDER_CONCURRENCY`` calls at once, no rate cap."""
    throttles = {}
    for name in names:
        vendor = settings.vendors.get(name)
        per_minute, concurrent = (
            (vendor.max_per_minute, vendor.max_concurrent) if vendor else (0, settings.provider_concurrency)
        )
        throttles[name] = Throttle(name, per_minute, concurrent, clock, settings.provider_max_wait_seconds)
    return throttles


def build_router(settings: Settings, clock: Clock, state: ProviderStateStore | None) -> ProviderRouter:
    providers = build_providers(settings, clock)
    routes = {
        mode: settings.route.for_mode(mode) or [n for n, p in providers.items() if mode in p.modes] for mode in Mode
    }
    breaker = None
    if state is not None:
        policy = BreakerPolicy(
            settings.breaker_threshold, settings.breaker_open_seconds, cache_seconds=settings.breaker_cache_seconds
        )
        breaker = CircuitBreaker(state, clock, policy)
    router = ProviderRouter(
        providers,
        routes,
        clock=clock,
        throttles=build_throttles(settings, clock, providers),
        breaker=breaker,
        prices=settings.prices,
        byok=user_key_providers(settings, clock, providers),
        limits=OutputLimits(settings.provider_max_result_side, settings.provider_max_result_pixels),
    )
    for name, provider in providers.items():
        for mode in provider.modes:
            if router.price(provider, mode) is None:
                log.warning(
                    "provider model has no price: not routed",
                    extra={"fields": {"provider": name, "mode": mode.value, "model": provider.model_for(mode)}},
                )
    return router
