"""Store interfaces of the money work (beside ``shared.stores.base``, which is full): subscriptions
(pending requests, their state, processed webhook events) and gateway API keys.

Implementations never read the clock (``now`` is passed in) and raise ``Contention`` when they
cannot record a change. ``tests/contract/test_subscription_store.py`` and
``tests/contract/test_api_key_store.py`` run on every implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Protocol

# A subscription's states. ``pending``: asked for at POST /subscribe, not paid; ``active``: paid (its
# tier granted); the rest are final (shared.payment_rules says which event moves which state).
STATUSES = ("pending", "active", "canceled", "refunded", "expired")


@dataclass(frozen=True)
class SubscriptionRecord:
    id: str  # the request id the checkout URL carries and the payment provider's events name
    user_id: str
    plan: str
    tier: str
    price: float
    days: int  # 0: the tier never ends
    status: str = "pending"
    created_at: float = 0.0
    activated_at: float | None = None  # the ``completed`` event's time
    expires_at: float | None = None  # activated_at + days
    ended_at: float | None = None  # the canceling, refunding or expiring event's time
    event_at: float | None = None  # the time of the last event that changed it


SUBSCRIPTION_FIELDS = tuple(f.name for f in fields(SubscriptionRecord))


def subscription_from(data: dict[str, Any]) -> SubscriptionRecord:
    return SubscriptionRecord(**{name: data[name] for name in SUBSCRIPTION_FIELDS if name in data})


class SubscriptionStore(Protocol):
    def create(self, record: SubscriptionRecord) -> bool:
        """Store a new subscription; False (nothing written) when one with its id exists."""

    def get(self, request_id: str) -> SubscriptionRecord | None: ...

    def transition(self, request_id: str, expected: str, changes: dict[str, Any]) -> bool:
        """Set ``changes`` (fields of ``SubscriptionRecord`` but ``id``) only while the status is
        ``expected``: a compare-and-set, so of two concurrent events one moves the state and the
        other sees the new one. False when the status is not (or no longer) ``expected``."""

    def seen(self, event_id: str) -> bool:
        """Whether the webhook event ``event_id`` was processed already (one read)."""

    def mark_seen(self, event_id: str, request_id: str, kind: str, now: float) -> None:
        """Note the event as processed (a replay is then answered without changing anything)."""

    def page(
        self, status: str | None, before: tuple[float, str] | None, limit: int
    ) -> tuple[list[SubscriptionRecord], tuple[float, str] | None]:
        """Up to ``limit`` subscriptions (of ``status`` when given), newest first, after the cursor
        ``before`` = ``(created_at, id)`` of the last one of the previous page; and the next cursor."""

    def purge(self, before: float, limit: int | None = None) -> int:
        """Delete pending requests made before ``before`` (never paid); at most ``limit``."""


@dataclass(frozen=True)
class ApiKeyRecord:
    """A gateway API key as stored: the SHA-256 of its secret, never the secret."""

    id: str  # public: what DELETE names
    digest: str  # sha256 hex of the secret (the lookup key)
    user_id: str
    name: str
    prefix: str  # the secret's first characters, to recognise it in a list
    created_at: float
    last_used_at: float | None = None  # written at most once per API_KEY_TOUCH_SECONDS


API_KEY_FIELDS = tuple(f.name for f in fields(ApiKeyRecord))


def api_key_from(data: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(**{name: data[name] for name in API_KEY_FIELDS if name in data})


class ApiKeyStore(Protocol):
    def create(self, record: ApiKeyRecord) -> None: ...

    def by_digest(self, digest: str) -> ApiKeyRecord | None:
        """The key whose secret hashes to ``digest``: ONE store read."""

    def list_for(self, user_id: str) -> list[ApiKeyRecord]:
        """The user's keys, newest first."""

    def delete(self, key_id: str, user_id: str | None = None) -> ApiKeyRecord | None:
        """Revoke (delete) the key ``key_id``, only if it is ``user_id``'s when given (any user's
        when None: an admin); the deleted record, or None when there was no such key."""

    def touch(self, digest: str, now: float) -> None:
        """Set the key's ``last_used_at`` (one write; nothing when the key is gone)."""
