"""Real providers through the real job pipeline: failover, rotation, breaker, throttle, prices.

The vendors are the fake servers in ``tests/fakes``; the gateway and the fakes share one fake
clock, so backoff, cooldowns and breaker timeouts pass instantly and nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from shared import wiring
from shared.config import Settings
from shared.domain import ChatTurn
from shared.services.text import TextQuery
from tests.fakes.clock import FakeClock
from tests.fakes.dashscope import DashScopeFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.pipeline import install_gateway, serve
from tests.fakes.server import FakeVendor
from tests.fakes.stability import StabilityFake

pytestmark = pytest.mark.slow
T2I = "/api/v1/generate/text-to-image"
T2V = "/api/v1/generate/text-to-video"
PRICES = "stability/core=3,dashscope/wan2.2-t2v-plus=2,openai/chat-test=0.05"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeVendor]]:
    yield from serve(stability=StabilityFake, dashscope=DashScopeFake, openai=OpenAIFake)


@pytest.fixture
def gateway(env, monkeypatch: pytest.MonkeyPatch, fakes: dict[str, FakeVendor]) -> Callable[..., FakeClock]:
    """``gateway(STABILITY_API_KEYS=..., ...)`` installs a gateway on a fake clock shared with the fakes."""

    def install(**settings: str) -> FakeClock:
        defaults = {
            "STABILITY_API_KEYS": "good-key",
            "STABILITY_BASE_URL": fakes["stability"].url,
            "DASHSCOPE_BASE_URL": fakes["dashscope"].url,
            "OPENAI_BASE_URL": f"{fakes['openai'].url}/v1",
            "OPENAI_TEXT_MODEL": "chat-test",
            "ROUTE_TEXT_TO_IMAGE": "stability,local",
            "PRICES": PRICES,
            "TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
            "PROVIDER_POLL_SECONDS": "2",
        }
        return install_gateway(monkeypatch, fakes, defaults, settings)

    return install


def _job(client, run_job, path: str = T2I, **body) -> dict:
    response = client("generate_text_to_image" if path == T2I else "generate_text_to_video").post(
        path, json={"prompt": "a red fox", **body}
    )
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    run_job(job_id)
    return client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()


def _posts(fake: FakeVendor) -> list:
    return [s for s in fake.seen if s.method == "POST"]


def _health(client) -> dict[str, str]:
    return {p["name"]: p["state"] for p in client("health").get("/api/v1/health").get_json()["providers"]}


def test_a_priced_real_provider_serves_the_job_and_records_its_cost(client, run_job, gateway, fakes):
    gateway()
    job = _job(client, run_job)
    assert job["status"] == "succeeded" and job["provider"] == "stability"
    assert client("media").get(job["result"]["url"]).headers["Content-Type"] == "image/png"
    assert wiring.gateway().jobs.get(job["job_id"]).cost_units == 3
    assert len(_posts(fakes["stability"])) == 1


def test_an_exhausted_key_rotates_and_stays_resting(client, run_job, gateway, fakes):
    gateway(STABILITY_API_KEYS="good-key,second-key")
    fakes["stability"].exhausted.add("good-key")
    assert _job(client, run_job)["provider"] == "stability"
    assert _job(client, run_job)["provider"] == "stability"
    assert [s.key for s in _posts(fakes["stability"])] == ["good-key", "second-key", "second-key"]


def test_breaker_opens_skips_the_provider_then_probes_and_closes(client, run_job, gateway, fakes):
    clock = gateway(BREAKER_THRESHOLD="2", BREAKER_OPEN_SECONDS="30", PROVIDER_MAX_RETRIES="0")
    stability = fakes["stability"]
    stability.fail_next(503, {"name": "internal_error", "errors": ["vendor says"]}, times=2)
    assert [_job(client, run_job)["provider"] for _ in range(2)] == ["local", "local"]
    assert _health(client)["stability"] == "open"
    calls = len(_posts(stability))
    assert _job(client, run_job)["provider"] == "local"
    assert len(_posts(stability)) == calls  # skipped while open
    clock.advance(31)
    assert _health(client)["stability"] == "half_open"
    assert _job(client, run_job)["provider"] == "stability"  # the probe succeeded
    assert _health(client)["stability"] == "closed"


def test_breaker_state_is_shared_by_every_instance(client, run_job, gateway, fakes):
    clock = gateway(BREAKER_THRESHOLD="1", PROVIDER_MAX_RETRIES="0")
    fakes["stability"].fail_next(500, {"name": "internal_error", "errors": []})
    _job(client, run_job)
    other = wiring.Gateway(Settings(), clock)  # a second instance on the same store
    try:
        assert other.providers.states() == {"stability": "open"}
    finally:
        other.close()


def test_dispatch_throttle_keeps_our_burst_under_the_vendor_limit(client, run_job, gateway, fakes):
    clock = gateway(STABILITY_MAX_PER_MINUTE="1", PROVIDER_MAX_WAIT_SECONDS="5")
    assert _job(client, run_job)["provider"] == "stability"
    assert _job(client, run_job)["provider"] == "local"  # our own budget was spent: next provider
    assert len(_posts(fakes["stability"])) == 1
    clock.advance(61)
    assert _job(client, run_job)["provider"] == "stability"


def test_a_paid_model_without_a_price_is_never_routed(client, run_job, gateway, fakes):
    gateway(PRICES="")
    assert _job(client, run_job)["provider"] == "local"
    assert _posts(fakes["stability"]) == []
    with_preference = client("generate_text_to_image").post(T2I, json={"prompt": "x", "provider": "stability"})
    job_id = with_preference.get_json()["job_id"]
    run_job(job_id)
    assert client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["error"]["error_type"] == "bad_request"


def test_async_video_is_saved_on_the_job_and_never_paid_twice(client, run_job, gateway, fakes):
    gateway(DASHSCOPE_API_KEYS="good-key", ROUTE_TEXT_TO_VIDEO="dashscope,local")
    job = _job(client, run_job, T2V, duration_seconds=3)
    assert job["status"] == "succeeded" and job["provider"] == "dashscope"
    stored = wiring.gateway().jobs.get(job["job_id"])
    assert stored.vendor_task_id and stored.vendor_task_id.endswith(next(iter(fakes["dashscope"].tasks)))
    assert stored.cost_units == 2 * 3  # per video second
    fakes["dashscope"].plan.append("fail:InternalError")
    failed = _job(client, run_job, T2V)
    assert failed["status"] == "failed" and failed["provider"] == "dashscope"  # accepted: no failover to local


def test_health_reports_real_providers_with_keys(client, gateway):
    gateway(OPENAI_API_KEYS="good-key")
    states = _health(client)
    assert list(states) == ["stability", "openai", "local"] and set(states.values()) == {"closed"}


def test_text_quota_on_one_vendor_fails_over_before_any_text(client, gateway, fakes):
    gateway(OPENAI_API_KEYS="good-key", ROUTE_TEXT="openai,local")
    fakes["openai"].exhausted.add("good-key")
    answer = client("generate_text").post("/api/v1/generate/text", json={"prompt": "a castle"}).get_json()
    assert answer["provider"] == "local"
    fakes["openai"].reset()
    answer = client("generate_text").post("/api/v1/generate/text", json={"prompt": "a castle"}).get_json()
    assert answer["provider"] == "local"  # the key still rests (cooldown), so openai is skipped


def test_an_open_stream_holds_its_provider_slot_until_it_ends(gateway, fakes):
    gateway(
        OPENAI_API_KEYS="good-key", ROUTE_TEXT="openai,local", OPENAI_MAX_CONCURRENT="1", PROVIDER_MAX_WAIT_SECONDS="0"
    )
    service = wiring.gateway().text_service
    first = service.stream(TextQuery([ChatTurn("user", "a long story")]))
    assert next(first)[1]["provider"] == "openai"
    assert next(first)[1]["delta"], "the first stream is open and mid-answer"
    second = service.stream(TextQuery([ChatTurn("user", "another story")]))
    assert next(second)[1]["provider"] == "local", "openai's one slot is taken by the open stream"
    list(first)  # the first stream ends: its slot comes back
    third = service.stream(TextQuery([ChatTurn("user", "a third story")]))
    assert next(third)[1]["provider"] == "openai"
    list(third)
