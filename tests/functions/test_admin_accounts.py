"""The admin API's accounts routes through the real ``admin`` function and real accounts on the Auth
emulator: every route refuses a caller who is not signed in (401) or not an admin (403) and serves
an admin; tiers set by an admin reach the user's record and claim; the tasks run.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from shared import wiring
from tests.conftest import function_client

pytestmark = pytest.mark.slow
ADMIN = "/api/v1/admin"


@pytest.fixture
def people(env, firebase, monkeypatch):
    """An admin (the claim, carried by a fresh ID token), a user, and payments set up."""
    monkeypatch.setenv("PAYMENT_CHECKOUT_URL", "https://pay.example/checkout")
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", "whsec_admin_tests_0123456789abcdefghij")
    wiring.reset()
    admin = firebase.sign_up()
    firebase.set_claims(admin.uid, {"admin": True})
    admin = firebase.refresh(admin)
    user = firebase.sign_up()
    for account in (admin, user):  # a user record is made on the first signed-in request
        assert function_client("user").get("/api/v1/user/me", headers=account.bearer).status_code == 200
    return {"admin": admin, "user": user, "firebase": firebase}


def _call(method: str, path: str, headers: dict, **kwargs):
    return function_client("admin").open(f"{ADMIN}{path}", method=method, headers=headers, **kwargs)


def _new_key(user) -> dict:
    made = function_client("user").post("/api/v1/user/api-keys", json={"name": "ci"}, headers=user.bearer)
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def test_every_accounts_route_is_for_admins_only(people):
    admin, user = people["admin"], people["user"]
    guest = people["firebase"].anonymous()
    key = _new_key(user)
    routes = [
        ("GET", "/subscriptions", {}, 200),
        ("GET", f"/users?email={user.email}", {}, 200),
        ("POST", f"/users/{user.uid}/tier", {"json": {"tier": "donor"}}, 200),
        ("POST", "/tasks/cleanup", {"json": {}}, 200),
        ("DELETE", f"/api-keys/{key['id']}", {}, 204),
    ]
    for method, path, kwargs, served in routes:
        nobody = _call(method, path, {}, **kwargs)
        assert nobody.status_code == 401 and nobody.get_json()["error_type"] == "unauthorized", path
        assert _call(method, path, guest.bearer, **kwargs).status_code == 401, f"anonymous account: {path}"
        plain = _call(method, path, user.bearer, **kwargs)
        assert plain.status_code == 403 and plain.get_json()["error_type"] == "forbidden", path
        assert _call(method, path, admin.bearer, **kwargs).status_code == served, path


def test_an_admin_sets_a_tier_the_user_sees_in_auth_me_and_the_claim(people):
    admin, user, firebase = people["admin"], people["user"], people["firebase"]
    ends = time.time() + 7 * 86400
    answer = _call("POST", f"/users/{user.uid}/tier", admin.bearer, json={"tier": "donor", "expires_at": ends})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["tier"] == "donor" and answer.get_json()["tier_expires_at"] == pytest.approx(ends)
    assert firebase.claims(user.uid) == {"tier": "donor"}
    refreshed = firebase.refresh(user)
    me = function_client("auth").get("/api/v1/auth/me", headers=refreshed.bearer).get_json()
    assert me["tier"] == "donor" and me["admin"] is False
    found = _call("GET", f"/users?email={user.email}", admin.bearer).get_json()
    assert found["uid"] == user.uid and found["tier"] == "donor" and found["email"] == user.email

    back = _call("POST", f"/users/{user.uid}/tier", admin.bearer, json={"tier": "registered"})
    assert back.get_json()["tier"] == "registered" and back.get_json()["tier_expires_at"] is None
    assert function_client("auth").get("/api/v1/auth/me", headers=user.bearer).get_json()["tier"] == "registered"
    assert _call("POST", f"/users/{user.uid}/tier", admin.bearer, json={"tier": "anonymous"}).status_code == 422
    assert _call("POST", f"/users/{user.uid}/tier", admin.bearer, json={"tier": "gold"}).status_code == 422
    assert _call("POST", "/users/no-such-uid/tier", admin.bearer, json={"tier": "donor"}).status_code == 404
    assert _call("GET", "/users?email=nobody-here@example.com", admin.bearer).status_code == 404
    assert _call("GET", "/users?email=not-an-email", admin.bearer).status_code == 422


def test_subscriptions_are_paged_newest_first_and_filtered_by_status(people):
    admin, user = people["admin"], people["user"]
    made = []
    for _ in range(3):
        body = {"plan": "donor-monthly"}
        answer = function_client("payments").post("/api/v1/subscribe", json=body, headers=user.bearer)
        made.append(answer.get_json()["request_id"])
        time.sleep(0.01)
    first = _call("GET", "/subscriptions?limit=2", admin.bearer).get_json()
    assert [s["id"] for s in first["subscriptions"]] == made[::-1][:2] and first["next_cursor"]
    second = _call("GET", f"/subscriptions?limit=2&cursor={first['next_cursor']}", admin.bearer).get_json()
    assert [s["id"] for s in second["subscriptions"]] == [made[0]] and second["next_cursor"] is None
    view = second["subscriptions"][0]
    assert (view["uid"], view["plan"], view["tier"], view["status"]) == (user.uid, "donor-monthly", "donor", "pending")
    assert _call("GET", "/subscriptions?status=active", admin.bearer).get_json()["subscriptions"] == []
    assert _call("GET", "/subscriptions?status=gold", admin.bearer).status_code == 422
    assert _call("GET", "/subscriptions?cursor=garbage", admin.bearer).status_code == 422


def test_the_tasks_run_cleanup_billing_and_backup(people):
    admin, user = people["admin"], people["user"]
    text = function_client("generate_text").post("/api/v1/generate/text", json={"prompt": "a fox"}, headers=user.bearer)
    assert text.status_code == 200, text.get_json()
    month = datetime.now(UTC).strftime("%Y-%m")

    cleanup = _call("POST", "/tasks/cleanup", admin.bearer, json={})
    assert cleanup.status_code == 200 and cleanup.get_json()["task"] == "cleanup"
    report = cleanup.get_json()["result"]
    assert report["complete"] is True and "pending_subscriptions" in report["deleted"]

    billing = _call("POST", "/tasks/billing", admin.bearer, json={"month": month})
    assert billing.status_code == 200, billing.get_json()
    run = billing.get_json()["result"]
    assert run["month"] == month and run["users"] == 2 and run["next_cursor"] is None
    assert run["generations"] == 1 and [b["uid"] for b in run["billed"]] == [user.uid]
    assert run["billed"][0]["generations"] == 1 and run["by_mode"] == {"text": run["total_units"]}
    mine = function_client("user").post("/api/v1/user/billing/calculate", json={"month": month}, headers=user.bearer)
    assert mine.get_json()["total_units"] == run["billed"][0]["total_units"], "the same use case"
    assert _call("POST", "/tasks/billing", admin.bearer, json={}).status_code == 422, "billing needs a month"
    assert _call("POST", "/tasks/billing", admin.bearer, json={"month": "2027-13"}).status_code == 422

    backup = _call("POST", "/tasks/backup", admin.bearer, json={})
    assert backup.status_code == 200, backup.get_json()
    made = backup.get_json()["result"]
    assert made["kind"] == "sqlite" and made["name"].startswith("gateway-")
    assert _call("POST", "/tasks/reindex", admin.bearer, json={}).status_code == 404


def test_an_admin_revokes_any_users_key(people):
    admin, user = people["admin"], people["user"]
    key = _new_key(user)
    assert _call("DELETE", f"/api-keys/{key['id']}", admin.bearer).status_code == 204
    assert function_client("user").get("/api/v1/user/api-keys", headers=user.bearer).get_json()["keys"] == []
    assert _call("DELETE", f"/api-keys/{key['id']}", admin.bearer).status_code == 404
