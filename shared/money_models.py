"""Requests and answers of payments, the admin's account routes and gateway API keys (pydantic edge models)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.models import Answer, Edge

PLAN_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
# A visible first character; then letters, digits, spaces and common punctuation.
KEY_NAME = r"^[\w.@()\[\]:/+#-][\w .@()\[\]:/+#-]*$"


# -- payments ---------------------------------------------------------------------------------------


class SubscribeRequest(Edge):
    plan: str = Field(pattern=PLAN_NAME, description="a plan's name (GET /api/v1/plans)")


class CheckoutAnswer(Answer):
    checkout_url: str = Field(description="the payment page; it names the request id, plan and user")
    request_id: str = Field(description="the pending subscription this checkout completes")


class PlanView(Answer):
    name: str
    tier: str = Field(description="the tier the plan grants")
    price: float
    currency: str
    days: int = Field(description="how long the tier lasts from payment; 0: it does not end")


class PlanList(Answer):
    plans: list[PlanView]
    checkout: bool = Field(description="whether this server takes payments (PAYMENT_CHECKOUT_URL is set)")


class WebhookAnswer(Answer):
    received: bool = True
    result: str = Field(description="processed, replay (already processed: nothing changed) or ignored")


# -- the admin's account routes ---------------------------------------------------------------------


class SubscriptionView(Answer):
    id: str
    uid: str
    plan: str
    tier: str
    price: float
    days: int
    status: str = Field(description="pending, active, canceled, refunded or expired (an active one past its end)")
    created_at: float
    activated_at: float | None = None
    expires_at: float | None = None
    ended_at: float | None = None


class SubscriptionPage(Answer):
    subscriptions: list[SubscriptionView]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page; null on the last")


class SubscriptionQuery(Edge):
    status: Literal["pending", "active", "canceled", "refunded", "expired"] | None = Field(
        default=None, description="only subscriptions stored with this status"
    )
    cursor: str | None = Field(default=None, max_length=512, description="next_cursor of the previous page")
    limit: int = Field(default=50, ge=1, le=200)


class UserQuery(Edge):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^\s@]+@[^\s@]+$")


class AdminUserAnswer(Answer):
    uid: str
    email: str | None = None
    tier: str = Field(description="as stored (a tier past tier_expires_at counts as registered)")
    tier_expires_at: float | None = None
    created_at: float | None = None
    last_active: float | None = None
    limit_override: int | None = None
    text_limit_override: int | None = None
    budget_override: float | None = None


class TierRequest(Edge):
    tier: str = Field(pattern=PLAN_NAME, description="registered, donor, ... (any tier of TIER_LIMITS but anonymous)")
    expires_at: float | None = Field(default=None, gt=0, description="epoch seconds; then the tier is registered")


class TaskRequest(Edge):
    month: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$", description="billing: YYYY-MM")
    cursor: str | None = Field(default=None, max_length=512, description="billing: next_cursor of the last call")


class TaskAnswer(Answer):
    task: str
    result: dict[str, Any] = Field(description="what the task did (cleanup: deleted per kind; backup: the backup)")


# -- gateway API keys -------------------------------------------------------------------------------


class ApiKeyRequest(Edge):
    name: str = Field(min_length=1, max_length=64, pattern=KEY_NAME, description="what the key is for")


class ApiKeyView(Answer):
    id: str
    name: str
    prefix: str = Field(description="the secret's first characters (the secret itself is never shown again)")
    created_at: float
    last_used_at: float | None = Field(default=None, description="updated at most once an hour")


class NewApiKeyAnswer(ApiKeyView):
    secret: str = Field(description="sk-gw-…: shown ONCE; send it as Authorization: Bearer on /v1")


class ApiKeyList(Answer):
    keys: list[ApiKeyView]
