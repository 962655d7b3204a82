"""What a generation and a text request cost on Firestore, through the real functions on the
emulator, counted as Firestore bills (``OpCounter``). A regression here is a store operation added
to the hot path: README "Store operations" lists each one and why it is needed.

The gateway runs on a fake clock, so the per-instance caches (the load figure, breaker states, ETA
statistics) expire exactly when a test advances it; ``bench/store_ops.py`` measures the same paths
at the real pace.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from shared import wiring
from shared.config import Settings
from shared.stores.firestore.db import OpCount
from tests.conftest import TASKS_TOKEN, function_client
from tests.fakes.clock import FakeClock
from tests.fakes.openai import OpenAIFake
from tests.fakes.pipeline import serve
from tests.fakes.server import FakeVendor
from tests.fakes.stability import StabilityFake
from tests.firestore_emulator import FirestoreEmulator
from tests.helpers import emulator_id_token

pytestmark = pytest.mark.slow
T2I, TEXT = "/api/v1/generate/text-to-image", "/api/v1/generate/text"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeVendor]]:
    yield from serve(stability=StabilityFake, openai=OpenAIFake)


@pytest.fixture
def gateway(
    env, monkeypatch: pytest.MonkeyPatch, firestore_emulator: FirestoreEmulator, fakes: dict[str, FakeVendor]
) -> Iterator[Callable[..., FakeClock]]:
    """A gateway on a new emulator project with these settings, on a fake clock."""
    projects: list[str] = []

    def install(**settings: str) -> FakeClock:
        project = firestore_emulator.settings().firestore_project
        projects.append(project)
        values = {
            "STORE": "firestore",
            "FIRESTORE_PROJECT": project,
            "FIREBASE_AUTH_EMULATOR_HOST": os.environ.get("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9"),
            "LOAD_CACHE_SECONDS": "2",  # the default (the test env turns it off)
            "STABILITY_API_KEYS": "good-key",
            "STABILITY_BASE_URL": fakes["stability"].url,
            "OPENAI_API_KEYS": "good-key",
            "OPENAI_BASE_URL": f"{fakes['openai'].url}/v1",
            "OPENAI_TEXT_MODEL": "chat-test",
            "PRICES": "stability/core=3,openai/chat-test=0.05",
            **settings,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        clock = FakeClock()
        wiring.install(wiring.Gateway(Settings(), clock))
        return clock

    yield install
    wiring.reset()
    for project in projects:
        firestore_emulator.reset(project)


def _cost(action: Callable[[], object]) -> tuple[object, tuple[int, int]]:
    ops = wiring.gateway().stores.ops
    assert ops is not None
    with ops.track() as tally:
        result = action()
    return result, (tally.reads, tally.writes)


def _submit(ip: str, headers: dict[str, str] | None = None) -> dict:
    answer = function_client("generate_text_to_image").post(
        T2I, json={"prompt": "a red fox"}, headers=headers or {}, environ_base={"REMOTE_ADDR": ip}
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)
    return answer.get_json()


def _run(job_id: str) -> None:
    answer = function_client("run_job").post(
        "/api/v1/tasks/run-job", json={"job_id": job_id}, headers={"Authorization": f"Bearer {TASKS_TOKEN}"}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)


def _poll(job_id: str, ip: str) -> dict:
    answer = function_client("jobs").get(f"/api/v1/jobs/{job_id}", environ_base={"REMOTE_ADDR": ip})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def test_a_new_visitors_generation_is_four_writes_and_analytics_and_at_most_five_reads(gateway):
    clock = gateway(ROUTE_TEXT_TO_IMAGE="local", LOCAL_DELAY_SECONDS="4")
    first = _submit("203.0.113.1")  # the instance's first generation: ETA statistics read once
    _run(first["job_id"])
    clock.advance(6)  # the load figure (2 s) and breaker states (5 s) expire, as between generations
    accepted, submit = _cost(lambda: _submit("203.0.113.2"))
    # reads: the queue counts and breaker states (the load figure), the address's block and bucket
    # (one query); no position count (the queue was empty); writes: the bucket and the job
    assert submit == (3, 2) and accepted["position"] == 0
    _, worker = _cost(lambda: _run(accepted["job_id"]))
    assert worker == (1, 3)  # the claim (a query reading one job, a compare-and-set), finish, analytics
    view, poll = _cost(lambda: _poll(accepted["job_id"], "203.0.113.2"))
    assert view["status"] == "succeeded" and poll == (1, 0)
    assert submit[1] + worker[1] == 4 + 1, "4 writes and analytics' counter"
    assert submit[0] + worker[0] + poll[0] <= 5, "at most 6 with a second poll"


def test_a_text_request_is_one_read_and_two_writes_on_a_free_route(gateway):
    gateway(ROUTE_TEXT="local")
    headers = emulator_id_token("text-free")
    client = function_client("generate_text")

    def ask(prompt: str) -> None:
        answer = client.post(TEXT, json={"prompt": prompt}, headers=headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)

    ask("first: the user's record is made")
    # the bucket and the address's block (one query); writes: bucket, usage record (analytics' counter
    # is summed in memory and written once per ANALYTICS_FLUSH_SECONDS, not per request)
    assert _cost(lambda: ask("a question"))[1] == (1, 2)


def test_a_paid_text_request_reads_the_cache_and_a_miss_writes_the_entry(gateway):
    gateway(ROUTE_TEXT="openai,local")
    headers = emulator_id_token("text-paid")
    client = function_client("generate_text")

    def ask(prompt: str) -> None:
        answer = client.post(TEXT, json={"prompt": prompt}, headers=headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)

    ask("first: the user's record is made")
    # a miss: bucket and block, the cache; writes: bucket, cache entry, usage record
    assert _cost(lambda: ask("a paid question"))[1] == (2, 3)
    assert _cost(lambda: ask("a paid question"))[1] == (2, 2), "a hit writes no cache entry"


def test_a_users_monthly_cap_adds_one_read_and_one_write_to_a_generation(gateway):
    costs: dict[bool, OpCount] = {}
    for cap in (False, True):
        gateway(ROUTE_TEXT_TO_IMAGE="stability", **({"BUDGET_USER_MONTHLY_UNITS": "registered=1000"} if cap else {}))
        headers = emulator_id_token(f"capped-{cap}")
        _run(_submit("198.51.100.7", headers)["job_id"])  # the user's record made, keys looked up
        ops = wiring.gateway().stores.ops
        assert ops is not None
        with ops.track() as tally:
            _run(_submit("198.51.100.7", headers)["job_id"])
        costs[cap] = tally
    extra = costs[True].minus(costs[False])
    assert (extra.reads, extra.writes) == (1, 1), "one compare-and-set on the user's own budget document"
