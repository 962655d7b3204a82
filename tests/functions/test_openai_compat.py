"""The OpenAI-compatible surface (/v1) driven by the official ``openai`` SDK, a client nobody here wrote.

The ``openai_compat`` function app is served over real HTTP on 127.0.0.1 (the SDK needs a socket);
behind it the gateway runs on a fake clock shared with the fake vendor servers, so retries, backoff
and the image wait pass instantly. Image jobs run the way a worker would run them while the request
waits: the clock's ``sleep`` (the wait's poll) runs the queued jobs, unless a test stops it.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import functions_framework
import openai
import pytest
import requests
from PIL import Image

from shared import wiring
from shared.config import Settings
from tests.conftest import ROOT, function_client
from tests.fakes.clock import FakeClock
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.server import FakeVendor, Loopback
from tests.fakes.stability import StabilityFake

pytestmark = pytest.mark.slow
PRICES = "stability/core=3,openai/chat-test=0.05,openai/image-test=4,gemini/gemini-text-test=0.02"
HI = [{"role": "user", "content": "Tell me a story"}]


class WorkerClock(FakeClock):
    """A fake clock whose ``sleep`` also runs the queued jobs, as a worker would meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.working = True
        self._inside = False

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if not self.working or self._inside:
            return
        self._inside = True  # a provider's backoff inside a job sleeps too
        try:
            gateway = wiring.gateway()
            for job in gateway.jobs.queued(10):
                gateway.job_service.run_claimed(job.id, "test-worker")
        finally:
            self._inside = False


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeVendor]]:
    servers = {"stability": StabilityFake().start(), "openai": OpenAIFake().start(), "gemini": GeminiFake().start()}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = functions_framework.create_app(target="openai_compat", source=str(ROOT / "main.py"), signature_type="http")
    server = Loopback(app, "openai-compat")
    yield f"{server.url}/v1"
    server.stop()


@pytest.fixture
def gateway(env, monkeypatch: pytest.MonkeyPatch, fakes: dict[str, FakeVendor]) -> Callable[..., WorkerClock]:
    def install(**settings: str) -> WorkerClock:
        clock = WorkerClock()
        for fake in fakes.values():
            fake.reset()
            fake.clock = clock
        defaults = {
            "STABILITY_API_KEYS": "good-key",
            "STABILITY_BASE_URL": fakes["stability"].url,
            "OPENAI_API_KEYS": "good-key",
            "OPENAI_BASE_URL": f"{fakes['openai'].url}/v1",
            "OPENAI_TEXT_MODEL": "chat-test",
            "OPENAI_TEXT_TO_IMAGE_MODEL": "image-test",
            "GEMINI_API_KEYS": "good-key",
            "GEMINI_BASE_URL": fakes["gemini"].url,
            "GEMINI_TEXT_MODEL": "gemini-text-test",
            "GEMINI_TEXT_TO_IMAGE_MODEL": "",
            "ROUTE_TEXT": "openai,gemini",
            "ROUTE_TEXT_TO_IMAGE": "stability,openai",
            "PRICES": PRICES,
            "TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
            "TEXT_TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
        }
        for name, value in {**defaults, **settings}.items():
            monkeypatch.setenv(name, value)
        wiring.install(wiring.Gateway(Settings(), clock))
        return clock

    return install


@pytest.fixture
def sdk(base_url: str) -> Callable[..., openai.OpenAI]:
    def make(api_key: str = "any-string", max_retries: int = 0) -> openai.OpenAI:
        return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=max_retries)

    return make


def _posts(fake: FakeVendor, path: str = "") -> list:
    return [s for s in fake.seen if s.method == "POST" and path in s.path]


# -- chat ---------------------------------------------------------------------------------------


