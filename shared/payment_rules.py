"""The payments' pure rules: the webhook signature, the checkout URL, and the subscription's state machine.

**Signature** (Stripe's scheme): ``X-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]``, where each
``v1`` is HMAC-SHA256 over ``"<t>.<raw body>"`` with ``PAYMENT_WEBHOOK_SECRET`` (several ``v1``: the
provider is rotating its secret). Compared in constant time on bytes; a ``t`` further than the
tolerance (5 minutes) from now, in either direction, is refused, so a captured delivery cannot be
replayed later; a replay inside the window is caught by the event id.

**State machine** of one subscription (one checkout request), whatever order events arrive in:

    pending --completed--> active --canceled | refunded | expired--> canceled | refunded | expired
    pending --canceled | refunded | expired--> (the same, never activated: no tier was granted)
    canceled --refunded--> refunded

``canceled``, ``refunded`` and ``expired`` are final: a ``completed`` that arrives after one of
them (delivered out of order, or a retry) never grants the tier, whatever its date. Money errs on
the safe side: a refunded or canceled checkout never keeps a tier; a paying user who canceled and
wants the tier again subscribes again (a new request). Each state change records the event's time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.stores.base_money import SubscriptionRecord

ENDING = {"canceled": "canceled", "refunded": "refunded", "expired": "expired"}  # event type -> final state
FINAL = frozenset(ENDING.values())


class BadSignature(ValueError):
    """Why a webhook's signature is refused (the message is safe to show)."""


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Signature`` header value for ``body`` at ``timestamp`` (what the provider sends)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, header: str | None, body: bytes, now: float, tolerance: float) -> int:
    """The signed timestamp when ``header`` signs ``body`` with ``secret`` within ``tolerance``
    seconds of ``now``; else ``BadSignature``."""
    if not header:
        raise BadSignature("The X-Signature header is missing.")
    timestamp: int | None = None
    signatures: list[bytes] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value.strip().lower().encode("ascii", "replace"))
    if timestamp is None or not signatures:
        raise BadSignature("The X-Signature header must be t=<unix seconds>,v1=<hex>.")
    if abs(now - timestamp) > tolerance:
        raise BadSignature("The signature's timestamp is too old (or in the future).")
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest().encode()
    if not any(hmac.compare_digest(expected, given) for given in signatures):
        raise BadSignature("The signature does not match the body.")
    return timestamp


@dataclass(frozen=True)
class Change:
    """What an event does to a subscription: the fields to set (None: nothing), and the tier to
    write for its user afterwards (``grant``: the plan's tier; ``revoke``: back to registered)."""

    fields: dict[str, Any] | None
    tier: str | None  # "grant", "revoke" or None


def apply(record: SubscriptionRecord, kind: str, at: float) -> Change:
    """The change event ``kind`` (dated ``at``) makes to ``record``. The tier is written again even
    when the state already is the event's (a retried delivery after a failure half way)."""
    if kind == "completed":
        if record.status == "pending":
            expires = at + record.days * 86400.0 if record.days else None
            fields = {"status": "active", "activated_at": at, "expires_at": expires, "event_at": at}
            return Change(fields, "grant")
        return Change(None, "grant" if record.status == "active" else None)
    final = ENDING.get(kind)
    if final is None:
        return Change(None, None)  # an event type we do not act on
    was_active = record.activated_at is not None
    if record.status in ("pending", "active") or (record.status == "canceled" and final == "refunded"):
        fields = {"status": final, "ended_at": at, "event_at": at}
        return Change(fields, "revoke" if was_active else None)
    return Change(None, "revoke" if was_active else None)


def checkout_url(base: str, request_id: str, plan: str, user_id: str, email: str | None) -> str:
    """``PAYMENT_CHECKOUT_URL`` with the request id (also as ``client_reference_id``, the name Stripe
    Payment Links read), the plan and the user added to its query (its own parameters kept)."""
    parts = urlsplit(base)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("request_id", request_id), ("client_reference_id", request_id), ("plan", plan), ("user", user_id)]
    if email:
        query.append(("prefilled_email", email))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
