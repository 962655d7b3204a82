"""The spend guard through the real functions: budgets reserved before spend, settled after.

Fake vendors with prices (``PRICES``) and one fake clock shared with the gateway, as in
test_provider_routing.py; jobs run when the test drives the worker function. The store is the
embedded SQLite file (the Firestore side of the counters is the contract suite's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from shared import wiring
from shared.stores.base import UserRecord
from tests.auth_emulator import NamedUsers
from tests.conftest import function_client
from tests.fakes.clock import FakeClock
from tests.fakes.dashscope import DashScopeFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.pipeline import install_gateway, serve
from tests.fakes.server import FakeVendor
from tests.fakes.stability import StabilityFake

pytestmark = pytest.mark.slow
T2I = "/api/v1/generate/text-to-image"
TEXT = "/api/v1/generate/text"
PRICES = "stability/core=3,dashscope/qwen-image=2,openai/chat-test=0.05"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeVendor]]:
    yield from serve(stability=StabilityFake, dashscope=DashScopeFake, openai=OpenAIFake)


@pytest.fixture
def gateway(env, monkeypatch: pytest.MonkeyPatch, fakes: dict[str, FakeVendor]) -> Callable[..., FakeClock]:
    def install(**settings: str) -> FakeClock:
        defaults = {
            "STABILITY_API_KEYS": "good-key",
            "STABILITY_BASE_URL": fakes["stability"].url,
            "DASHSCOPE_BASE_URL": fakes["dashscope"].url,
            "OPENAI_API_KEYS": "good-key",
            "OPENAI_BASE_URL": f"{fakes['openai'].url}/v1",
            "OPENAI_TEXT_MODEL": "chat-test",
            "ROUTE_TEXT_TO_IMAGE": "stability",
            "ROUTE_TEXT": "openai,local",
            "PRICES": PRICES,
            "TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
            "TEXT_TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
            "PROVIDER_MAX_RETRIES": "0",
            "PROVIDER_POLL_SECONDS": "2",
        }
        return install_gateway(monkeypatch, fakes, defaults, settings)

    return install


def _submit(client, ip: str = "198.51.100.1", headers: dict | None = None, **body):
    return client("generate_text_to_image").post(
        T2I, json={"prompt": "a red fox", **body}, headers=headers or {}, environ_base={"REMOTE_ADDR": ip}
    )


def _budget(name: str = "deployment", period: str = "day") -> dict:
    found = [s for s in wiring.services().budgets.report() if s.name == name and s.period == period]
    assert len(found) == 1, found
    return {"reserved": found[0].reserved, "spent": found[0].spent, "remaining": found[0].remaining}


USERS: list[NamedUsers] = []


@pytest.fixture(autouse=True)
def _accounts(named_users: NamedUsers) -> Iterator[None]:
    """carol, dave, erin and frank are real accounts on the Firebase Auth emulator."""
    USERS.append(named_users)
    yield
    USERS.clear()


def _signed_in(user_id: str) -> dict[str, str]:
    return USERS[0].bearer(user_id)


def _burst(client, count: int) -> list:
    """``count`` submits at once, each from its own address."""
    answers: list = [None] * count
    barrier = threading.Barrier(count)
    client("generate_text_to_image")  # the app is made once, before the threads (each gets its own client)

    def fire(index: int) -> None:
        barrier.wait()
        answers[index] = _submit(function_client, ip=f"203.0.113.{index + 1}")  # a caller of its own each

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _seconds_to_midnight(clock: FakeClock, zone: str = "UTC") -> int:
    local = datetime.fromtimestamp(clock.now(), ZoneInfo(zone))
    following = datetime(local.year, local.month, local.day, tzinfo=ZoneInfo(zone)).timestamp() + 86400
    return int(following - clock.now() + 0.999)


def test_fifty_callers_at_once_worth_three_times_the_budget_get_exactly_what_it_affords(
    client, run_job, gateway, fakes
):
    clock = gateway(BUDGET_DAILY_UNITS="50")  # 50 images at 3 units = 150 = 3x the budget: 16 fit
    answers = _burst(client, 50)
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    assert len(accepted) == 16 and len(refused) == 34
    for answer in refused:
        body = answer.get_json()
        assert answer.status_code == 429 and body["error_type"] == "budget_exhausted"
        assert body["retry_after"] == _seconds_to_midnight(clock) and body["donation_link"]
        assert answer.headers["Retry-After"] == str(body["retry_after"])
    assert _budget() == {"reserved": 48, "spent": 0, "remaining": 2}
    for answer in accepted:
        assert run_job(answer.get_json()["job_id"])["status"] == "succeeded"
    assert _budget() == {"reserved": 0, "spent": 48, "remaining": 2}
    assert len([s for s in fakes["stability"].seen if s.method == "POST"]) == 16


def test_with_the_local_fallback_the_rest_are_served_by_the_local_provider(client, run_job, gateway, fakes):
    gateway(BUDGET_DAILY_UNITS="50", BUDGET_FALLBACK="local", ROUTE_TEXT_TO_IMAGE="stability,local")
    answers = _burst(client, 50)
    assert [a.status_code for a in answers] == [202] * 50
    for answer in answers:  # each task is a token for the best queued job
        run_job(answer.get_json()["job_id"])
    served = [wiring.gateway().jobs.get(answer.get_json()["job_id"]).provider for answer in answers]
    assert served.count("stability") == 16 and served.count("local") == 34
    assert _budget() == {"reserved": 0, "spent": 48, "remaining": 2}


def test_refused_is_the_default_and_a_free_route_alone_never_counts(client, run_job, gateway):
    gateway(BUDGET_DAILY_UNITS="3", ROUTE_TEXT_TO_IMAGE="stability,local")
    assert _submit(client).status_code == 202
    refused = _submit(client)
    assert refused.status_code == 429 and refused.get_json()["error_type"] == "budget_exhausted"
    free = _submit(client, provider="local")  # asked for the free provider first: nothing to reserve
    assert free.status_code == 202
    assert _budget() == {"reserved": 3, "spent": 0, "remaining": 0}, "the free job reserved nothing"
    for _ in range(2):  # two tokens: each runs the best queued job (the paid one first)
        run_job(free.get_json()["job_id"])
    freed = wiring.gateway().jobs.get(free.get_json()["job_id"])
    assert freed.status.value == "succeeded" and freed.provider == "local"
    assert _budget() == {"reserved": 0, "spent": 3, "remaining": 0}


def test_a_provider_over_its_own_budget_is_passed_over_for_another_paid_one(client, run_job, gateway, fakes):
    gateway(
        BUDGET_DAILY_UNITS="100",
        BUDGET_PROVIDER_DAILY_UNITS="stability=3",
        DASHSCOPE_API_KEYS="good-key",
        ROUTE_TEXT_TO_IMAGE="stability,dashscope",
    )
    first, second = _submit(client), _submit(client)
    assert first.status_code == second.status_code == 202
    for answer in (first, second):
        run_job(answer.get_json()["job_id"])
    providers = [wiring.gateway().jobs.get(a.get_json()["job_id"]).provider for a in (first, second)]
    assert providers == ["stability", "dashscope"]
    assert _budget() == {"reserved": 0, "spent": 5, "remaining": 95}
    assert _budget("provider_stability") == {"reserved": 0, "spent": 3, "remaining": 0}
    third = _submit(client)
    assert third.status_code == 202  # dashscope still fits
    assert wiring.gateway().jobs.get(third.get_json()["job_id"]).budget["provider"] == "dashscope"


def test_a_failed_job_releases_its_reservation(client, run_job, gateway, fakes):
    gateway(BUDGET_DAILY_UNITS="3")
    first = _submit(client)
    assert first.status_code == 202 and _submit(client).status_code == 429
    fakes["stability"].plan.append("moderation")  # refused before any image was made: nothing billed
    assert run_job(first.get_json()["job_id"])["status"] == "failed"
    assert _budget() == {"reserved": 0, "spent": 0, "remaining": 3}
    assert _submit(client).status_code == 202


def test_a_canceled_job_releases_its_reservation_once(client, gateway):
    gateway(BUDGET_DAILY_UNITS="3")
    headers = _signed_in("carol")
    job_id = _submit(client, headers=headers).get_json()["job_id"]
    assert _submit(client, headers=headers).status_code == 429
    assert client("jobs").delete(f"/api/v1/jobs/{job_id}", headers=headers).status_code == 200
    assert client("jobs").delete(f"/api/v1/jobs/{job_id}", headers=headers).status_code == 409
    assert _budget() == {"reserved": 0, "spent": 0, "remaining": 3}
    assert _submit(client, headers=headers).status_code == 202
    assert _submit(client, headers=headers).status_code == 429  # released once, not twice


def test_text_that_used_fewer_tokens_than_reserved_gives_the_rest_back(client, gateway):
    # one reservation of 1000 max tokens fits; the cache is off so that every request reaches the vendor
    gateway(BUDGET_DAILY_UNITS="0.06", ROUTE_TEXT="openai", TEXT_CACHE_TTL_SECONDS="0")
    body = {"prompt": "tell me a story", "max_tokens": 1000}
    estimate = (len(b"tell me a story") + 4 + 3 + 1000) / 1000 * 0.05
    for _ in range(3):  # each gives back all but the tokens it used, so the next one fits again
        answer = client("generate_text").post(TEXT, json=body)
        assert answer.status_code == 200, answer.get_json()
        usage = answer.get_json()["usage"]
        assert usage["prompt_tokens"] + usage["completion_tokens"] < 100
    spent = _budget()["spent"]
    assert 0 < spent < estimate / 3 and _budget()["reserved"] == 0
    streamed = client("generate_text").post(TEXT, json={**body, "stream": True})
    assert streamed.status_code == 200 and b"event: done" in streamed.get_data()
    after = _budget()
    assert after["reserved"] == 0 and spent < after["spent"] < spent + estimate / 3


def test_text_over_budget_is_refused_before_the_vendor_is_called(client, gateway, fakes):
    gateway(BUDGET_DAILY_UNITS="0.01", ROUTE_TEXT="openai,local")
    before = len(fakes["openai"].seen)
    answer = client("generate_text").post(TEXT, json={"prompt": "hello", "max_tokens": 1000})
    assert answer.status_code == 429 and answer.get_json()["error_type"] == "budget_exhausted"
    streamed = client("generate_text").post(TEXT, json={"prompt": "hello", "max_tokens": 1000, "stream": True})
    assert streamed.status_code == 429
    assert len(fakes["openai"].seen) == before
    assert _budget() == {"reserved": 0, "spent": 0, "remaining": 0.01}


def test_budgets_reset_at_midnight_and_on_the_first_in_their_time_zone(client, gateway):
    zone = "America/New_York"
    clock = gateway(BUDGET_DAILY_UNITS="3", BUDGET_MONTHLY_UNITS="9", BUDGET_TIMEZONE=zone)
    # the fake clock starts at 2027-01-15 03:00 in New York (08:00 UTC)
    assert datetime.fromtimestamp(clock.now(), ZoneInfo(zone)).hour == 3
    assert _submit(client).status_code == 202
    refused = _submit(client)
    assert refused.status_code == 429 and refused.get_json()["retry_after"] == 21 * 3600
    clock.advance(21 * 3600 - 1)
    assert _submit(client).status_code == 429
    clock.advance(1)  # midnight in New York (05:00 UTC): a new day
    assert _submit(client).status_code == 202
    clock.advance(86400)
    assert _submit(client).status_code == 202
    clock.advance(86400)  # 9 units of the month are reserved: the month refuses until Feb 1st
    month_end = datetime(2027, 2, 1, tzinfo=ZoneInfo(zone)).timestamp()
    refused = _submit(client)
    assert refused.status_code == 429 and refused.get_json()["retry_after"] == int(month_end - clock.now())
    clock.advance(month_end - clock.now())
    assert _submit(client).status_code == 202


def test_a_users_own_key_never_counts_and_a_users_cap_comes_from_tier_or_record(client, run_job, gateway, fakes):
    gateway(BUDGET_DAILY_UNITS="3", BUDGET_USER_MONTHLY_UNITS="registered=3")
    gw = wiring.gateway()
    fakes["stability"].keys.add("sk-dave-own-key-1234")
    gw.user_keys.put_key(USERS[0].uid("dave"), "stability", "sk-dave-own-key-1234", gw.clock.now())
    own = _signed_in("dave")
    for _ in range(3):  # BYOK: the platform pays nothing, whatever its budgets say
        answer = _submit(client, headers=own)
        assert answer.status_code == 202
        assert run_job(answer.get_json()["job_id"])["status"] == "succeeded"
    assert _budget() == {"reserved": 0, "spent": 0, "remaining": 3}
    gw.users.put(UserRecord(USERS[0].uid("erin"), tier="registered", budget_override=0))
    refused = _submit(client, headers=_signed_in("erin"))
    assert refused.status_code == 429 and "Your account" in refused.get_json()["message"]
    assert _submit(client, headers=_signed_in("frank")).status_code == 202  # the tier's 3 units


def test_health_says_whether_paid_routes_are_open_without_amounts(client, gateway):
    clock = gateway(BUDGET_DAILY_UNITS="3")
    health = client("health").get("/api/v1/health").get_json()
    assert health["paid_routes_open"] is True and "3" not in str(health.get("paid_routes_open"))
    assert _submit(client).status_code == 202
    clock.advance(10)  # past the instance's short cache
    assert client("health").get("/api/v1/health").get_json()["paid_routes_open"] is False


def test_a_failover_at_run_time_moves_the_reservation_to_the_provider_that_served(client, run_job, gateway, fakes):
    gateway(
        BUDGET_DAILY_UNITS="100",
        BUDGET_PROVIDER_DAILY_UNITS="stability=30",
        DASHSCOPE_API_KEYS="good-key",
        ROUTE_TEXT_TO_IMAGE="stability,dashscope",
    )
    fakes["stability"].fail_next(503, {"name": "internal_error", "errors": ["down"]}, times=5)
    job_id = _submit(client).get_json()["job_id"]
    assert wiring.gateway().jobs.get(job_id).budget["provider"] == "stability"
    assert run_job(job_id)["status"] == "succeeded"
    assert wiring.gateway().jobs.get(job_id).provider == "dashscope"
    assert _budget("provider_stability") == {"reserved": 0, "spent": 0, "remaining": 30}
    assert _budget() == {"reserved": 0, "spent": 2, "remaining": 98}


def test_a_job_run_again_after_its_worker_was_lost_reserves_again(client, run_job, gateway):
    clock = gateway(BUDGET_DAILY_UNITS="6", LEASE_SECONDS="30")
    job_id = _submit(client).get_json()["job_id"]
    assert wiring.gateway().jobs.claim(job_id, "killed-worker", clock.now(), 30) is not None
    clock.advance(31)  # the first worker may have been billed before it died: its reservation stays counted
    assert run_job(job_id)["status"] == "succeeded"
    assert _budget() == {"reserved": 3, "spent": 3, "remaining": 0}
    assert _submit(client).status_code == 429


def test_the_report_has_each_budgets_cap_use_reset_and_burn_rate(client, run_job, gateway):
    clock = gateway(
        BUDGET_DAILY_UNITS="30",
        BUDGET_MONTHLY_UNITS="300",
        BUDGET_PROVIDER_DAILY_UNITS="stability=12,gemini=5",
        BUDGET_ANONYMOUS_DAILY_UNITS="9",
    )
    run_job(_submit(client).get_json()["job_id"])
    _submit(client)
    report = {(s.name, s.period): s for s in wiring.services().budgets.report()}
    assert sorted(report) == [
        ("anonymous", "day"),
        ("deployment", "day"),
        ("deployment", "month"),
        ("provider_stability", "day"),
    ]
    day = report[("deployment", "day")]
    midnight = clock.now() + _seconds_to_midnight(clock)
    assert (day.cap, day.reserved, day.spent, day.remaining, day.resets_at) == (30, 3, 3, 24, midnight)
    assert day.burn_rate_per_hour == 3 / 8  # the fake clock starts at 08:00 UTC
    assert report[("anonymous", "day")].used_fraction == round(6 / 9, 6)
    assert report[("deployment", "month")].resets_at == datetime(2027, 2, 1, tzinfo=ZoneInfo("UTC")).timestamp()