def test_chat_on_a_real_route_fails_over_on_a_500_and_the_sdk_call_succeeds(gateway, fakes, sdk):
    gateway()
    fakes["openai"].fail_next(500, {"error": {"message": "vendor says: boom", "type": "server_error"}}, times=10)
    completion = sdk().chat.completions.create(model="auto", messages=HI)
    assert completion.object == "chat.completion" and completion.model == "gemini/gemini-text-test"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "A castle on a hill."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert len(_posts(fakes["openai"])) == 3 and len(_posts(fakes["gemini"])) == 1  # 1 + 2 retries, then failover


def test_chat_stream_is_chunks_then_usage_then_done(gateway, fakes, sdk, base_url):
    gateway()
    stream = sdk().chat.completions.create(
        model="openai/chat-test", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and {c.model for c in chunks} == {"openai/chat-test"}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Once upon a time there was a fox."
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    raw = requests.post(f"{base_url}/chat/completions", json={"messages": HI, "stream": True}, timeout=10)
    events = [e for e in raw.text.split("\n\n") if e]
    assert raw.headers["Content-Type"].startswith("text/event-stream") and "RateLimit" in raw.headers
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"


def test_a_stream_cut_upstream_ends_with_an_error_event_and_no_done(gateway, fakes, sdk, base_url):
    gateway(ROUTE_TEXT="openai")
    fakes["openai"].plan.append("cut")
    with pytest.raises(openai.APIError) as raised:
        for _chunk in sdk().chat.completions.create(model="auto", messages=HI, stream=True):
            pass
    assert "midway" in raised.value.message and raised.value.body["code"] == "stream_interrupted"
    fakes["openai"].plan.append("cut")
    raw = requests.post(f"{base_url}/chat/completions", json={"messages": HI, "stream": True}, timeout=10)
    events = [e for e in raw.text.split("\n\n") if e]
    name, data = events[-1].split("\n")
    error = json.loads(data.removeprefix("data: "))["error"]
    assert name == "event: error" and error["type"] == "server_error" and error["code"] == "stream_interrupted"
    assert "[DONE]" not in raw.text and "vendor says" not in raw.text
    assert any('"content": "Once "' in e for e in events)


def test_model_names_choose_the_provider_and_unknown_ones_are_404(gateway, fakes, sdk):
    gateway()
    client = sdk()
    assert client.chat.completions.create(model="gemini/gemini-text-test", messages=HI).model.startswith("gemini/")
    assert client.chat.completions.create(model="chat-test", messages=HI).model == "openai/chat-test"
    assert client.chat.completions.create(model="gemini", messages=HI).model.startswith("gemini/")
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-99-ultra", messages=HI)
    assert raised.value.code == "model_not_found" and raised.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="openai/gpt-4o", messages=HI)  # not the configured model


def test_models_are_listed_from_the_configuration(gateway, sdk):
    gateway()
    listed = {m.id: m for m in sdk().models.list()}
    assert set(listed) == {"auto", "openai/chat-test", "gemini/gemini-text-test", "stability/core", "openai/image-test"}
    assert listed["stability/core"].owned_by == "stability" and listed["auto"].object == "model"
    assert sdk().models.retrieve("openai/chat-test").id == "openai/chat-test"
    gateway(PRICES="openai/chat-test=0.05")  # an unpriced model is never routed, so never offered
    assert {m.id for m in sdk().models.list()} == {"auto", "openai/chat-test"}


def test_unknown_parameters_are_ignored_and_meaning_changing_ones_refused(gateway, fakes, sdk):
    gateway()
    client = sdk()
    ok = client.chat.completions.create(
        model="auto",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        ],
        top_p=0.9,
        presence_penalty=0.1,
        seed=7,
        user="someone",
        max_completion_tokens=50,
        extra_body={"something_new": {"a": 1}},
    )
    assert ok.choices[0].message.content
    sent = _posts(fakes["openai"])[-1].json
    assert sent["max_tokens"] == 50 and sent["messages"][0]["role"] == "system" and "top_p" not in sent
    refused = [
        ({"n": 2}, "n"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"stop": ["x"]}, "stop"),
    ]
    for extra, param in refused:
        with pytest.raises(openai.BadRequestError) as raised:
            client.chat.completions.create(model="auto", messages=HI, **extra)
        assert raised.value.param == param and raised.value.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
        )
    assert raised.value.param == "messages[0].content"


