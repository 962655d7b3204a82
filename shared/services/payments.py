"""Payments: subscribe (a pending request and the external checkout URL), the signed webhook that
moves a subscription through its states (``shared.payment_rules``) and writes the user's tier, and
the admin's list of subscriptions.

**One webhook event**: the signature is checked first (400 and nothing read or changed otherwise);
then a replay (an event id already processed) is answered at once and changes nothing. Otherwise
the subscription moves by compare-and-set on its status (two deliveries at once: one moves it,
the other decides again on the new state), THEN the tier is written (``accounts.set_tier``), THEN
the event id is noted. A failure half way (Firebase down while writing the claim) answers 500, the
provider delivers again, the event is not noted yet, and the tier is written again from the state
the subscription already is in. Store operations per event: 2 reads, 2 writes, plus the tier write.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from typing import Any, Protocol

from shared import errors
from shared.clock import Clock
from shared.config_money import Plan
from shared.domain import Contention
from shared.payment_rules import BadSignature, apply, checkout_url, verify
from shared.services.usage import decode_cursor, encode_cursor
from shared.stores.base_money import STATUSES, SubscriptionRecord, SubscriptionStore

ROUNDS = 8  # compare-and-set rounds: each lost one means another delivery moved the subscription


class TierWriter(Protocol):
    """``shared.services.users.UserService``: the user record and the tier claim."""

    def set_tier(self, user_id: str, tier: str, expires_at: float | None = None) -> Any: ...


class PaymentsUnavailable(errors.AppError):
    status = 503
    error_type = "payments_unavailable"
    default_message = "Payments are not set up on this server."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, retry_after=3600)  # an operator's setting: not soon


class UnknownPlan(errors.ValidationFailed):
    error_type = "unknown_plan"


class BadWebhook(errors.BadRequest):
    error_type = "bad_signature"


class BadEvent(errors.BadRequest):
    error_type = "bad_event"


@dataclass(frozen=True)
class Checkout:
    request_id: str
    url: str
    plan: Plan


@dataclass(frozen=True)
class WebhookOutcome:
    result: str  # "processed", "replay" or "ignored" (an event type or a subscription we do not know)
    subscription: SubscriptionRecord | None = None


@dataclass(frozen=True)
class Event:
    id: str
    kind: str  # the last part of its type: "checkout.completed" -> "completed"
    at: float  # its date: ``created``, never later than the signature's time
    request_id: str
    user_id: str | None
    plan: str | None


def _text(value: object, limit: int = 200) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def parse_event(body: bytes, signed_at: int) -> Event:
    """The event in a (signed) body; ``BadEvent`` when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadEvent("The body is not JSON.") from None
    inner = data.get("data") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(inner, dict):
        raise BadEvent("An event is {id, type, created, data: {request_id, user, plan}}.")
    event_id, kind, request_id = _text(data.get("id")), _text(data.get("type")), _text(inner.get("request_id"))
    if event_id is None or kind is None or request_id is None:
        raise BadEvent("An event needs an id, a type and data.request_id.")
    created = data.get("created")
    at = float(signed_at)
    if isinstance(created, int | float) and not isinstance(created, bool) and 0 < created < at:
        at = float(created)
    kind = kind.rsplit(".", 1)[-1]
    return Event(event_id, kind, at, request_id, _text(inner.get("user")), _text(inner.get("plan"), 40))


class PaymentService:
    def __init__(
        self,
        store: SubscriptionStore,
        tiers: TierWriter,
        clock: Clock,
        plans: dict[str, Plan],
        checkout_base: str,
        secret: bytes | None,
        tolerance: float,
    ) -> None:
        self.store = store
        self.tiers = tiers
        self.clock = clock
        self.plans = plans
        self.checkout_base = checkout_base
        self.secret = secret
        self.tolerance = tolerance

    def subscribe(self, user_id: str, email: str | None, plan_name: str) -> Checkout:
        """Record a pending request and answer the checkout URL that names it."""
        if not self.checkout_base:
            raise PaymentsUnavailable()
        plan = self.plans.get(plan_name)
        if plan is None:
            raise UnknownPlan(f"There is no plan '{plan_name}'. Plans: {', '.join(sorted(self.plans))}.")
        request_id = f"sub_{secrets.token_urlsafe(18)}"
        now = self.clock.now()
        record = SubscriptionRecord(request_id, user_id, plan.name, plan.tier, plan.price, plan.days, "pending", now)
        self.store.create(record)
        return Checkout(request_id, checkout_url(self.checkout_base, request_id, plan.name, user_id, email), plan)

    def webhook(self, body: bytes, signature: str | None) -> WebhookOutcome:
        if self.secret is None:  # no signature can be valid: refused like a bad one
            raise BadWebhook("This server takes no payment webhooks: PAYMENT_WEBHOOK_SECRET is not set.")
        try:
            signed_at = verify(self.secret, signature, body, self.clock.now(), self.tolerance)
        except BadSignature as exc:
            raise BadWebhook(str(exc)) from None
        event = parse_event(body, signed_at)
        if self.store.seen(event.id):
            return WebhookOutcome("replay", self.store.get(event.request_id))
        record = self._subscription(event)
        result = "ignored"
        if record is not None:
            record, moved = self._advance(record, event)
            result = "processed" if moved else "ignored"
        self.store.mark_seen(event.id, event.request_id, event.kind, self.clock.now())
        return WebhookOutcome(result, record)

    def _subscription(self, event: Event) -> SubscriptionRecord | None:
        """The event's subscription; one the provider names with a user and plan but we never saw
        (purged a week after the request, or made on the provider's side) is made from the event."""
        record = self.store.get(event.request_id)
        if record is not None or event.user_id is None or event.plan not in self.plans:
            return record
        plan = self.plans[event.plan]
        made = SubscriptionRecord(event.request_id, event.user_id, plan.name, plan.tier, plan.price, plan.days)
        self.store.create(replace(made, created_at=event.at))
        return self.store.get(event.request_id)

    def _advance(self, record: SubscriptionRecord, event: Event) -> tuple[SubscriptionRecord, bool]:
        """Move the subscription by the event (compare-and-set on its status), then write the tier."""
        for _ in range(ROUNDS):
            change = apply(record, event.kind, event.at)
            if change.fields is None or self.store.transition(record.id, record.status, change.fields):
                break
            fresh = self.store.get(record.id)  # another delivery moved it: decide again
            assert fresh is not None
            record = fresh
        else:
            raise Contention("this subscription")
        if change.fields is not None:
            record = replace(record, **change.fields)
        if change.tier == "grant":
            self.tiers.set_tier(record.user_id, record.tier, record.expires_at)
        elif change.tier == "revoke":
            self.tiers.set_tier(record.user_id, "registered", None)
        return record, change.fields is not None or change.tier is not None

    def status_of(self, record: SubscriptionRecord) -> str:
        """The status as of now: an active subscription past its end shows as expired."""
        if record.status == "active" and record.expires_at is not None and record.expires_at <= self.clock.now():
            return "expired"
        return record.status

    def page(
        self, status: str | None, cursor: str | None, limit: int
    ) -> tuple[list[SubscriptionRecord], str | None]:
        """Subscriptions newest first (``status`` as stored), ``limit`` at a time."""
        if status is not None and status not in STATUSES:
            raise errors.ValidationFailed(f"status is one of {', '.join(STATUSES)}.")
        items, after = self.store.page(status, decode_cursor(cursor) if cursor else None, limit)
        return items, encode_cursor(after) if after is not None else None
