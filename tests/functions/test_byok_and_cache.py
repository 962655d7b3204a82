"""BYOK and the response cache through the real pipeline, against the fake vendor servers.

A signed-in user's own key serves that user's jobs and text requests with that key ONLY: no
platform key, no other provider, and its failures are reported as the key's. Identical text
requests within the TTL and identical media submits within the window never reach the vendor
again: the fakes count every request they get. One fake clock for the gateway and the fakes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest

from shared import wiring
from shared.secretbox import KeyCipher
from tests.auth_emulator import NamedUsers
from tests.fakes.clock import FakeClock
from tests.fakes.openai import OpenAIFake
from tests.fakes.pipeline import install_gateway, serve
from tests.fakes.server import FakeVendor
from tests.fakes.stability import StabilityFake
from tests.helpers import png

pytestmark = pytest.mark.slow
T2I = "/api/v1/generate/text-to-image"
I2I = "/api/v1/generate/image-to-image"
TEXT = "/api/v1/generate/text"
USER_KEY = "sk-alice-own-key-7f3a9c2e"
PRICES = "stability/core=3,openai/chat-test=0.05,openai/image-test=2"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeVendor]]:
    yield from serve(stability=StabilityFake, openai=OpenAIFake)


@pytest.fixture
def gateway(env, monkeypatch: pytest.MonkeyPatch, fakes: dict[str, FakeVendor]) -> Callable[..., FakeClock]:
    def install(**settings: str) -> FakeClock:
        defaults = {
            "STABILITY_API_KEYS": "good-key",
            "STABILITY_BASE_URL": fakes["stability"].url,
            "OPENAI_API_KEYS": "good-key",
            "OPENAI_BASE_URL": f"{fakes['openai'].url}/v1",
            "OPENAI_TEXT_MODEL": "chat-test",
            "OPENAI_TEXT_TO_IMAGE_MODEL": "image-test",
            "ROUTE_TEXT_TO_IMAGE": "stability,local",
            "ROUTE_TEXT": "openai,local",
            "PRICES": PRICES,
            "TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
            "TEXT_TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
            "PROVIDER_MAX_RETRIES": "0",
        }
        return install_gateway(monkeypatch, fakes, defaults, settings)

    return install


USERS: list[NamedUsers] = []


@pytest.fixture(autouse=True)
def _accounts(named_users: NamedUsers) -> Iterator[None]:
    """alice and bob are real accounts on the Firebase Auth emulator."""
    USERS.append(named_users)
    yield
    USERS.clear()


def _uid(name: str = "alice") -> str:
    return USERS[0].uid(name)


def _signed_in(user_id: str = "alice") -> dict[str, str]:
    return USERS[0].bearer(user_id)


def _store_key(provider: str, key: str = USER_KEY, user_id: str = "alice") -> None:
    wiring.gateway().user_keys.put_key(_uid(user_id), provider, key, wiring.gateway().clock.now())


def _submit(client, path: str = T2I, headers: dict | None = None, **body):
    return client("generate_text_to_image").post(path, json={"prompt": "a red fox", **body}, headers=headers or {})


def _job(client, run_job, headers: dict | None = None, **body) -> dict:
    response = _submit(client, headers=headers, **body)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    run_job(job_id)
    return client("jobs").get(f"/api/v1/jobs/{job_id}", headers=headers or {}).get_json()


def _text(client, headers: dict | None = None, **body):
    return client("generate_text").post(TEXT, json={"prompt": "a castle", **body}, headers=headers or {})


def _posts(fake: FakeVendor) -> list:
    return [s for s in fake.seen if s.method == "POST"]


def _no_secret_anywhere(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture, *answers: object) -> None:
    out, err = capfd.readouterr()
    logged = out + err + "".join(repr(r.__dict__) for r in caplog.records)
    assert USER_KEY not in logged
    for answer in answers:
        assert USER_KEY not in json.dumps(answer, default=repr)


# -- BYOK -------------------------------------------------------------------------------------


def test_a_users_own_key_serves_their_job_and_the_platform_pays_nothing(client, run_job, gateway, fakes):
    gateway()
    fakes["stability"].keys.add(USER_KEY)
    _store_key("stability")
    job = _job(client, run_job, _signed_in())
    assert job["status"] == "succeeded" and job["provider"] == "stability"
    assert [s.key for s in _posts(fakes["stability"])] == [USER_KEY]
    stored = wiring.gateway().jobs.get(job["job_id"])
    assert stored.cost_units == 0 and USER_KEY not in repr(stored)
    anonymous = _job(client, run_job)  # everyone else still uses the platform's key
    assert anonymous["provider"] == "stability" and _posts(fakes["stability"])[-1].key == "good-key"


def test_a_rejected_user_key_fails_the_job_as_such_without_any_fallback(client, run_job, gateway, fakes, caplog, capfd):
    gateway(STABILITY_API_KEYS="good-key,second-key")
    caplog.set_level(logging.DEBUG)
    _store_key("stability")  # the fake does not know this key: 401
    headers = _signed_in()
    job = _job(client, run_job, headers)
    assert job["status"] == "failed" and job["provider"] is None
    assert job["error"]["error_type"] == "user_key_rejected"
    assert "your own API key" in job["error"]["message"] and "stability" in job["error"]["message"]
    assert [s.key for s in _posts(fakes["stability"])] == [USER_KEY]  # no platform key, no local
    stored = wiring.gateway().jobs.get(job["job_id"])
    _no_secret_anywhere(caplog, capfd, job, repr(stored), client("jobs").get("/api/v1/jobs", headers=headers).json)


def test_a_user_key_out_of_credit_is_reported_and_never_replaced_by_ours(client, gateway, fakes, caplog, capfd):
    gateway()
    caplog.set_level(logging.DEBUG)
    fakes["openai"].keys.add(USER_KEY)
    fakes["openai"].exhausted.add(USER_KEY)
    _store_key("openai")
    refused = _text(client, _signed_in())
    body = refused.get_json()
    assert refused.status_code == 424 and body["error_type"] == "user_key_rejected"
    assert "out of credit" in body["message"] and "vendor says" not in body["message"]
    assert [s.key for s in _posts(fakes["openai"])] == [USER_KEY]  # not good-key, not local
    streamed = _text(client, _signed_in(), stream=True)
    assert streamed.status_code == 424 and streamed.get_json()["error_type"] == "user_key_rejected"
    assert [s.key for s in _posts(fakes["openai"])] == [USER_KEY, USER_KEY]
    _no_secret_anywhere(caplog, capfd, body, streamed.get_json())


def test_a_user_key_rate_limited_midway_through_a_stream_is_not_replaced(client, gateway, fakes):
    gateway()
    fakes["openai"].keys.add(USER_KEY)
    _store_key("openai")
    fakes["openai"].plan.append("rate")
    refused = _text(client, _signed_in(), stream=True)
    assert refused.status_code == 429 and refused.get_json()["error_type"] == "user_key_rate_limited"
    assert "Retry-After" in refused.headers
    assert [s.key for s in _posts(fakes["openai"])] == [USER_KEY]


def test_a_user_key_reaches_a_vendor_the_platform_has_no_key_for(client, gateway, fakes):
    gateway(OPENAI_API_KEYS="", PRICES="stability/core=3")  # no platform key, and no price: still fine
    fakes["openai"].keys.add(USER_KEY)
    _store_key("openai")
    answer = _text(client, _signed_in()).get_json()
    assert answer["provider"] == "openai" and answer["text"] == "Once upon a time there was a fox."
    assert [s.key for s in _posts(fakes["openai"])] == [USER_KEY]
    assert _text(client, _signed_in("bob")).get_json()["provider"] == "local"  # bob has no key
    assert len(_posts(fakes["openai"])) == 1


def test_a_key_for_another_mode_leaves_routing_alone(client, run_job, gateway, fakes):
    gateway()
    _store_key("dashscope")  # dashscope is not in this image route
    job = _job(client, run_job, _signed_in())
    assert job["provider"] == "stability" and [s.key for s in _posts(fakes["stability"])] == ["good-key"]


def test_a_stored_key_that_cannot_be_decrypted_is_reported(client, run_job, gateway, fakes):
    gateway()
    store = wiring.gateway().user_keys
    type(store)(store.db, KeyCipher.of(KeyCipher.generate())).put_key(_uid(), "stability", USER_KEY, 0.0)
    job = _job(client, run_job, _signed_in())
    assert job["status"] == "failed" and job["error"]["error_type"] == "user_key_unreadable"
    assert _posts(fakes["stability"]) == []


# -- response cache ---------------------------------------------------------------------------


def test_identical_text_requests_within_the_ttl_never_reach_the_vendor_again(client, gateway, fakes):
    clock = gateway(TEXT_CACHE_TTL_SECONDS="600")
    first = _text(client).get_json()
    assert first["provider"] == "openai"
    again = _text(client).get_json()
    assert again == first, "the same answer, and nothing says it was cached (it may be another caller's)"
    assert "cached" not in again
    assert len(fakes["openai"].calls("/chat/completions")) == 1
    _text(client, temperature=0.2)
    _text(client, max_tokens=100)
    _text(client, prompt="a different castle")
    assert len(fakes["openai"].calls("/chat/completions")) == 4  # any difference is another request
    clock.advance(601)
    _text(client)
    assert len(fakes["openai"].calls("/chat/completions")) == 5


def test_a_stream_is_replayed_from_the_cache_and_fills_it(client, gateway, fakes):
    gateway(TEXT_CACHE_TTL_SECONDS="600")
    streamed = _text(client, stream=True).get_data(as_text=True)
    assert streamed.rstrip().split("\n\n")[-1].startswith("event: done")
    answer = _text(client).get_json()  # the streamed text was kept
    assert answer["text"] == "Once upon a time there was a fox."
    assert len(fakes["openai"].calls("/chat/completions")) == 1
    replay = [b for b in _text(client, stream=True).get_data(as_text=True).split("\n\n") if b]
    assert replay[0].startswith("event: start") and "cached" not in replay[0]
    deltas = "".join(json.loads(b.removeprefix("data: "))["delta"] for b in replay if b.startswith("data: "))
    assert deltas == answer["text"] and replay[-1].startswith("event: done")
    assert len(fakes["openai"].calls("/chat/completions")) == 1


def test_failures_broken_streams_and_free_answers_are_not_cached(client, gateway, fakes):
    gateway(TEXT_CACHE_TTL_SECONDS="600", ROUTE_TEXT="openai")
    fakes["openai"].plan.append("cut")
    assert "stream_interrupted" in _text(client, stream=True).get_data(as_text=True)
    _text(client)
    assert len(fakes["openai"].calls("/chat/completions")) == 2
    assert wiring.gateway().stores.cache.purge(float("inf")) == 1, "only the complete answer was kept"
    gateway(TEXT_CACHE_TTL_SECONDS="600", ROUTE_TEXT="local")
    _text(client)
    _text(client)
    assert wiring.gateway().stores.cache.purge(float("inf")) == 0, "local answers are free: not kept"


def test_a_users_own_key_answers_are_not_shared_with_others(client, gateway, fakes):
    gateway(TEXT_CACHE_TTL_SECONDS="600")
    fakes["openai"].keys.add(USER_KEY)
    _store_key("openai")
    _text(client, _signed_in())
    _text(client, _signed_in("bob"))  # bob: the platform's key, not alice's cached answer
    _text(client, _signed_in())  # alice again: her own cached answer
    assert [s.key for s in _posts(fakes["openai"])] == [USER_KEY, "good-key"]


# -- identical media submits ------------------------------------------------------------------


def test_an_identical_submit_within_the_window_returns_the_same_job(client, run_job, gateway, fakes):
    clock = gateway(SUBMIT_DEDUPE_SECONDS="30")
    first = _submit(client)
    assert first.status_code == 202
    same = _submit(client)
    assert same.status_code == 200 and same.get_json()["job_id"] == first.get_json()["job_id"]
    other = _submit(client, prompt="a blue fox")
    assert other.status_code == 202 and other.get_json()["job_id"] != first.get_json()["job_id"]
    for answer in (first, other):  # each task is a token for the best queued job: run both
        run_job(answer.get_json()["job_id"])
    done = _submit(client)  # done, still within the window: the finished job
    assert done.status_code == 200 and done.get_json()["status"] == "succeeded"
    assert len(_posts(fakes["stability"])) == 2, "the identical submit made no vendor call of its own"
    clock.advance(31)
    assert _submit(client).status_code == 202


def test_the_window_is_per_caller_and_per_input_image(client, gateway, fakes):
    gateway(SUBMIT_DEDUPE_SECONDS="30")
    fn = client("generate_image_to_image")

    def upload(image: bytes, headers: dict | None = None):
        return fn.post(
            I2I, data={"prompt": "make it blue", "image": (png_file(image), "in.png")}, headers=headers or {}
        )

    red, green = png(colour=(200, 0, 0)), png(colour=(0, 200, 0))
    first = upload(red)
    assert upload(red).get_json()["job_id"] == first.get_json()["job_id"]
    assert upload(green).status_code == 202
    assert upload(red, _signed_in()).status_code == 202  # another caller


def test_an_identical_submit_after_a_failure_is_a_new_job(client, run_job, gateway, fakes):
    gateway(SUBMIT_DEDUPE_SECONDS="30")
    fakes["stability"].plan.append("moderation")
    failed = _submit(client)
    run_job(failed.get_json()["job_id"])
    retry = _submit(client)
    assert retry.status_code == 202 and retry.get_json()["job_id"] != failed.get_json()["job_id"]
    assert _submit(client).get_json()["job_id"] == retry.get_json()["job_id"]


def test_an_explicit_idempotency_key_still_wins(client, gateway):
    gateway(SUBMIT_DEDUPE_SECONDS="30")
    first = _submit(client, headers={"Idempotency-Key": "one"})
    second = _submit(client, headers={"Idempotency-Key": "two"})
    assert second.status_code == 202 and second.get_json()["job_id"] != first.get_json()["job_id"]


def png_file(data: bytes):
    import io

    return io.BytesIO(data)
