"""The one place that builds the application's objects from ``Settings`` (the composition root).

``Gateway`` builds stores, providers and services lazily, once per instance, and reuses them;
handlers reach only the use cases, through ``services()``. Tests build a ``Gateway`` with a
fake clock and ``install`` it, or call ``reset()`` after changing the environment. Heavy modules
(PyAV, Pillow, requests) are imported only when needed, so the health function starts cold fast.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from shared import logging as app_logging
from shared.api import API_PREFIX
from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.wiring_accounts import AccountsServices, AccountsWiring
from shared.wiring_money import MoneyServices, MoneyWiring
from shared.wiring_ops import OperationsServices, OperationsWiring

if TYPE_CHECKING:
    import flask
    from pydantic import SecretStr

    from shared.domain import Caller
    from shared.jobs.dispatcher import Dispatcher
    from shared.jobs.runner import JobRunner, LeaseKeeper
    from shared.media import MediaStore
    from shared.providers.router import ProviderRouter
    from shared.ratelimit.limiter import Limiter
    from shared.ratelimit.load import LoadMonitor
    from shared.services.budget import BudgetService
    from shared.services.catalog import ModelCatalog
    from shared.services.health import HealthService
    from shared.services.jobs import JobService
    from shared.services.media import MediaService
    from shared.services.text import TextService
    from shared.stores.base import JobStore, LimiterStore, ProviderStateStore, UserKeyStore, UserStore
    from shared.stores.factory import Stores


@dataclass
class Gateway(OperationsWiring, AccountsWiring, MoneyWiring):  # + cleanup, backup; sessions, accounts; money
    settings: Settings
    clock: Clock

    @cached_property
    def stores(self) -> Stores:
        from shared.secretbox import cipher_for
        from shared.stores.factory import open_firestore, open_sqlite

        cipher = cipher_for(self.settings)  # users' provider keys (BYOK); loaded on first use
        if self.settings.store == "firestore":
            return open_firestore(self.settings, cipher)
        return open_sqlite(self.settings.resolved_sqlite_path, cipher, self.settings.sqlite_busy_timeout_seconds)

    @property
    def jobs(self) -> JobStore:
        return self.stores.jobs

    @property
    def limiter_store(self) -> LimiterStore:
        return self.stores.limiter

    @property
    def users(self) -> UserStore:
        return self.stores.users

    @cached_property
    def media(self) -> MediaStore:
        from shared.media import LocalMediaStore

        if self.settings.media_backend == "s3":
            return self._s3_media()
        key = self._secret("media_signing_key")
        return LocalMediaStore(
            self.settings.resolved_media_dir,
            key,
            f"{self.settings.public_base_url}{API_PREFIX}/media",
            self.settings.media_url_ttl_seconds,
        )

    @property
    def provider_state(self) -> ProviderStateStore:
        """Circuit breakers shared by every instance through the store."""
        return self.stores.provider_state

    @property
    def user_keys(self) -> UserKeyStore:
        return self.stores.user_keys

    @cached_property
    def providers(self) -> ProviderRouter:
        from shared.providers.factory import build_router

        return build_router(self.settings, self.clock, self.provider_state)

    @cached_property
    def leases(self) -> LeaseKeeper:
        from shared.jobs.runner import LeaseKeeper

        return LeaseKeeper(self.jobs, self.clock, self.settings.lease_seconds)

    @cached_property
    def runner(self) -> JobRunner:
        from shared.jobs.runner import JobRunner

        return JobRunner(
            self.jobs, self.media, self.providers, self.clock, self.leases, self.user_keys, self.budget_service,
            analytics=self.analytics_service, max_defer=self.settings.provider_max_defer_seconds,
        )  # fmt: skip

    @cached_property
    def dispatcher(self) -> Dispatcher:
        from shared.jobs.dispatcher import InProcessDispatcher, NullDispatcher

        s = self.settings
        if s.dispatcher == "none":
            return NullDispatcher()
        if s.dispatcher == "cloudtasks":
            from shared.jobs.cloudtasks import CloudTasksDispatcher

            assert s.tasks_token is not None  # Settings requires it with cloudtasks
            return CloudTasksDispatcher(
                s.cloud_tasks_queue,
                s.run_job_url,
                s.tasks_token.get_secret_value(),
                s.cloud_tasks_service_account,
                s.cloud_tasks_endpoint,
                s.cloud_tasks_retry_seconds,
            )
        return InProcessDispatcher(
            self.jobs,
            self.runner,
            self.leases,
            self.clock,
            s.worker_concurrency,
            s.lease_seconds,
            s.max_attempts,
            s.dispatch_poll_seconds,
            s.hibernate_after_seconds,
        )

    @cached_property
    def job_service(self) -> JobService:
        from shared.services.jobs import JobPolicy, JobService

        s = self.settings
        policy = JobPolicy(
            concurrency=s.worker_concurrency,
            lease_seconds=s.lease_seconds,
            max_attempts=s.max_attempts,
            eta_window=s.eta_window,
            eta_cache_seconds=s.eta_cache_seconds,
            dedupe_seconds=s.submit_dedupe_seconds,
            redispatch_after_seconds=s.redispatch_after_seconds,
            aging_seconds=s.queue_aging_seconds,
            retention_seconds=s.retention_seconds,
        )
        return JobService(
            self.jobs,
            self.media,
            self.clock,
            self.dispatcher,
            self.runner,
            policy,
            self._secret("session_secret"),
            self.budget_service,
        )

    @cached_property
    def budget_service(self) -> BudgetService:
        """The spend guard (README "Spend guard"); with no budget set it never touches the store."""
        from shared.budget.rules import BudgetCaps
        from shared.services.budget import BudgetService

        s = self.settings
        caps = BudgetCaps(
            daily=s.budget_daily_units,
            monthly=s.budget_monthly_units,
            provider_daily=s.budget_provider_daily_units,
            anonymous_daily=s.budget_anonymous_daily_units,
            user_monthly=s.budget_user_monthly_units,
            timezone=s.budget_timezone,
            fallback=s.budget_fallback,
        )
        return BudgetService(self.stores.budgets, self.providers, caps, self.clock, self.users, self.user_keys)

    @cached_property
    def media_service(self) -> MediaService:
        from shared.services.media import MediaService

        return MediaService(self.media, self.clock)

    @cached_property
    def health_service(self) -> HealthService:
        from shared.services.health import HealthService

        return HealthService(self.load, self.providers, self.clock, self.settings.version, self.budget_service)

    def _s3_media(self) -> MediaStore:
        from shared.media_s3 import from_settings

        return from_settings(self.settings)

    def _secret(self, name: str) -> bytes:
        """The secret setting ``name``; the embedded default keeps a random one in DATA_DIR."""
        configured: SecretStr | None = getattr(self.settings, name)
        if configured is not None and configured.get_secret_value():  # '' is no key: Settings makes it None
            return configured.get_secret_value().encode()
        if self.settings.environment == "production":
            # Every instance must sign alike: a per-instance key file would break sessions
            # and media URLs between instances.
            raise RuntimeError(f"ENVIRONMENT=production needs {name.upper()} to be set")
        from shared.keyfile import load_or_create

        return load_or_create(self.settings.data_dir / f"{name}.key")

    def caller(self, request: flask.Request) -> Caller:
        from shared.identity import resolve_caller

        s = self.settings
        return resolve_caller(request, s.trusted_proxy_hops, self.sessions, self.user_service, s.ipv6_prefix_length)

    @cached_property
    def load(self) -> LoadMonitor:
        from shared.ratelimit.load import LoadMonitor, host_pressure

        s = self.settings
        host = (lambda: host_pressure(s.memory_limit_mb)) if s.load_host_metrics else (lambda: 0.0)
        return LoadMonitor(
            self.jobs.counts,
            s.queue_capacity,
            self.clock.now,
            s.load_cache_seconds,
            provider_errors=lambda: self.providers.unhealthy_share(),
            host=host,
        )

    @cached_property
    def limiter(self) -> Limiter:
        from shared.ratelimit.abuse import AbuseRule
        from shared.ratelimit.limiter import Limiter, LimiterConfig

        s = self.settings
        config = LimiterConfig(
            tier_limits=s.tier_limits,
            text_tier_limits=s.text_tier_limits,
            grace=s.grace_requests,
            load_threshold=s.load_threshold,
            max_queue_depth=s.max_queue_depth,
            abuse=AbuseRule(s.abuse_refusals, s.abuse_window_seconds, s.abuse_ladder),
        )
        return Limiter(self.limiter_store, self.load, self.clock, config)

    @cached_property
    def catalog(self) -> ModelCatalog:
        from shared.services.catalog import ModelCatalog

        return ModelCatalog(self.providers)

    def api_caller(self, request: flask.Request) -> Caller:
        """The caller of the OpenAI-compatible surface: a gateway API key (``Bearer sk-gw-…``, never
        read as a session token) acts as its user; an unknown or revoked one is a 401 (``key_caller``,
        shared/services/api_keys.py). Anything else resolves as on the site."""
        from shared import gateway_keys

        key = gateway_keys.presented(request)
        return self.caller(request) if key is None else self.key_caller(request, key)

    @cached_property
    def text_service(self) -> TextService:
        from shared.services.text import TextService

        s = self.settings
        return TextService(
            self.providers,
            self.stores.cache,
            self.clock,
            s.text_cache_ttl_seconds,
            self.user_keys,
            self.budget_service,
            self.usage_service,
            self.analytics_service,
        )

    def close(self) -> None:
        if "dispatcher" in self.__dict__:
            self.dispatcher.stop()
        self.close_operations()
        if "stores" in self.__dict__:
            self.stores.close()
        self.close_accounts()


_lock = threading.Lock()
_gateway: Gateway | None = None


def gateway() -> Gateway:
    global _gateway
    if _gateway is None:
        with _lock:
            if _gateway is None:
                settings = Settings()
                app_logging.configure(settings.log_level)
                _gateway = Gateway(settings, SystemClock())
                atexit.register(_gateway.close_operations)  # a worker shutting down writes the counts it summed
    return _gateway


def built() -> Gateway | None:
    """The instance's gateway if something already built it (background hooks must not build one)."""
    return _gateway


