"""Users: the user record (made on first sign-in), tiers mirrored into a custom claim, and the
user's own provider keys (BYOK).

The record is the source of truth for the tier (and its expiry, limit overrides, the monthly
spend cap); ``set_tier`` writes it and mirrors it into the account's ``tier`` custom claim, for
the site to read. Each instance reuses a record it read for ``USER_CACHE_SECONDS`` (a signed-in
request then costs no store read), and ``last_active`` is written at most once a day per user.
Signing out stamps ``signed_out_at``: tokens and session cookies issued before it no longer count
on any route, without a call to Firebase (``record_for``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from shared import errors
from shared.auth import Verifier
from shared.clock import Clock
from shared.domain import ErrorKind, Identity, Mode, ProviderError
from shared.services.usage import UsageService
from shared.stores.base import StoredKey, UserKeyStore, UserRecord, UserStore

DAY = 86400.0
_CACHE_MAX = 10_000


class KeyChecker(Protocol):
    """What the vendors say of a key (``shared.providers.byok.UserKeyProviders``)."""

    def check(self, vendor: str, key: str) -> ErrorKind | None: ...


class KeyRejected(errors.ValidationFailed):
    error_type = "key_rejected"


class KeyCheckUnavailable(errors.AppError):
    status = 503
    error_type = "provider_unavailable"
    default_message = "The provider could not check this key right now. Please try again in a minute."


@dataclass(frozen=True)
class UserView:
    """The record as its user may see it, with this month's usage per mode."""

    record: UserRecord
    usage_stats: dict[Mode, tuple[int, float]]


def effective(record: UserRecord, now: float) -> UserRecord:
    """The record with a paid tier that has ended counted as ``registered``."""
    if record.tier_expires_at is not None and now >= record.tier_expires_at and record.tier != "registered":
        return replace(record, tier="registered")
    return record


class UserService:
    def __init__(
        self,
        users: UserStore,
        keys: UserKeyStore,
        usage: UsageService,
        verifier: Verifier,
        checker: Callable[[], KeyChecker],
        clock: Clock,
        cache_seconds: float,
        vendors: list[str],
    ) -> None:
        self.users = users
        self.keys = keys
        self.usage = usage
        self.verifier = verifier
        self.checker = checker  # built on first use: the vendors' adapters
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.vendors = vendors  # providers a user may store a key for
        self._cache: dict[str, tuple[UserRecord, float]] = {}
        self._lock = threading.Lock()

    # -- the record behind a signed-in caller (shared.identity.Accounts) ---------------------

    def _remember(self, record: UserRecord) -> UserRecord:
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[record.id] = (record, self.clock.now())
        return record

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._cache.pop(user_id, None)

    def _load(self, identity: Identity, fresh: bool) -> UserRecord:
        now = self.clock.now()
        with self._lock:
            cached = self._cache.get(identity.user_id)
        if cached is not None and not fresh and now - cached[1] < self.cache_seconds:
            return cached[0]
        record = self.users.get(identity.user_id)
        if record is None:  # first sign-in (or the first request of a bearer-only client)
            made = UserRecord(identity.user_id, email=identity.email, created_at=now, last_active=now)
            record = self.users.create(made)
        return self._remember(record)

    def record_for(self, identity: Identity, fresh: bool = False) -> UserRecord | None:
        """The account's record, made on first sight; None when the token was issued before the
        user signed out. Writes ``last_active`` once a day."""
        record = self._load(identity, fresh)
        if record.signed_out_at is not None and identity.issued_at < int(record.signed_out_at):
            return None
        now = self.clock.now()
        if record.last_active is None or int(record.last_active // DAY) != int(now // DAY):
            self.users.update(record.id, {"last_active": now})
            record = self._remember(replace(record, last_active=now))
        return effective(record, now)

    def signed_in(self, identity: Identity) -> UserRecord:
        """A new session: the fresh record, its email kept current, the tier claim mirrored."""
        record = self.record_for(identity, fresh=True)
        if record is None:  # cannot happen for a token that was just checked against revocation
            raise errors.Unauthorized("Please sign in again.")
        if identity.email and identity.email != record.email:
            self.users.update(record.id, {"email": identity.email})
            record = self._remember(replace(record, email=identity.email))
        if identity.tier != record.tier:
            self.verifier.set_claims(record.id, {"tier": record.tier})
        return record

    def record_of(self, user_id: str) -> UserRecord:
        """``user_id``'s record as it counts now, cached like a signed-in caller's (made if missing):
        the user behind a gateway API key, which a sign-out does not end (revoking the key does)."""
        return effective(self._load(Identity(user_id), fresh=False), self.clock.now())

    def signed_out(self, user_id: str) -> None:
        self.users.update(user_id, {"signed_out_at": self.clock.now()})
        self.forget(user_id)

    def set_tier(self, user_id: str, tier: str, expires_at: float | None = None) -> UserRecord:
        """Set the tier (and when it ends) on the record, and mirror it into the ``tier`` claim.
        For the payments webhook and the admin API."""
        if not self.users.update(user_id, {"tier": tier, "tier_expires_at": expires_at}):
            now = self.clock.now()
            self.users.create(UserRecord(user_id, tier=tier, tier_expires_at=expires_at, created_at=now))
        self.verifier.set_claims(user_id, {"tier": tier})
        self.forget(user_id)
        record = self.users.get(user_id)
        assert record is not None
        return record

    def me(self, identity: Identity) -> UserView:
        record = self.record_for(identity, fresh=True)
        if record is None:
            raise errors.Unauthorized("Please sign in again.")
        return UserView(record, self.usage.totals(record.id))

    # -- the user's own provider keys ------------------------------------------------------

    def _vendor(self, provider: str) -> str:
        if provider not in self.vendors:
            raise errors.NotFound(f"'{provider}' is not a provider you can store a key for: {', '.join(self.vendors)}.")
        return provider

    def list_keys(self, user_id: str) -> list[StoredKey]:
        return self.keys.list_keys(user_id)

    def put_key(self, user_id: str, provider: str, key: str) -> StoredKey:
        """Store the key after one cheap call to the vendor with it; 422 when the vendor rejects it."""
        vendor = self._vendor(provider)
        try:
            verdict = self.checker().check(vendor, key)
        except ProviderError:
            raise KeyCheckUnavailable() from None
        if verdict is ErrorKind.AUTH:
            raise KeyRejected(f"{vendor} rejected this API key. Check that you copied all of it.")
        if verdict is ErrorKind.QUOTA:
            raise KeyRejected(f"This {vendor} API key is out of credit or quota. Top it up with {vendor} first.")
        if verdict is not None:
            raise KeyRejected(f"{vendor} did not accept this API key.")
        self.keys.put_key(user_id, vendor, key, self.clock.now())
        return next(k for k in self.keys.list_keys(user_id) if k.provider == vendor)

    def delete_key(self, user_id: str, provider: str) -> None:
        if not self.keys.delete_key(user_id, self._vendor(provider)):
            raise errors.NotFound(f"You have no {provider} key stored.")
