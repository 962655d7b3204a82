"""The user function: own provider keys checked with the vendor, usage by month, the monthly bill.

Real accounts on the Firebase Auth emulator; the fake vendor servers stand in for the vendors.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import function_client
from tests.functions.test_byok_and_cache import fakes, gateway  # noqa: F401, F811 - fixtures

pytestmark = pytest.mark.slow
KEYS = "/api/v1/user/keys"
USAGE = "/api/v1/user/usage"
OWN_KEY = "sk-user-own-key-1234"


def _user_call(method: str, path: str, headers: dict, **kwargs):
    return function_client("user").open(path, method=method, headers=headers, **kwargs)


def test_an_own_key_is_checked_with_the_vendor_stored_listed_without_the_key_and_removed(firebase, gateway, fakes):  # noqa: F811
    gateway()
    user = firebase.sign_up()
    fakes["openai"].keys.add(OWN_KEY)
    stored = _user_call("PUT", f"{KEYS}/openai", user.bearer, json={"api_key": OWN_KEY})
    assert stored.status_code == 200, stored.get_json()
    assert stored.get_json()["provider"] == "openai" and stored.get_json()["last4"] == "1234"
    assert [s.path for s in fakes["openai"].calls("/v1/models")] == ["/v1/models"], "one cheap check call"
    listed = _user_call("GET", KEYS, user.bearer)
    assert [(k["provider"], k["last4"]) for k in listed.get_json()["keys"]] == [("openai", "1234")]
    assert OWN_KEY not in listed.get_data(as_text=True) and OWN_KEY not in stored.get_data(as_text=True)

    rejected = _user_call("PUT", f"{KEYS}/openai", user.bearer, json={"api_key": "sk-not-a-real-key-0000"})
    assert rejected.status_code == 422 and rejected.get_json()["error_type"] == "key_rejected"
    assert "rejected this API key" in rejected.get_json()["message"]
    assert [k["last4"] for k in _user_call("GET", KEYS, user.bearer).get_json()["keys"]] == ["1234"], "kept"
    fakes["openai"].exhausted.add("sk-out-of-credit-5555")
    fakes["openai"].keys.add("sk-out-of-credit-5555")
    broke = _user_call("PUT", f"{KEYS}/openai", user.bearer, json={"api_key": "sk-out-of-credit-5555"})
    assert broke.status_code == 422 and "out of credit" in broke.get_json()["message"]

    assert _user_call("PUT", f"{KEYS}/acme", user.bearer, json={"api_key": OWN_KEY}).status_code == 404
    assert _user_call("DELETE", f"{KEYS}/openai", user.bearer).status_code == 204
    assert _user_call("GET", KEYS, user.bearer).get_json()["keys"] == []
    assert _user_call("DELETE", f"{KEYS}/openai", user.bearer).status_code == 404
    assert _user_call("GET", KEYS, {}).status_code == 401
    guest = firebase.anonymous()
    assert _user_call("PUT", f"{KEYS}/openai", guest.bearer, json={"api_key": OWN_KEY}).status_code == 401


def _text(headers: dict, prompt: str) -> dict:
    answer = function_client("generate_text").post("/api/v1/generate/text", json={"prompt": prompt}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_usage_months_end_at_midnight_pages_go_newest_first_and_the_bill_adds_up(
    firebase, gateway, run_job, monkeypatch  # noqa: F811
):
    clock = gateway(USAGE_PAGE_SIZE="2")
    user = firebase.sign_up()
    clock.advance(datetime(2027, 1, 31, 23, 58, tzinfo=UTC).timestamp() - clock.now())
    _text(user.bearer, "january one")
    clock.advance(5)
    submitted = function_client("generate_text_to_image").post(
        "/api/v1/generate/text-to-image", json={"prompt": "a fox"}, headers=user.bearer
    )
    run_job(submitted.get_json()["job_id"])
    clock.advance(30)
    _text(user.bearer, "january two")
    clock.advance(120)  # 2027-02-01 00:00:30
    _text(user.bearer, "february")

    first = _user_call("GET", f"{USAGE}?month=2027-01", user.bearer).get_json()
    assert first["month"] == "2027-01" and len(first["items"]) == 2 and first["next_cursor"]
    second = _user_call("GET", f"{USAGE}?month=2027-01&cursor={first['next_cursor']}", user.bearer).get_json()
    assert second["next_cursor"] is None
    january = first["items"] + second["items"]
    assert [i["mode"] for i in january] == ["text", "text-to-image", "text"], "newest first"
    assert [i["at"] for i in january] == sorted((i["at"] for i in january), reverse=True)
    image = january[1]
    assert image["provider"] == "stability" and image["cost_units"] == 3.0 and image["quantity"] == 1
    assert {i["unit"] for i in january} == {"tokens", "images"}
    february = _user_call("GET", f"{USAGE}?month=2027-02", user.bearer).get_json()
    assert [i["mode"] for i in february["items"]] == ["text"] and february["next_cursor"] is None

    bill = _user_call("POST", "/api/v1/user/billing/calculate", user.bearer, json={"month": "2027-01"}).get_json()
    text_units = sum(i["cost_units"] for i in january if i["mode"] == "text")
    assert text_units > 0, "text is priced per 1K tokens"
    assert bill["generations"] == 3 and bill["by_mode"] == {"text": pytest.approx(text_units), "text-to-image": 3.0}
    assert bill["by_provider"] == {"openai": pytest.approx(text_units), "stability": 3.0}
    assert bill["total_units"] == pytest.approx(3.0 + text_units)
    lines = {(line["mode"], line["provider"]): line for line in bill["lines"]}
    assert lines[("text", "openai")]["generations"] == 2 and lines[("text", "openai")]["unit"] == "tokens"

    bad = _user_call("GET", f"{USAGE}?month=2027-13", user.bearer)
    assert bad.status_code == 422
    assert _user_call("GET", f"{USAGE}?cursor=garbage", user.bearer).status_code == 422
    assert _user_call("GET", USAGE, {}).status_code == 401
