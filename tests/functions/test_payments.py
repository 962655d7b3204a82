"""Payments through the real ``payments`` function and real accounts on the Firebase Auth emulator:
subscribe -> the checkout URL, and the signed webhook (good, bad, missing and stale signatures,
replays, canceled before completed, refunds, an expiry passing).

The webhook is signed here the way a payment provider signs it (Stripe's scheme), with the test's
own HMAC, not the product's signer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from shared import wiring
from shared.stores.base_money import SubscriptionRecord
from tests.conftest import function_client

pytestmark = pytest.mark.slow
SECRET = "whsec_test_0123456789abcdefghijklmnopqrstuvwxyz"
CHECKOUT = "https://pay.example/checkout?shop=aiart"
SUBSCRIBE = "/api/v1/subscribe"
WEBHOOK = "/api/v1/webhooks/payment"
DAY = 86400.0


@pytest.fixture
def payments(env, firebase, monkeypatch):
    monkeypatch.setenv("PAYMENT_CHECKOUT_URL", CHECKOUT)
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("PAYMENT_PLANS", "donor-monthly=donor:5:30,donor-forever=donor:80:0")
    wiring.reset()
    return firebase


def _signature(body: bytes, at: float | None = None, secret: str = SECRET) -> str:
    t = int(time.time() if at is None else at)
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


def _event(event_id: str, kind: str, request_id: str, created: float | None = None, **data) -> bytes:
    created = time.time() if created is None else created
    body = {"id": event_id, "type": kind, "created": int(created), "data": {"request_id": request_id, **data}}
    return json.dumps(body).encode()


def _deliver(body: bytes, signature: str | None = "sign"):
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = _signature(body)
    if signature is not None:
        headers["X-Signature"] = signature
    return function_client("payments").post(WEBHOOK, data=body, headers=headers)


def _subscribe(user, plan: str = "donor-monthly"):
    return function_client("payments").post(SUBSCRIBE, json={"plan": plan}, headers=user.bearer)


def _request_id(user, plan: str = "donor-monthly") -> str:
    answer = _subscribe(user, plan)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["request_id"]


def _me(user) -> dict:
    answer = function_client("user").get("/api/v1/user/me", headers=user.bearer)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _subscription(request_id: str) -> SubscriptionRecord:
    record = wiring.gateway().stores.subscriptions.get(request_id)
    assert record is not None
    return record


def test_subscribe_records_a_pending_request_and_answers_the_checkout_url(payments):
    user = payments.sign_up()
    plans = function_client("payments").get("/api/v1/plans").get_json()
    assert plans["checkout"] is True
    assert {(p["name"], p["tier"], p["price"], p["days"]) for p in plans["plans"]} == {
        ("donor-monthly", "donor", 5.0, 30),
        ("donor-forever", "donor", 80.0, 0),
    }
    answer = _subscribe(user)
    assert answer.status_code == 200, answer.get_json()
    url = urlsplit(answer.get_json()["checkout_url"])
    query = parse_qs(url.query)
    request_id = answer.get_json()["request_id"]
    assert (url.scheme, url.netloc, url.path) == ("https", "pay.example", "/checkout")
    assert query["shop"] == ["aiart"], "the page's own parameters stay"
    assert query["request_id"] == [request_id] and query["client_reference_id"] == [request_id]
    assert query["plan"] == ["donor-monthly"] and query["user"] == [user.uid]
    assert query["prefilled_email"] == [user.email]
    pending = _subscription(request_id)
    assert (pending.status, pending.user_id, pending.tier, pending.days) == ("pending", user.uid, "donor", 30)

    assert _subscribe(user, "gold").status_code == 422
    assert function_client("payments").post(SUBSCRIBE, json={"plan": "donor-monthly"}).status_code == 401
    guest = payments.anonymous()
    assert _subscribe(guest).status_code == 401, "an anonymous account cannot hold a tier"


def test_without_a_checkout_page_or_a_webhook_secret_payments_are_off(env, firebase, monkeypatch):
    monkeypatch.delenv("PAYMENT_CHECKOUT_URL", raising=False)
    monkeypatch.delenv("PAYMENT_WEBHOOK_SECRET", raising=False)
    wiring.reset()
    off = _subscribe(firebase.sign_up())
    assert off.status_code == 503 and off.get_json()["error_type"] == "payments_unavailable"
    assert off.headers["Retry-After"] == "3600"
    refused = _deliver(_event("evt_1", "completed", "sub_x"))
    assert refused.status_code == 400 and refused.get_json()["error_type"] == "bad_signature"
    assert "PAYMENT_WEBHOOK_SECRET" in refused.get_json()["message"]


def test_a_completed_payment_sets_the_tier_and_its_end_and_a_replay_changes_nothing(payments):
    user = payments.sign_up()
    request_id = _request_id(user)
    paid_at = time.time() - 60
    body = _event("evt_paid_1", "checkout.completed", request_id, created=paid_at)
    answer = _deliver(body)
    assert answer.status_code == 200 and answer.get_json() == {"received": True, "result": "processed"}
    me = _me(user)
    assert me["tier"] == "donor" and me["tier_expires_at"] == pytest.approx(int(paid_at) + 30 * DAY)
    assert payments.claims(user.uid) == {"tier": "donor"}, "mirrored into the custom claim"
    auth_me = function_client("auth").get("/api/v1/auth/me", headers=payments.refresh(user).bearer).get_json()
    assert auth_me["tier"] == "donor"
    record = _subscription(request_id)
    assert record.status == "active" and record.activated_at == int(paid_at)

    wiring.services().accounts.set_tier(user.uid, "registered")  # changed since (by an admin, say)
    replay = _deliver(body)  # the provider delivers the same event again, freshly signed
    assert replay.status_code == 200 and replay.get_json()["result"] == "replay"
    assert _me(user)["tier"] == "registered", "a replay changes nothing"


def test_bad_missing_and_stale_signatures_are_refused_and_change_nothing(payments):
    user = payments.sign_up()
    request_id = _request_id(user)
    body = _event("evt_forged", "completed", request_id)
    refusals = {
        "wrong secret": _deliver(body, _signature(body, secret="whsec_someone_else_0123456789abcdef")),
        "missing": _deliver(body, None),
        "garbled": _deliver(body, "v1=deadbeef"),
        "stale": _deliver(body, _signature(body, at=time.time() - 301)),
        "future": _deliver(body, _signature(body, at=time.time() + 301)),
        "tampered": _deliver(body.replace(b"completed", b"completed "), _signature(body)),
    }
    for case, answer in refusals.items():
        envelope = answer.get_json()
        assert answer.status_code == 400, case
        assert envelope["success"] is False and envelope["error_type"] == "bad_signature", case
        assert envelope["request_id"] and "message" in envelope, case
    assert _subscription(request_id).status == "pending"
    assert _me(user)["tier"] == "registered"
    assert _deliver(body).get_json()["result"] == "processed", "the same event, signed, is still processed"
    assert _me(user)["tier"] == "donor"


def test_canceled_delivered_before_completed_never_grants_the_tier(payments):
    user = payments.sign_up()
    request_id = _request_id(user)
    now = time.time()
    completed = _event("evt_done", "completed", request_id, created=now - 120)
    canceled = _event("evt_cancel", "canceled", request_id, created=now - 60)
    assert _deliver(canceled).get_json()["result"] == "processed"
    assert _subscription(request_id).status == "canceled"
    assert _deliver(completed).status_code == 200
    assert _subscription(request_id).status == "canceled", "canceled is final"
    assert _me(user)["tier"] == "registered"
    assert payments.claims(user.uid).get("tier") in (None, "registered")


def test_cancel_and_refund_set_the_tier_back(payments):
    user = payments.sign_up()
    first, second = _request_id(user), _request_id(user, "donor-forever")
    assert _deliver(_event("evt_a1", "completed", first)).status_code == 200
    assert _me(user)["tier"] == "donor"
    assert _deliver(_event("evt_a2", "subscription.canceled", first)).get_json()["result"] == "processed"
    me = _me(user)
    assert me["tier"] == "registered" and me["tier_expires_at"] is None
    assert payments.claims(user.uid) == {"tier": "registered"}

    assert _deliver(_event("evt_b1", "completed", second)).status_code == 200
    me = _me(user)
    assert me["tier"] == "donor" and me["tier_expires_at"] is None, "a plan of 0 days does not end"
    assert _deliver(_event("evt_b2", "charge.refunded", second)).status_code == 200
    assert _me(user)["tier"] == "registered" and _subscription(second).status == "refunded"
    unknown = _deliver(_event("evt_b3", "invoice.created", second))
    assert unknown.status_code == 200 and unknown.get_json()["result"] == "ignored"


def test_an_expiry_passing_sets_the_tier_back(payments):
    user = payments.sign_up()
    request_id = _request_id(user)
    long_ago = time.time() - 31 * DAY  # paid 31 days ago for 30 days (a late delivery)
    assert _deliver(_event("evt_old", "completed", request_id, created=long_ago)).status_code == 200
    me = _me(user)
    assert me["tier"] == "registered" and me["tier_expires_at"] == pytest.approx(int(long_ago) + 30 * DAY)
    assert function_client("auth").get("/api/v1/auth/me", headers=user.bearer).get_json()["tier"] == "registered"


def test_an_event_for_a_request_we_no_longer_have_is_made_from_the_event(payments):
    user = payments.sign_up()
    body = _event("evt_late", "completed", "sub_purged_long_ago", user=user.uid, plan="donor-monthly")
    assert _deliver(body).get_json()["result"] == "processed"
    assert _me(user)["tier"] == "donor" and _subscription("sub_purged_long_ago").status == "active"
    nobody = _deliver(_event("evt_nobody", "completed", "sub_nobody"))
    assert nobody.status_code == 200 and nobody.get_json()["result"] == "ignored"
    bad = _deliver(b"not json")
    assert bad.status_code == 400 and bad.get_json()["error_type"] == "bad_event", "signed, but no event"


def test_cleanup_purges_pending_requests_older_than_a_week(payments):
    subs = wiring.gateway().stores.subscriptions
    now = time.time()
    for number, (age, status) in enumerate([(8 * DAY, "pending"), (6 * DAY, "pending"), (8 * DAY, "active")]):
        subs.create(SubscriptionRecord(f"sub_{number}", "u1", "donor-monthly", "donor", 5.0, 30, status, now - age))
    report = wiring.services().cleanup.run()
    assert report.deleted["pending_subscriptions"] == 1
    assert subs.get("sub_0") is None and subs.get("sub_1") is not None and subs.get("sub_2") is not None
