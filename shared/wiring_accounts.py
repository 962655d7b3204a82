"""The accounts use cases (sign-in, users, usage) of the composition root, as mixins of
``shared.wiring.Gateway`` and ``shared.wiring.Services``.

``Gateway.sessions`` is the one ``Verifier``: Firebase's (firebase-admin, imported on first use)
whenever a Firebase project is reachable: in production, or with ``FIREBASE_AUTH_EMULATOR_HOST``
(tests, ``make dev`` with Node.js), or with ``FIREBASE_PROJECT`` set; else ``NoSignIn`` (anonymous
only). Handlers reach ``services().auth``, ``services().accounts``, ``services().usage``, and
``services().account(request)`` / ``services().admin(request)``: the signed-in account (401), and
an admin (401 / 403) for the admin API.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import flask

    from shared.auth import Verifier
    from shared.clock import Clock
    from shared.config import Settings
    from shared.domain import Identity
    from shared.providers.router import ProviderRouter
    from shared.services.auth import AuthService
    from shared.services.usage import UsageService
    from shared.services.users import KeyChecker, UserService
    from shared.stores.factory import Stores


class AccountsWiring:
    """Mixed into ``Gateway`` (which provides these attributes)."""

    settings: Settings
    clock: Clock
    stores: Stores
    providers: ProviderRouter

    @cached_property
    def sessions(self) -> Verifier:
        """Who a token or session cookie belongs to (Firebase Auth)."""
        s = self.settings
        if s.environment == "production" or s.firebase_auth_emulator_host or s.firebase_project:
            from shared.firebase import FirebaseAuth

            return FirebaseAuth(s.firebase_project, s.firebase_auth_emulator_host)
        from shared.auth import NoSignIn

        return NoSignIn()

    @cached_property
    def usage_service(self) -> UsageService:
        from shared.services.usage import UsageService

        s = self.settings
        return UsageService(self.stores.usage, self.clock, s.budget_timezone, s.usage_page_size)

    @cached_property
    def user_service(self) -> UserService:
        from shared.providers.factory import VENDORS
        from shared.services.users import UserService

        def checker() -> KeyChecker:  # the providers are built only when a key is checked
            assert self.providers.byok is not None  # build_router always makes it
            return self.providers.byok

        return UserService(
            self.stores.users,
            self.stores.user_keys,
            self.usage_service,
            self.sessions,
            checker,
            self.clock,
            self.settings.user_cache_seconds,
            list(VENDORS),
        )

    @cached_property
    def auth_service(self) -> AuthService:
        from shared.services.auth import AuthService

        return AuthService(self.sessions, self.user_service, self.settings.session_ttl_seconds)

    def close_accounts(self) -> None:
        close = getattr(self.__dict__.get("sessions"), "close", None)
        if close is not None:
            close()


class AccountsServices:
    """Mixed into ``Services`` (``self._gw`` is the Gateway)."""

    _gw: AccountsWiring

    @property
    def auth(self) -> AuthService:
        return self._gw.auth_service

    @property
    def accounts(self) -> UserService:
        """User records, tiers (``set_tier``: the payments webhook's and the admin API's seam), keys."""
        return self._gw.user_service

    @property
    def usage(self) -> UsageService:
        return self._gw.usage_service

    def presented(self, request: flask.Request) -> Identity | None:
        """The request's identity, verified without a revocation check (signing out)."""
        from shared.auth import authenticate

        return authenticate(request, self._gw.sessions)

    def account(self, request: flask.Request, anonymous: bool = False) -> Identity:
        """The signed-in account, revocation checked; 401 otherwise (and for an anonymous account
        unless ``anonymous``)."""
        from shared.auth import credential
        from shared.services.auth import SignInRequired, require_account

        identity = self._gw.auth_service.identify(credential(request))
        if anonymous and identity is not None:
            return identity
        if identity is None:
            raise SignInRequired()
        return require_account(identity)

    def admin(self, request: flask.Request) -> Identity:
        """An administrator (the ``admin`` custom claim): 401 without sign-in, 403 without the claim."""
        from shared.auth import credential
        from shared.services.auth import require_admin

        identity = self._gw.auth_service.identify(credential(request))
        require_admin(identity)
        assert identity is not None
        return identity