def settings() -> Settings:
    return gateway().settings


class Services(OperationsServices, AccountsServices, MoneyServices):  # + cleanup, backup; auth, accounts, ...
    """The use cases, and all a handler may reach: each is built on first use."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @property
    def jobs(self) -> JobService:
        return self._gw.job_service

    @property
    def text(self) -> TextService:
        return self._gw.text_service

    @property
    def admission(self) -> Limiter:
        return self._gw.limiter

    @property
    def media(self) -> MediaService:
        return self._gw.media_service

    @property
    def health(self) -> HealthService:
        return self._gw.health_service

    @property
    def budgets(self) -> BudgetService:
        """The spend guard's report (``report()``) for the admin endpoint and the alerts."""
        return self._gw.budget_service

    def caller(self, request: flask.Request) -> Caller:
        return self._gw.caller(request)

    def api_caller(self, request: flask.Request) -> Caller:
        """The caller of the OpenAI-compatible surface (gateway API keys plug in there)."""
        return self._gw.api_caller(request)

    @property
    def models(self) -> ModelCatalog:
        return self._gw.catalog

    def now(self) -> float:
        """The injected clock's time (timestamps in answers)."""
        return self._gw.clock.now()


def services() -> Services:
    return Services(gateway())


def install(instance: Gateway) -> None:
    """Use a hand-built gateway (tests with a fake clock)."""
    global _gateway
    with _lock:
        if _gateway is not None and _gateway is not instance:
            _gateway.close()
        _gateway = instance


def reset() -> None:
    global _gateway
    with _lock:
        if _gateway is not None:
            _gateway.close()
        _gateway = None
