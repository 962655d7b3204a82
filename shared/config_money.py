"""Settings of payments (``PAYMENT_*``): a nested model of ``Settings``, read like the vendor settings
(``PAYMENT_CHECKOUT_URL`` -> ``payment.checkout_url``). README "Payments" explains each one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"


@dataclass(frozen=True)
class Plan:
    """What a subscription buys: ``tier`` for ``days`` (0: no end), for ``price`` in the settings' currency."""

    name: str
    tier: str
    price: float
    days: int

    @property
    def seconds(self) -> float | None:
        return self.days * 86400.0 if self.days else None


def _plan(name: str, value: object) -> Plan:
    """``tier:price:days`` or ``{"tier", "price", "days"}`` -> a Plan (ValueError when malformed)."""
    import re

    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 3:
            raise ValueError(f"plan {name!r}: write it as name=tier:price:days")
        value = {"tier": parts[0], "price": parts[1], "days": parts[2]}
    if not isinstance(value, dict) or not re.match(_NAME, name):
        raise ValueError(f"plan {name!r}: a name of lowercase letters, digits, - or _, and tier, price, days")
    tier, price, days = str(value.get("tier", "")).strip(), float(value.get("price", -1)), int(value.get("days", -1))
    if not re.match(_NAME, tier) or tier == "anonymous" or price < 0 or days < 0:
        raise ValueError(f"plan {name!r}: a tier other than anonymous, a price >= 0 and days >= 0 (0: no end)")
    return Plan(name, tier, price, days)


def parse_plans(value: object) -> dict[str, Plan]:
    """``name=tier:price:days,...`` or JSON ``{"name": {"tier", "price", "days"}}``."""
    if isinstance(value, dict) and all(isinstance(p, Plan) for p in value.values()):
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        value = json.loads(value)
    if isinstance(value, str):
        pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("write PAYMENT_PLANS as name=tier:price:days,... or JSON")
        value = {name.strip(): spec.strip() for name, spec in pairs}
    if not isinstance(value, dict):
        raise ValueError("PAYMENT_PLANS is a list of plans")
    return {name: _plan(name, spec) for name, spec in value.items()}


class PaymentSettings(BaseModel):
    """``PAYMENT_*``: the checkout page, the webhook's secret, the plans."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # the external payment page; the request id, plan and user are added as query parameters
    checkout_url: str = Field(default="", pattern=r"^(https?://[^\s#]+)?$")
    webhook_secret: SecretStr | None = None  # HMAC-SHA256 key of X-Signature; unset: every webhook refused
    webhook_tolerance_seconds: int = Field(default=300, ge=10, le=300)  # a signature's t may be this old
    plans: Annotated[dict[str, Plan], NoDecode] = Field(
        default_factory=lambda: parse_plans("donor-monthly=donor:5:30,donor-yearly=donor:50:365")
    )
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    @field_validator("plans", mode="before")
    @classmethod
    def _plans(cls, value: object) -> dict[str, Plan]:
        return parse_plans(value)

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def production_secrets(self) -> dict[str, tuple[str | None, bool]]:
        """For ``shared.secret_checks.production_problems``: optional (unset: webhooks refused), never weak."""
        if self.webhook_secret is None:
            return {}
        return {"PAYMENT_WEBHOOK_SECRET": (self.webhook_secret.get_secret_value(), False)}
