"""Accepted jobs are never failed for rate limits that end: they wait in the queue instead.

Our own dispatch throttle (``STABILITY_MAX_PER_MINUTE``, ``PROVIDER_MAX_WAIT_SECONDS``) and a
vendor's 429 with ``Retry-After`` on every route defer the job (``shared.jobs.runner``): it stays
queued in its place until the limit ends, is claimed again from then on and not before, and fails
(``provider_unavailable``) only once ``PROVIDER_MAX_DEFER_SECONDS`` of deferral are spent.

The real functions on the embedded SQLite store, the Stability fake and one fake clock; the test
drives the worker function the way Cloud Tasks would (each call runs the best job ready now).
The Firestore side of deferral is the job store contract suite's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from shared import wiring
from shared.domain import ErrorKind, JobStatus
from shared.stores.base import UserRecord
from tests.conftest import function_client
from tests.fakes.clock import FakeClock
from tests.fakes.harness import ERRORS
from tests.fakes.pipeline import install_gateway, serve
from tests.fakes.server import FakeVendor
from tests.fakes.stability import StabilityFake

pytestmark = pytest.mark.slow
T2I = "/api/v1/generate/text-to-image"
BILLED = "/generate/"  # the Stability fake's paid POSTs


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeVendor]]:
    yield from serve(stability=StabilityFake)


@pytest.fixture
def gateway(env, monkeypatch: pytest.MonkeyPatch, fakes: dict[str, FakeVendor]) -> Callable[..., FakeClock]:
    def install(**settings: str) -> FakeClock:
        defaults = {
            "STABILITY_API_KEYS": "good-key",
            "STABILITY_BASE_URL": fakes["stability"].url,
            "ROUTE_TEXT_TO_IMAGE": "stability",  # no fallback: only deferral saves a rate-limited job
            "PRICES": "stability/core=3",
            "BUDGET_DAILY_UNITS": "1000",
            "TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
            "PROVIDER_MAX_RETRIES": "0",
            "PROVIDER_MAX_WAIT_SECONDS": "5",
            "BREAKER_THRESHOLD": "1",
        }
        return install_gateway(monkeypatch, fakes, defaults, settings)

    return install


def _submit(headers: dict[str, str] | None = None, ip: str = "198.51.100.7") -> str:
    answer = function_client("generate_text_to_image").post(
        T2I, json={"prompt": "a red fox"}, headers=headers or {}, environ_base={"REMOTE_ADDR": ip}
    )
    assert answer.status_code == 202, answer.get_json()
    return str(answer.get_json()["job_id"])


def _job(job_id: str, headers: dict[str, str] | None = None) -> dict:
    return function_client("jobs").get(f"/api/v1/jobs/{job_id}", headers=headers or {}).get_json()


def _stored(job_id: str):  # the store's record: not_before, deferred, attempts
    job = wiring.gateway().jobs.get(job_id)
    assert job is not None
    return job


def _reserved() -> float:
    [day] = [s for s in wiring.services().budgets.report() if s.name == "deployment" and s.period == "day"]
    return day.reserved


def _breaker() -> str:
    return wiring.gateway().providers.states().get("stability", "closed")


def test_a_burst_over_our_own_throttle_ends_with_every_job_succeeded(gateway, run_job, fakes):
    clock = gateway(STABILITY_MAX_PER_MINUTE="5")
    ids = [_submit(ip=f"198.51.100.{i}") for i in range(12)]
    rounds = 0
    while any(_stored(i).status is JobStatus.QUEUED for i in ids):
        ran = {run_job(ids[0])["status"] for _ in ids}  # as many tokens as jobs, as Cloud Tasks would
        assert "failed" not in ran
        deferred = [_stored(i) for i in ids if _stored(i).not_before is not None]
        for job in deferred:
            assert job.status is JobStatus.QUEUED and job.attempts == 0 and job.lease_owner is None
            assert _job(job.id)["status"] == "queued" and _job(job.id)["position"] is not None
        if deferred:  # nothing more can start before the earliest deferral ends
            clock.advance(min(job.not_before for job in deferred) - clock.now())
        rounds += 1
        assert rounds < 10
    jobs = [_job(i) for i in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 12
    assert len(fakes["stability"].calls(BILLED)) == 12, "each job called the vendor once: deferrals cost nothing"
    assert _breaker() == "closed"
    assert _reserved() == 0


def test_a_deferred_job_is_claimed_from_its_not_before_and_not_before(gateway, run_job, fakes):
    clock = gateway(STABILITY_MAX_PER_MINUTE="1")
    first = _submit()
    clock.advance(1)  # a second apart: two submits at the same instant have no order between them
    second = _submit(ip="198.51.100.8")
    assert run_job(first)["status"] == "succeeded"
    assert _reserved() == 3  # the second job's reservation, made at submit
    assert run_job(second)["status"] == "queued"
    deferred = _stored(second)
    assert deferred.not_before == pytest.approx(clock.now() + 60, abs=1)
    assert (deferred.attempts, deferred.deferred > 0, deferred.budget) == (0, True, None)
    assert _reserved() == 0, "the attempt's reservation is released while the job waits"
    assert _breaker() == "closed", "our own pacing is no provider failure"
    clock.advance(deferred.not_before - clock.now() - 1)
    assert run_job(second)["status"] == "queued" and _stored(second).not_before == deferred.not_before
    assert len(fakes["stability"].calls(BILLED)) == 1, "not claimed before its time"
    clock.advance(1)
    assert run_job(second) == {"job_id": second, "status": "succeeded"}
    assert _stored(second).attempts == 1
    assert len(fakes["stability"].calls(BILLED)) == 2
    assert _reserved() == 0


def test_a_donors_deferred_job_still_goes_before_later_anonymous_jobs(gateway, run_job, firebase):
    clock = gateway(STABILITY_MAX_PER_MINUTE="1")
    donor = firebase.sign_up()
    wiring.gateway().users.put(UserRecord(donor.uid, tier="donor"))
    assert run_job(_submit(ip="198.51.100.9"))["status"] == "succeeded"  # the minute's one start
    donors = _submit(headers=donor.bearer)
    clock.advance(1)
    later = []
    for i in range(2):  # a second apart: two submits at the same instant have no order between them
        later.append(_submit(ip=f"198.51.100.{20 + i}"))
        clock.advance(1)
    for _ in range(3):  # each is claimed, finds no rate slot, and goes back in its place
        assert run_job(donors)["status"] == "queued"
    assert _job(donors, donor.bearer)["position"] == 0 and [_job(i)["position"] for i in later] == [1, 2]
    assert all(_stored(i).not_before is not None for i in (donors, *later))
    clock.advance(max(_stored(i).not_before for i in (donors, *later)) - clock.now())
    assert run_job(later[0]) == {"job_id": donors, "status": "succeeded"}
    assert [_job(i)["status"] for i in later] == ["queued", "queued"]


def test_vendor_rate_limits_past_the_deferral_bound_fail_the_job(gateway, run_job, fakes):
    clock = gateway(PROVIDER_MAX_DEFER_SECONDS="100")
    status, body, headers = ERRORS["stability"][ErrorKind.RATE_LIMITED]
    fakes["stability"].fail_next(status, body, {**headers, "Retry-After": "40"}, times=10)
    job_id = _submit()
    waited = []
    while (answer := run_job(job_id))["status"] == "queued":
        stored = _stored(job_id)
        waited.append(stored.deferred)
        assert _reserved() == 0 and _breaker() == "closed"
        clock.advance(stored.not_before - clock.now())
    assert answer["status"] == "failed" and waited == [pytest.approx(40, abs=1), pytest.approx(80, abs=1)]
    job = _job(job_id)
    assert job["error"]["error_type"] == "provider_unavailable"
    assert len(fakes["stability"].calls(BILLED)) == 3
    assert _reserved() == 0
