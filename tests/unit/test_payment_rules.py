"""The payments' pure rules and settings: plans, the webhook signature, the subscription's state
machine in every order of events, the checkout URL, and production's refusal of a weak webhook secret."""

from __future__ import annotations

import hashlib
import hmac
import itertools

import pytest

from shared.config import Settings
from shared.config_money import Plan, parse_plans
from shared.payment_rules import BadSignature, apply, checkout_url, verify
from shared.secret_checks import InsecureSettings
from shared.stores.base_money import SubscriptionRecord

SECRET = b"whsec_unit_0123456789abcdefghijklmnop"
NOW = 1_800_000_000


def _header(body: bytes, t: int, secret: bytes = SECRET) -> str:
    return f"t={t},v1={hmac.new(secret, f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


def test_plans_from_pairs_or_json_and_refused_when_malformed():
    assert parse_plans("donor-monthly=donor:5:30, lifetime=donor:80:0") == {
        "donor-monthly": Plan("donor-monthly", "donor", 5.0, 30),
        "lifetime": Plan("lifetime", "donor", 80.0, 0),
    }
    assert parse_plans('{"pro": {"tier": "donor", "price": 9.5, "days": 365}}')["pro"].seconds == 365 * 86400
    for bad in ("x=donor:5", "x=anonymous:5:30", "x=donor:-1:30", "Bad Name=donor:5:30", "x", "x=donor:five:30"):
        with pytest.raises(ValueError):
            parse_plans(bad)


def test_the_signature_is_checked_on_the_exact_bytes_within_five_minutes():
    body = b'{"id": "evt_1"}'
    assert verify(SECRET, _header(body, NOW - 300), body, NOW, 300) == NOW - 300
    rotated = f"{_header(body, NOW, b'old-secret-000000000000000000000')},v1=" + _header(body, NOW).split("v1=")[1]
    assert verify(SECRET, rotated, body, NOW, 300) == NOW, "one of several v1 signatures matches"
    refused = [
        None,
        "",
        "t=abc,v1=00",
        f"v1={_header(body, NOW).split('v1=')[1]}",
        _header(body, NOW - 301),
        _header(body, NOW + 301),
        _header(body, NOW, b"another-secret-0000000000000000000"),
        _header(body + b" ", NOW),
        _header(body, NOW).upper().replace("T=", "t=").replace("V1=", "x="),
    ]
    for header in refused:
        with pytest.raises(BadSignature):
            verify(SECRET, header, body, NOW, 300)


def _record(status: str = "pending", activated: float | None = None) -> SubscriptionRecord:
    return SubscriptionRecord("sub_1", "u1", "donor-monthly", "donor", 5.0, 30, status, NOW, activated_at=activated)


def _run(events: list[tuple[str, float]]) -> tuple[str, str | None]:
    """Apply events in this order; the final status and the last tier written (grant/revoke)."""
    record, last_tier = _record(), None
    for kind, at in events:
        change = apply(record, kind, at)
        if change.fields:
            record = SubscriptionRecord(**{**record.__dict__, **change.fields})
        last_tier = change.tier or last_tier
    return record.status, last_tier


def test_completed_then_canceled_in_any_order_ends_without_the_tier():
    events = [("completed", NOW + 10), ("canceled", NOW + 20)]
    for order in itertools.permutations(events):
        status, tier = _run(list(order))
        assert status == "canceled" and tier in ("revoke", None), order


def test_completed_grants_with_the_plans_end_and_refund_after_cancel_is_recorded():
    change = apply(_record(), "completed", NOW + 10)
    assert change.tier == "grant" and change.fields["expires_at"] == NOW + 10 + 30 * 86400
    assert _run([("completed", NOW), ("canceled", NOW + 1), ("refunded", NOW + 2)]) == ("refunded", "revoke")
    assert _run([("refunded", NOW), ("completed", NOW + 1)]) == ("refunded", None), "never re-granted"
    assert apply(_record("active", NOW), "completed", NOW + 5).tier == "grant", "a retried delivery writes it again"
    assert apply(_record(), "invoice.created", NOW).fields is None


def test_the_checkout_url_keeps_the_pages_own_query():
    url = checkout_url("https://pay.example/c?shop=a&x=", "sub_1", "donor-monthly", "u1", "a@b.example")
    assert url == (
        "https://pay.example/c?shop=a&x=&request_id=sub_1&client_reference_id=sub_1&plan=donor-monthly&user=u1"
        "&prefilled_email=a%40b.example"
    )


def test_production_refuses_a_weak_webhook_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("MEDIA_BACKEND", "s3")
    monkeypatch.setenv("SESSION_SECRET", "Zq7-vN2_pL9xR4tB8mK1wY6cH3jD5sF0gA")
    monkeypatch.setenv("TASKS_TOKEN", "tT4-kW9_mQ2zX7cV1bN6hJ3gF8dS5aL0pR")
    monkeypatch.setenv("BYOK_ENCRYPTION_KEY", "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=")
    assert Settings().payment.webhook_secret is None, "optional: unset refuses every webhook"
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", "whsec_short")
    with pytest.raises(InsecureSettings, match="PAYMENT_WEBHOOK_SECRET is shorter than 32 bytes") as raised:
        Settings()
    assert "whsec_short" not in str(raised.value)
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", "whsec_Rk3vQ9mZ2xLp7TnB4cWd8YhF1sJg6uAe")
    assert Settings().payment.webhook_secret is not None