def test_an_oversize_prompt_is_a_bad_request(gateway, fakes, sdk):
    gateway()
    with pytest.raises(openai.BadRequestError) as raised:
        sdk().chat.completions.create(model="auto", messages=[{"role": "user", "content": "x" * 4001}])
    assert raised.value.status_code == 400 and raised.value.param == "messages[0].content"
    assert raised.value.code == "invalid_value" and "4000" in raised.value.message
    with pytest.raises(openai.BadRequestError):
        sdk().images.generate(prompt="y" * 4001)
    assert _posts(fakes["openai"]) == [] and wiring.gateway().jobs.queued(10) == []


def test_rate_limit_is_a_rate_limit_error_with_retry_after(gateway, sdk):
    gateway(TEXT_TIER_LIMITS="anonymous=1,registered=5,donor=10", GRACE_REQUESTS="0")
    client = sdk()
    first = client.chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert first.headers["RateLimit-Policy"] == '"text-anonymous";q=1;w=60'
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="auto", messages=HI)
    headers = raised.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60 and headers["RateLimit"].startswith('"text-anonymous";r=0')
    assert raised.value.code == "rate_limit_exceeded" and raised.value.body["type"] == "requests"


# -- images -------------------------------------------------------------------------------------


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


def test_images_as_b64_json_and_url_through_a_real_route_with_failover(gateway, fakes, sdk):
    gateway()
    fakes["stability"].fail_next(500, {"name": "internal_error", "errors": ["vendor says"]}, times=3)
    raw = sdk().images.with_raw_response.generate(
        model="auto", prompt="a red fox", response_format="b64_json", size="1792x1024"
    )
    answer = raw.parse()
    assert len(answer.data) == 1 and answer.data[0].url is None
    _png(base64.b64decode(answer.data[0].b64_json))
    job = wiring.gateway().jobs.get(raw.headers["X-Job-Id"])
    assert job.provider == "openai" and job.cost_units == 4  # the usage record: failed over, priced
    assert job.params["aspect_ratio"] == "16:9" and "RateLimit" in raw.headers
    linked = sdk().images.with_raw_response.generate(model="stability/core", prompt="a blue fox", response_format="url")
    url = urlsplit(linked.parse().data[0].url)
    assert url.scheme == "http" and url.path.startswith("/api/v1/media/")
    media = function_client("media").get(f"{url.path}?{url.query}")
    assert media.status_code == 200 and _png(media.data)
    assert wiring.gateway().jobs.get(linked.headers["X-Job-Id"]).provider == "stability"


def test_a_refused_image_is_an_openai_error(gateway, fakes, sdk):
    gateway()
    fakes["stability"].plan.append("moderation")
    with pytest.raises(openai.BadRequestError) as raised:
        sdk().images.generate(model="stability/core", prompt="something refused")
    assert raised.value.code == "content_policy_violation" and "vendor" not in raised.value.message
    with pytest.raises(openai.BadRequestError) as raised:
        sdk().images.generate(prompt="two foxes", n=2)
    assert raised.value.param == "n"


def test_an_image_not_ready_in_time_is_a_504_naming_the_job(gateway, sdk):
    clock = gateway(OPENAI_IMAGES_WAIT_SECONDS="5")
    clock.working = False  # no worker: the job stays queued
    with pytest.raises(openai.InternalServerError) as raised:
        sdk(max_retries=2).images.generate(prompt="a slow fox")
    error = raised.value
    job_id = error.body["job_id"]
    assert error.status_code == 504 and error.code == "job_timeout" and job_id in error.message
    assert error.response.headers["x-should-retry"] == "false" and error.response.headers["Location"].endswith(job_id)
    assert [j.id for j in wiring.gateway().jobs.queued(10)] == [job_id], "one job: the SDK did not retry"
    view = function_client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()
    assert view["status"] == "queued" and view["mode"] == "text-to-image"


