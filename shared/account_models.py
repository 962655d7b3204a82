"""Requests and answers of the accounts functions (auth, user): pydantic edge models, as in ``shared.models``."""

from __future__ import annotations

from pydantic import Field

from shared.models import Answer, Edge

MODES = "text-to-image, image-to-image, text-to-video, image-to-video or text"


class SessionRequest(Edge):
    id_token: str = Field(min_length=1, max_length=8192, description="a Firebase ID token (anonymous accounts too)")


class AccountAnswer(Answer):
    uid: str
    email: str | None = None
    tier: str = Field(description="anonymous, registered, donor, ...: the user record's, mirrored in the tier claim")
    admin: bool = Field(description="the admin custom claim")
    anonymous: bool = Field(description="a Firebase anonymous account (per browser); linking it keeps the uid")


class SignedOut(Answer):
    signed_out: bool = True


class ModeUsage(Answer):
    generations: int
    cost_units: float


class UserAnswer(Answer):
    uid: str
    email: str | None = None
    tier: str
    tier_expires_at: float | None = Field(default=None, description="epoch seconds; then the tier is registered")
    usage_stats: dict[str, ModeUsage] = Field(description=f"this month's usage per mode ({MODES})")
    rate_limit_overrides: dict[str, int] = Field(description="per-minute limits that win over the tier's")
    monthly_budget_units: float | None = Field(default=None, description="your own monthly spend cap, if set")
    created_at: float | None = None
    last_active: float | None = None


class KeyRequest(Edge):
    api_key: str = Field(min_length=8, max_length=512, pattern=r"^\S+$", description="the provider's API key")


class KeyView(Answer):
    provider: str
    last4: str = Field(description="the key's last 4 characters: the key itself is never shown")
    added_at: float


class KeyList(Answer):
    keys: list[KeyView]


class UsageQuery(Edge):
    month: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; default this month")
    cursor: str | None = Field(default=None, max_length=512, description="next_cursor of the previous page")


class UsageItem(Answer):
    id: str = Field(description="the job id of a media generation; a record id for text")
    at: float
    mode: str
    provider: str
    model: str
    duration_seconds: float
    cost_units: float
    quantity: float
    unit: str = Field(description="images, seconds (video) or tokens (text)")
    cached: bool = False


class UsagePageAnswer(Answer):
    month: str
    items: list[UsageItem]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page; null on the last")


class BillRequest(Edge):
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")


class BillLineAnswer(Answer):
    mode: str
    provider: str
    generations: int
    quantity: float
    unit: str
    cost_units: float


class BillAnswer(Answer):
    month: str
    lines: list[BillLineAnswer]
    by_mode: dict[str, float]
    by_provider: dict[str, float]
    generations: int
    total_units: float = Field(description="cost units per the PRICES table when each generation ran")
