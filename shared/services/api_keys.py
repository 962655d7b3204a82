"""Gateway API keys: a signed-in user's keys for their own programs on the OpenAI-compatible surface.

* A key is ``sk-gw-`` + 32 random bytes (``secrets.token_urlsafe(32)``: 256 bits), shown ONCE when
  made. Only its SHA-256 is stored (a hash of a high-entropy secret needs no salt or slow hash: there
  is nothing to guess), as the key of the record, so a lookup is one store read.
* Each instance keeps what it looked up (found or not) for ``API_KEY_CACHE_SECONDS``: a revoked key
  stops working at once on the instance that revoked it and within that time on the others.
* ``last_used_at`` is written at most once per ``API_KEY_TOUCH_SECONDS`` per key and instance.
* A key acts as its user: their tier (the user record's), limits, spend cap, own provider keys and
  usage records; never as an admin. An unknown or revoked key is a 401.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, replace
from typing import Protocol

from shared import errors
from shared.clock import Clock
from shared.domain import Caller
from shared.stores.base import UserRecord
from shared.stores.base_money import ApiKeyRecord, ApiKeyStore

PREFIX = "sk-gw-"
SHOWN = len(PREFIX) + 4  # characters of the secret a list shows
MAX_KEYS = 20  # per user
_CACHE_MAX = 10_000


class UserRecords(Protocol):
    def record_of(self, user_id: str) -> UserRecord: ...


class InvalidApiKey(errors.Unauthorized):
    error_type = "invalid_api_key"
    default_message = "This API key is not valid: it is unknown or was revoked."


class TooManyKeys(errors.Conflict):
    default_message = f"You have {MAX_KEYS} API keys already. Revoke one you no longer use first."


@dataclass(frozen=True)
class NewKey:
    record: ApiKeyRecord
    secret: str  # shown once, never stored


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


class ApiKeyService:
    def __init__(
        self, store: ApiKeyStore, users: UserRecords, clock: Clock, cache_seconds: float, touch_seconds: float
    ) -> None:
        self.store = store
        self.users = users
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.touch_seconds = touch_seconds
        self._cache: dict[str, tuple[ApiKeyRecord | None, float]] = {}
        self._lock = threading.Lock()

    def create(self, user_id: str, name: str) -> NewKey:
        if len(self.store.list_for(user_id)) >= MAX_KEYS:
            raise TooManyKeys()
        secret = PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            id=f"key_{secrets.token_urlsafe(12)}",
            digest=digest_of(secret),
            user_id=user_id,
            name=name,
            prefix=secret[:SHOWN],
            created_at=self.clock.now(),
        )
        self.store.create(record)
        return NewKey(record, secret)

    def list(self, user_id: str) -> list[ApiKeyRecord]:
        return self.store.list_for(user_id)

    def revoke(self, user_id: str, key_id: str) -> None:
        """The user revokes one of their keys (404 for another's, or none)."""
        self._forget(self.store.delete(key_id, user_id))

    def revoke_any(self, key_id: str) -> ApiKeyRecord:
        """An admin revokes any user's key."""
        record = self.store.delete(key_id)
        self._forget(record)
        assert record is not None
        return record

    def _forget(self, record: ApiKeyRecord | None) -> None:
        if record is None:
            raise errors.NotFound("There is no such API key.")
        with self._lock:
            self._cache.pop(record.digest, None)

    def _lookup(self, digest: str) -> ApiKeyRecord | None:
        now = self.clock.now()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and now - cached[1] < self.cache_seconds:
            return cached[0]
        record = self.store.by_digest(digest)
        self._remember(digest, record, now)
        return record

    def _remember(self, digest: str, record: ApiKeyRecord | None, at: float) -> None:
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (record, at)

    def caller(self, secret: str, ip: str) -> Caller:
        """Who a request with this key acts as; 401 for an unknown or revoked key."""
        if len(secret) > 200:
            raise InvalidApiKey()
        digest = digest_of(secret)
        record = self._lookup(digest)
        if record is None:
            raise InvalidApiKey()
        now = self.clock.now()
        if record.last_used_at is None or now - record.last_used_at >= self.touch_seconds:
            self.store.touch(digest, now)
            with self._lock:
                cached = self._cache.get(digest)
            self._remember(digest, replace(record, last_used_at=now), cached[1] if cached else now)
        user = self.users.record_of(record.user_id)
        return Caller(
            key=f"user:{user.id}",
            tier=user.tier,
            ip=ip,
            user_id=user.id,
            limit_override=user.limit_override,
            text_limit_override=user.text_limit_override,
            budget_override=user.budget_override,
        )
