"""Fair use through the real HTTP apps: tiers, grace, headers, halving, abuse, queue depth."""

from __future__ import annotations

import threading

import pytest

from shared import wiring
from shared.config import Settings
from shared.stores.base import UserRecord
from tests.conftest import function_client
from tests.fakes.clock import FakeClock

T2I = "/api/v1/generate/text-to-image"


def _fire(count: int, headers: dict | None = None, environ: dict | None = None) -> list:
    """``count`` submits at once, each from its own client and thread."""
    responses: list = [None] * count
    barrier = threading.Barrier(count)

    def one(index: int) -> None:
        client = function_client("generate_text_to_image")
        barrier.wait()
        responses[index] = client.post(
            T2I, json={"prompt": f"p{index}"}, headers=headers or {}, environ_base=environ or {}
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses


def _statuses(responses) -> list[int]:
    return sorted(r.status_code for r in responses)


def _frozen_time() -> FakeClock:
    clock = FakeClock()
    wiring.install(wiring.Gateway(Settings(), clock))
    return clock


def test_twenty_at_once_from_a_new_visitor_admits_exactly_eight(env):
    _frozen_time()
    responses = _fire(20)
    assert _statuses(responses) == [202] * 8 + [429] * 12
    for response in responses:
        assert response.headers["RateLimit-Policy"] == '"anonymous";q=3;w=60'
        assert response.headers["RateLimit"].startswith('"anonymous";r=')
    refused = [r for r in responses if r.status_code == 429]
    for response in refused:
        body = response.get_json()
        assert body["error_type"] == "rate_limited" and body["donation_link"] == "/donate"
        assert body["retry_after"] == 20 and response.headers["Retry-After"] == "20"
        assert "20 seconds" in body["message"] and "Signing in or donating" in body["message"]
        assert response.headers["RateLimit"] == '"anonymous";r=0;t=60'
    assert wiring.gateway().jobs.counts() == (8, 0), "refused requests store nothing"


def test_headers_show_grace_then_the_draining_bucket(client):
    _frozen_time()
    fn = client("generate_text_to_image")
    seen = [fn.post(T2I, json={"prompt": "x"}).headers["RateLimit"] for _ in range(7)]
    assert seen[:5] == ['"anonymous";r=3;t=0'] * 5
    assert seen[5:] == ['"anonymous";r=2;t=20', '"anonymous";r=1;t=40']


def test_a_donor_gets_five_plus_ten(firebase):
    _frozen_time()
    donor = firebase.sign_up()
    wiring.gateway().users.put(UserRecord(donor.uid, tier="donor"))  # the record is the tier's source of truth
    responses = _fire(20, headers=donor.bearer)
    assert _statuses(responses) == [202] * 15 + [429] * 5
    assert responses[0].headers["RateLimit-Policy"] == '"donor";q=10;w=60'
    refused = next(r for r in responses if r.status_code == 429).get_json()
    assert "donor" in refused["message"] and "Signing in" not in refused["message"]


def test_the_user_record_overrides_tier_and_limit(firebase):
    vip = firebase.sign_up()
    firebase.set_claims(vip.uid, {"tier": "donor"})  # a stale claim: the record wins
    wiring.gateway().users.put(UserRecord(vip.uid, tier="registered", limit_override=2))
    responses = _fire(10, headers=firebase.refresh(vip).bearer)
    assert _statuses(responses) == [202] * 7 + [429] * 3
    assert responses[0].headers["RateLimit-Policy"] == '"registered";q=2;w=60'


def test_a_forged_session_is_just_an_anonymous_visitor(client):
    response = client("generate_text_to_image").post(
        T2I, json={"prompt": "x"}, headers={"Authorization": "Bearer forged.token"}
    )
    assert response.status_code == 202 and response.headers["RateLimit-Policy"].startswith('"anonymous"')


def test_load_above_the_threshold_halves_limits(env, monkeypatch):
    monkeypatch.setenv("QUEUE_CAPACITY", "2")
    wiring.reset()
    fn = function_client("generate_text_to_image")
    for address in ("10.0.0.1", "10.0.0.2"):
        assert fn.post(T2I, json={"prompt": "fill"}, environ_base={"REMOTE_ADDR": address}).status_code == 202
    assert function_client("health").get("/api/v1/health").get_json()["load"] == 1.0
    statuses = [fn.post(T2I, json={"prompt": "x"}).status_code for _ in range(8)]
    assert statuses == [202] * 6 + [429] * 2  # 5 grace + half of 3 (rounded down, never below 1)
    refused = fn.post(T2I, json={"prompt": "x"})
    assert refused.headers["RateLimit-Policy"] == '"anonymous";q=1;w=60'
    assert "halved" in refused.get_json()["message"]


def test_abusive_address_is_blocked_and_unblocked_when_the_block_expires(env, monkeypatch):
    monkeypatch.setenv("ABUSE_REFUSALS", "3")
    monkeypatch.setenv("ABUSE_BLOCK_SECONDS", "60,300")
    clock = _frozen_time()
    fn = function_client("generate_text_to_image")
    statuses = [fn.post(T2I, json={"prompt": "x"}).status_code for _ in range(10)]
    assert statuses == [202] * 8 + [429, 429]
    blocked = fn.post(T2I, json={"prompt": "x"})  # the third refusal starts the block
    assert blocked.status_code == 429 and blocked.get_json()["error_type"] == "abuse_blocked"
    again = fn.post(T2I, json={"prompt": "x"})
    assert again.get_json()["error_type"] == "abuse_blocked" and again.get_json()["retry_after"] == 60
    assert int(again.headers["Retry-After"]) == 60
    assert again.headers["RateLimit-Policy"] == '"anonymous";q=3;w=60'
    assert again.headers["RateLimit"] == '"anonymous";r=0;t=60'
    other = fn.post(T2I, json={"prompt": "x"}, environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert other.status_code == 202, "other addresses are not affected"
    clock.advance(61)
    assert fn.post(T2I, json={"prompt": "x"}).status_code == 202


def test_the_queue_past_its_depth_answers_503_with_growing_retry(env, monkeypatch):
    monkeypatch.setenv("MAX_QUEUE_DEPTH", "2")
    wiring.reset()
    fn = function_client("generate_text_to_image")
    for address in ("10.0.0.1", "10.0.0.2"):
        assert fn.post(T2I, json={"prompt": "fill"}, environ_base={"REMOTE_ADDR": address}).status_code == 202
    busy = fn.post(T2I, json={"prompt": "x"})
    body = busy.get_json()
    assert busy.status_code == 503 and body["error_type"] == "server_busy"
    assert body["retry_after"] >= 5 and busy.headers["Retry-After"] == str(body["retry_after"])
    assert body["donation_link"] == "/donate"
    assert busy.headers["RateLimit"] == f'"anonymous";r=0;t={body["retry_after"]}'
    assert wiring.gateway().jobs.counts() == (2, 0)
    after = fn.post(T2I, json={"prompt": "x"}, environ_base={"REMOTE_ADDR": "10.0.0.3"})
    assert after.status_code == 503 and after.get_json()["retry_after"] >= 5


def test_text_has_its_own_bucket(client):
    fn = client("generate_text_to_image")
    for _ in range(8):
        fn.post(T2I, json={"prompt": "x"})
    assert fn.post(T2I, json={"prompt": "x"}).status_code == 429
    text = client("generate_text").post("/api/v1/generate/text", json={"prompt": "hi"})
    assert text.status_code == 200
    assert text.headers["RateLimit-Policy"] == '"text-anonymous";q=10;w=60'


@pytest.mark.parametrize(("hops", "distinct"), [(0, False), (1, True)])
def test_forwarded_for_is_trusted_only_as_far_as_configured(env, monkeypatch, hops, distinct):
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", str(hops))
    monkeypatch.setenv("GRACE_REQUESTS", "0")
    monkeypatch.setenv("TIER_LIMITS", "anonymous=1")
    wiring.reset()
    fn = function_client("generate_text_to_image")
    first = fn.post(T2I, json={"prompt": "x"}, headers={"X-Forwarded-For": "1.1.1.1"})
    second = fn.post(T2I, json={"prompt": "x"}, headers={"X-Forwarded-For": "2.2.2.2"})
    assert first.status_code == 202
    assert (second.status_code == 202) is distinct


def test_failing_providers_raise_the_load_and_halve_limits(env):
    gw = wiring.gateway()
    breaker = gw.providers.breaker
    for _ in range(breaker.policy.threshold):
        breaker.failed("local")
    health = function_client("health").get("/api/v1/health").get_json()
    assert health["load"] == 1.0
    assert {p["name"]: p["state"] for p in health["providers"]}["local"] == "open"
    response = function_client("generate_text_to_image").post(T2I, json={"prompt": "x"})
    assert response.headers["RateLimit-Policy"] == '"anonymous";q=1;w=60'


def _from(address: str):
    return function_client("generate_text_to_image").post(
        T2I, json={"prompt": "x"}, environ_base={"REMOTE_ADDR": address}
    )


def test_addresses_of_one_ipv6_64_share_one_bucket(env):
    _frozen_time()
    statuses = [_from(f"2001:db8:1:2::{i:x}").status_code for i in range(1, 21)]
    assert statuses == [202] * 8 + [429] * 12, "20 addresses of one /64 are one caller"
    assert _from("2001:db8:1:3::1").status_code == 202, "the next /64 is someone else"
    assert _from("::ffff:192.0.2.1").status_code == 202
    assert [_from("192.0.2.1").status_code for _ in range(7)] == [202] * 7, "IPv4-mapped is the IPv4 address"
    assert _from("192.0.2.1").status_code == 429


def test_the_ipv6_prefix_is_configurable(env, monkeypatch):
    monkeypatch.setenv("IPV6_PREFIX_LENGTH", "128")
    _frozen_time()
    assert {_from(f"2001:db8:1:2::{i:x}").status_code for i in range(1, 21)} == {202}


def test_an_abuse_block_covers_the_whole_ipv6_64(env, monkeypatch):
    monkeypatch.setenv("ABUSE_REFUSALS", "3")
    _frozen_time()
    for i in range(1, 12):
        _from(f"2001:db8:9:9::{i:x}")
    blocked = _from("2001:db8:9:9:ffff:ffff:ffff:ffff")
    assert blocked.status_code == 429 and blocked.get_json()["error_type"] == "abuse_blocked"
    assert _from("2001:db8:9:a::1").status_code == 202