# -- who calls ------------------------------------------------------------------------------------


def test_anonymous_access_can_be_turned_off(gateway, sdk, named_users):
    gateway(OPENAI_COMPAT_ANONYMOUS="false")
    for key in ("any-string", "sk-gw-" + "a" * 40):
        with pytest.raises(openai.AuthenticationError) as raised:
            sdk(api_key=key).chat.completions.create(model="auto", messages=HI)
        assert raised.value.code == "invalid_api_key" and raised.value.body["type"] == "invalid_request_error"
        with pytest.raises(openai.AuthenticationError):
            sdk(api_key=key).models.list()
    session = named_users.user("alice").id_token  # a Firebase ID token (Auth emulator)
    assert sdk(api_key=session).chat.completions.create(model="auto", messages=HI).choices


def test_an_unknown_gateway_key_is_refused_even_with_anonymous_access_on(gateway, sdk):
    """A key is never read as a session, nor does an unknown one fall back to anonymous access (the
    key lifecycle with real keys: tests/functions/test_gateway_keys.py)."""
    gateway()
    with pytest.raises(openai.AuthenticationError) as raised:
        sdk(api_key="sk-gw-" + "b" * 40).images.generate(prompt="a keyed fox")
    assert raised.value.code == "invalid_api_key"
    assert wiring.gateway().jobs.queued(5) == [], "nothing was submitted"


def test_a_signed_in_users_own_key_serves_them_and_identical_requests_hit_the_cache(gateway, fakes, sdk, named_users):
    gateway()
    own = "sk-alice-own-key-7f3a9c2e"
    fakes["openai"].keys.add(own)
    wiring.gateway().user_keys.put_key(named_users.uid("alice"), "openai", own, wiring.gateway().clock.now())
    alice = sdk(api_key=named_users.user("alice").id_token)
    assert alice.chat.completions.create(model="auto", messages=HI).model == "openai/chat-test"
    assert [s.key for s in _posts(fakes["openai"])] == [own]
    for _ in range(2):
        sdk().chat.completions.create(model="auto", messages=[{"role": "user", "content": "cache me"}])
    assert [s.key for s in _posts(fakes["openai"])] == [own, "good-key"], "the second anonymous call was cached"


def test_errors_on_this_surface_have_openais_shape(gateway, base_url):
    gateway()
    chat = f"{base_url}/chat/completions"
    cases = [
        (requests.post(chat, data=b"{not json", headers={"Content-Type": "application/json"}), 400),
        (requests.post(chat, data=b"x", headers={"Content-Type": "text/plain"}), 415),
        (requests.post(f"{base_url}/chat/completions", json={"model": "auto"}), 400),
        (requests.get(f"{base_url}/chat/completions"), 405),
        (requests.get(f"{base_url}/nothing"), 404),
    ]  # fmt: skip
    for response, status in cases:
        error = response.json()["error"]
        assert response.status_code == status and set(error) == {"message", "type", "param", "code"}, response.text
        assert error["type"] == "invalid_request_error" and "success" not in response.text
    assert cases[2][0].json()["error"]["param"] == "messages"
    assert cases[2][0].json()["error"]["code"] == "missing_required_parameter"


def test_the_function_is_exported_and_documented():
    document = function_client("openapi").get("/api/v1/openapi.json").get_json()
    assert {"/v1/chat/completions", "/v1/images/generations", "/v1/models"} <= set(document["paths"])
    assert "ChatCompletionRequest" in document["components"]["schemas"]
    assert os.path.exists(ROOT / "functions" / "openai_compat.py")
