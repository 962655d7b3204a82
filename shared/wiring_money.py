"""The money use cases (payments, gateway API keys, the admin's account tasks) of the composition
root, as mixins of ``shared.wiring.Gateway`` and ``shared.wiring.Services``.

Handlers reach ``services().payments``, ``services().api_keys`` and ``services().admin_tasks``;
``Gateway.api_caller`` asks ``key_caller`` for the caller of a gateway key (``Bearer sk-gw-…``).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import flask

    from shared.auth import Verifier
    from shared.clock import Clock
    from shared.config import Settings
    from shared.domain import Caller
    from shared.services.admin_tasks import AdminTasks
    from shared.services.api_keys import ApiKeyService
    from shared.services.backup import BackupService
    from shared.services.cleanup import CleanupService
    from shared.services.payments import PaymentService
    from shared.services.usage import UsageService
    from shared.services.users import UserService
    from shared.stores.factory import Stores


class MoneyWiring:
    """Mixed into ``Gateway`` (which provides these attributes)."""

    settings: Settings
    clock: Clock
    stores: Stores
    sessions: Verifier
    user_service: UserService
    usage_service: UsageService
    cleanup_service: CleanupService
    backup_service: BackupService

    @cached_property
    def payment_service(self) -> PaymentService:
        from shared.services.payments import PaymentService

        p = self.settings.payment
        secret = p.webhook_secret.get_secret_value().encode() if p.webhook_secret is not None else None
        return PaymentService(
            self.stores.subscriptions,
            self.user_service,
            self.clock,
            p.plans,
            p.checkout_url,
            secret,
            p.webhook_tolerance_seconds,
        )

    @cached_property
    def api_key_service(self) -> ApiKeyService:
        from shared.services.api_keys import ApiKeyService

        s = self.settings
        return ApiKeyService(
            self.stores.api_keys, self.user_service, self.clock, s.api_key_cache_seconds, s.api_key_touch_seconds
        )

    @cached_property
    def admin_tasks(self) -> AdminTasks:
        from shared.services.admin_tasks import AdminTasks

        tiers = sorted({*self.settings.tier_limits, "registered", "donor"} - {"anonymous"})
        return AdminTasks(
            self.stores.users,
            self.sessions,
            self.usage_service,
            lambda: self.cleanup_service,
            lambda: self.backup_service,
            self.user_service,
            tiers,
        )

    def key_caller(self, request: flask.Request, key: str) -> Caller:
        """The caller a gateway API key acts as (its user); 401 for an unknown or revoked key."""
        from shared.identity import client_ip, network_of

        s = self.settings
        ip = network_of(client_ip(request, s.trusted_proxy_hops), s.ipv6_prefix_length)
        return self.api_key_service.caller(key, ip)


class MoneyServices:
    """Mixed into ``Services``."""

    _gw: MoneyWiring

    @property
    def payments(self) -> PaymentService:
        """``subscribe``, ``webhook``, ``page`` (the admin's list)."""
        return self._gw.payment_service

    @property
    def api_keys(self) -> ApiKeyService:
        """Gateway API keys: ``create``, ``list``, ``revoke``, ``revoke_any`` (admins)."""
        return self._gw.api_key_service

    @property
    def admin_tasks(self) -> AdminTasks:
        """The admin's account routes: users by email, and the tasks (cleanup, billing, backup)."""
        return self._gw.admin_tasks
