"""The provider fault matrix: every vendor, every fault that applies to it, one defined outcome each.

A row is (vendor, fault, mode) -> what the caller and the operator see, through the real pipeline:
a job submitted over HTTP and run by the worker function, or a text request (JSON or server-sent
events). The vendors are the fake servers in ``tests/fakes``; the gateway and the fakes share one
fake clock, so backoff and ``Retry-After`` waits pass instantly (only the timeout rows wait, for a
0.3 s read timeout). Each row runs on a fresh gateway whose route is the vendor, then ``local`` (so
a failover shows), unless the row says "no fallback"; the breaker opens at the first failure it
counts (so a counted failure shows). README's "Failures" table is this table.

Outcome columns:

- ``result``: the job's final status, the text answer's HTTP status, or the stream's last event;
- ``error``: the ``error_type`` the caller sees (the job's error, the envelope, the stream's error event);
- ``provider``: who the job or answer names: the vendor (it served after retrying, or its accepted
  task keeps the job), ``local`` (failed over), or None (refused, no failover);
- ``calls``: the paid requests the vendor got (creates, chat calls): 1 = not retried, 3 = 1 + 2 retries;
- ``breaker``: the vendor's circuit afterwards ("open": the router counted the failure);
- ``waited``: fake seconds waited at least (a ``Retry-After`` honoured); ``retry_after``: the refusal's header.

Every row also proves: the job reaches a final state (never lost, never retried forever), and no
answer or log line carries the vendor's own words or our key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from shared import wiring
from shared.domain import ErrorKind, Mode
from tests.conftest import function_client
from tests.fakes.harness import ERRORS, FAKES, MODELS, MODERATION_SCENARIO, URL_MODES, base_url
from tests.fakes.pipeline import install_gateway, serve
from tests.fakes.server import FakeVendor

pytestmark = pytest.mark.slow

T2I, T2V, TEXT, STREAM = "text-to-image", "text-to-video", "text", "stream"
PATHS = {T2I: "/api/v1/generate/text-to-image", T2V: "/api/v1/generate/text-to-video"}
PAID = {"stability": "/generate/", "dashscope": "/services/aigc/", "gemini": ":", "openai": "/v1/"}  # POSTs that bill
SECRETS = ("vendor says", "good-key")  # the fakes' own words and our key: never in an answer or a log line
LIMITS = "anonymous=1000,registered=1000,donor=1000"


# -- faults: how each one is put on a vendor's fake ------------------------------------------------

Inject = Callable[[FakeVendor], None]


def _say(kind: ErrorKind, times: int = 10, path: str | None = None, **headers: str) -> Inject:
    """The vendor answers with its own way of saying ``kind`` (``ERRORS`` in tests/fakes/harness.py)."""

    def inject(fake: FakeVendor) -> None:
        status, body, base = ERRORS[fake.name][kind]
        fake.fail_next(status, body, {**base, **headers}, times=times, path=path)

    return inject


def _plan(scenario: str) -> Inject:
    return lambda fake: fake.plan.append(scenario)


def _set(**attributes: object) -> Inject:
    def inject(fake: FakeVendor) -> None:
        for name, value in attributes.items():
            setattr(fake, name, value)

    return inject


def _garbled(path: str | None = None) -> Inject:
    return lambda fake: fake.fail_next(200, "{vendor says: this is not JSON", path=path)


def _hang(path: str | None = None) -> Inject:
    return lambda fake: fake.hang_next(times=3, path=path)


def _exhausted(fake: FakeVendor) -> None:
    fake.exhausted.add("good-key")


def _expired_link(fake: FakeVendor) -> None:
    fake.result_url = f"{fake.url}/_fake/expired"  # older OpenAI image models answer a signed URL


STORM = _say(ErrorKind.UNAVAILABLE)
BURST = _say(ErrorKind.UNAVAILABLE, times=2)
RATE_SHORT = _say(ErrorKind.RATE_LIMITED, times=1, **{"Retry-After": "7"})
RATE_LONG = _say(ErrorKind.RATE_LIMITED, times=1, **{"Retry-After": "120"})
TIMEOUT = {"PROVIDER_READ_TIMEOUT": "0.3"}


# -- rows ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    result: str
    error: str | None
    provider: str | None
    calls: int
    breaker: str = "closed"
    waited: float = 0.0
    retry_after: int | None = None


def ok(provider: str, calls: int = 1, breaker: str = "closed", waited: float = 0.0, result: str = "succeeded"):
    return Outcome(result, None, provider, calls, breaker, waited)


def failed(error: str, provider: str | None, calls: int = 1, breaker: str = "closed", result: str = "failed"):
    return Outcome(result, error, provider, calls, breaker)


def refused(status: str, error: str, calls: int, breaker: str = "closed", retry_after: int | None = None):
    return Outcome(status, error, None, calls, breaker, retry_after=retry_after)


@dataclass(frozen=True)
class Row:
    vendor: str
    fault: str
    mode: str
    inject: Inject = field(repr=False)
    expect: Outcome
    settings: dict[str, str] = field(default_factory=dict, repr=False)
    fallback: bool = True  # ``local`` after the vendor in the route

    @property
    def id(self) -> str:
        return f"{self.vendor}-{self.fault}-{self.mode}".replace(" ", "_")


FAILED_OVER = ok("local", 3, "open")  # retried (1 + 2), then the next provider; the breaker counted it
POLICY = failed("content_policy", None)  # never retried, never failed over, breaker untouched
DOWN = "provider_unavailable"  # what the caller is told when the vendor failed (503 for text)


def _cut(vendor: str) -> Outcome:
    return Outcome("error", "stream_interrupted", vendor, 1)


ROWS = [
    # -- 5xx: a burst is retried with backoff; a storm is retried, then fails over --------------------
    *(Row(v, "500 burst", T2I, BURST, ok(v, 3)) for v in FAKES),
    *(Row(v, "500 storm", T2I, STORM, FAILED_OVER) for v in FAKES),
    Row("dashscope", "500 storm", T2V, STORM, FAILED_OVER),
    Row("gemini", "500 storm", T2V, STORM, FAILED_OVER),
    Row("openai", "500 storm", TEXT, STORM, ok("local", 3, "open", result="200")),
    Row("gemini", "500 storm", TEXT, STORM, ok("local", 3, "open", result="200")),
    Row("openai", "500 storm", STREAM, STORM, ok("local", 3, "open", result="done")),
    Row("openai", "500 storm, no fallback", TEXT, STORM, refused("503", DOWN, 3, "open", 10), fallback=False),
    # an accepted video task keeps its job (failing over would pay twice): polls are retried, then it fails
    Row("dashscope", "500 storm while polling", T2V, _say(ErrorKind.UNAVAILABLE, path="/tasks/"),
        failed(DOWN, "dashscope", 1, "open")),
    Row("gemini", "500 storm while polling", T2V, _say(ErrorKind.UNAVAILABLE, path="/operations/"),
        failed(DOWN, "gemini", 1, "open")),
    Row("dashscope", "task failed at the vendor", T2V, _plan("fail:InternalError"),
        failed(DOWN, "dashscope", 1, "open")),
    Row("gemini", "task failed at the vendor", T2V, _plan("fail"), failed(DOWN, "gemini", 1, "open")),
    # -- timeouts: as a 5xx --------------------------------------------------------------------------
    *(Row(v, "timeout", T2I, _hang(), FAILED_OVER, TIMEOUT) for v in FAKES),
    Row("dashscope", "timeout while polling", T2V, _hang("/tasks/"), failed(DOWN, "dashscope", 1, "open"), TIMEOUT),
    Row("openai", "timeout", TEXT, _hang(), ok("local", 3, "open", result="200"), TIMEOUT),
    Row("openai", "timeout mid-stream", STREAM, _plan("stall"), _cut("openai"), TIMEOUT),
    # -- 429 + Retry-After: a short wait is honoured, then the same vendor serves; a long one fails over --
    *(Row(v, "429 Retry-After 7", T2I, RATE_SHORT, ok(v, 2, waited=7)) for v in FAKES),
    Row("openai", "429 Retry-After 7", TEXT, RATE_SHORT, ok("openai", 2, waited=7, result="200")),
    Row("gemini", "429 Retry-After 7", TEXT, RATE_SHORT, ok("gemini", 2, waited=7, result="200")),
    *(Row(v, "429 Retry-After 120", T2I, RATE_LONG, ok("local")) for v in FAKES),
    Row("openai", "429 Retry-After 120, no fallback", TEXT, RATE_LONG, refused("503", DOWN, 1, retry_after=120),
        fallback=False),
    # -- quota exhausted (Gemini says RESOURCE_EXHAUSTED: a rate limit): no retry, the key rests, failover --
    *(Row(v, "quota exhausted", T2I, _exhausted, ok("local")) for v in FAKES),
    Row("openai", "quota exhausted", TEXT, _exhausted, ok("local", result="200")),
    Row("openai", "quota exhausted, no fallback", TEXT, _exhausted, refused("503", DOWN, 1, retry_after=10),
        fallback=False),
    # -- moderation, as an HTTP error or as an HTTP 200 that refuses: refused, never sent elsewhere ----
    Row("stability", "moderation 403", T2I, _plan("moderation"), POLICY),
    Row("stability", "moderation 200", T2I, _plan(MODERATION_SCENARIO["stability"]), POLICY),
    Row("dashscope", "moderation 400", T2V, _plan("moderation"), POLICY),
    Row("dashscope", "moderation 200", T2I, _plan(MODERATION_SCENARIO["dashscope"]),
        failed("content_policy", "dashscope")),
    Row("gemini", "moderation 200", T2I, _plan(MODERATION_SCENARIO["gemini"]), POLICY),
    Row("gemini", "moderation 200", T2V, _plan("filtered"), failed("content_policy", "gemini")),
    Row("gemini", "moderation 200", TEXT, _plan("block"), refused("422", "content_policy", 1)),
    Row("gemini", "moderation 200", STREAM, _plan("block"), refused("422", "content_policy", 1)),
    Row("openai", "moderation 400", T2I, _plan("moderation"), POLICY),
    Row("openai", "moderation 400", TEXT, _plan("moderation"), refused("422", "content_policy", 1)),
    # -- malformed JSON in a 200 -----------------------------------------------------------------------
    Row("stability", "malformed body", T2I, _garbled(), failed("bad_provider_output", None)),
    Row("dashscope", "malformed JSON", T2I, _garbled(), ok("local", 1, "open")),
    Row("dashscope", "malformed JSON while polling", T2V, _garbled("/tasks/"), ok("dashscope")),
    Row("gemini", "malformed JSON", T2I, _garbled(), ok("local", 1, "open")),
    Row("gemini", "malformed JSON while polling", T2V, _garbled("/operations/"), ok("gemini")),
    Row("gemini", "malformed JSON", TEXT, _garbled(), ok("local", 1, "open", result="200")),
    Row("openai", "malformed JSON", T2I, _garbled(), ok("local", 1, "open")),
    Row("openai", "malformed JSON", TEXT, _garbled(), ok("local", 1, "open", result="200")),
    Row("openai", "malformed stream chunk", STREAM, _plan("garbled"), ok("local", 1, "open", result="done")),
    # -- an expired result URL: nothing to retry; an image fails over, an accepted video fails --------
    Row("dashscope", "expired result URL", T2I, _set(url_ttl=-1.0), ok("local", 1, "open")),
    Row("dashscope", "expired result URL", T2V, _set(url_ttl=-1.0), failed(DOWN, "dashscope", 1, "open")),
    Row("gemini", "expired result URL", T2V, _set(file_ttl=-1.0), failed(DOWN, "gemini", 1, "open")),
    Row("openai", "expired result URL", T2I, _expired_link, ok("local", 1, "open")),
    # -- a stream cut after some text: an explicit error event, no failover (text was sent) -----------
    Row("openai", "stream cut", STREAM, _plan("cut"), _cut("openai")),
    Row("openai", "stream ends without [DONE]", STREAM, _plan("truncate"), _cut("openai")),
    Row("gemini", "stream cut", STREAM, _plan("cut"), _cut("gemini")),
]  # fmt: skip


# -- the pipeline ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeVendor]]:
    yield from serve(**FAKES)


def _settings(row: Row, fake: FakeVendor) -> dict[str, str]:
    name = row.vendor.upper()
    mode = Mode.TEXT if row.mode == STREAM else Mode(row.mode)
    models = {f"{name}_{m.name}_MODEL": model for m, model in MODELS[row.vendor].items()}
    return {
        f"{name}_API_KEYS": "good-key",
        f"{name}_BASE_URL": base_url(row.vendor, fake),
        **models,
        f"ROUTE_{mode.name}": f"{row.vendor},local" if row.fallback else row.vendor,
        "PRICES": ",".join(f"{row.vendor}/{model}=1" for model in MODELS[row.vendor].values()),
        "TIER_LIMITS": LIMITS,
        "TEXT_TIER_LIMITS": LIMITS,
        "BREAKER_THRESHOLD": "1",
        "PROVIDER_MAX_RETRIES": "2",
        "PROVIDER_MAX_WAIT_SECONDS": "20",
        "PROVIDER_POLL_SECONDS": "2",
        "PROVIDER_MAX_TASK_SECONDS": "120",
        **row.settings,
    }


def _job(row: Row, run_job: Callable[[str], object]) -> tuple[str, dict, dict]:
    body = {"prompt": "a red fox", **({"duration_seconds": 2} if row.mode == T2V else {})}
    submitted = function_client(f"generate_{row.mode.replace('-', '_')}").post(PATHS[row.mode], json=body)
    assert submitted.status_code == 202, submitted.get_json()
    job_id = submitted.get_json()["job_id"]
    run_job(job_id)
    job = function_client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()
    return job["status"], job, {"error": (job.get("error") or {}).get("error_type"), "provider": job.get("provider")}


def _events(raw: str) -> list[tuple[str | None, dict]]:
    """Server-sent events as (name or None for a delta, data)."""
    events = []
    for block in filter(None, raw.split("\n\n")):
        lines = block.split("\n")
        name = lines[0].removeprefix("event: ") if lines[0].startswith("event: ") else None
        events.append((name, json.loads(lines[-1].removeprefix("data: "))))
    return events


def _text(row: Row) -> tuple[str, dict, dict]:
    answer = function_client("generate_text").post(
        "/api/v1/generate/text", json={"prompt": "a story", "stream": row.mode == STREAM}
    )
    if answer.mimetype != "text/event-stream":
        body = answer.get_json()
        if answer.status_code >= 400:  # the error envelope
            assert body["success"] is False and body["message"] and body["request_id"], body
        retry = answer.headers.get("Retry-After")
        seen = {
            "error": body.get("error_type"),
            "provider": body.get("provider"),
            "retry": int(retry) if retry else None,
        }
        return str(answer.status_code), body, seen
    events = _events(answer.get_data(as_text=True))
    (first, start), (last, end) = events[0], events[-1]
    assert first == "start" and last in ("done", "error"), events
    if last == "error":
        assert any(name is None for name, _ in events), "a stream cut after some text"
    return last, {"events": events}, {"error": end.get("error_type"), "provider": start["provider"]}


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_a_fault_ends_in_its_defined_outcome(row: Row, env, run_job, monkeypatch, fakes, caplog):
    fake = fakes[row.vendor]
    clock = install_gateway(monkeypatch, {row.vendor: fake}, {}, _settings(row, fake))
    row.inject(fake)
    started = clock.now()
    with caplog.at_level(logging.INFO):
        result, body, seen = _job(row, run_job) if row.mode in PATHS else _text(row)
    calls = len([s for s in fake.seen if s.method == "POST" and PAID[row.vendor] in s.path])
    breaker = wiring.gateway().providers.states().get(row.vendor, "closed")
    waited = row.expect.waited if clock.now() - started >= row.expect.waited else clock.now() - started
    got = Outcome(result, seen["error"], seen["provider"], calls, breaker, waited,
                  seen.get("retry"))  # fmt: skip
    assert got == row.expect, f"got {got}\n{json.dumps(body)[:800]}"
    leaks = [s for s in SECRETS if s in json.dumps(body) or any(s in str(r.__dict__) for r in caplog.records)]
    assert leaks == [], "the vendor's own words or our key reached an answer or a log line"


def test_every_vendor_meets_every_fault_that_applies_to_it():
    """A vendor added to ``FAKES`` without its rows fails here. Expired result URLs apply to the
    vendors that answer URLs; stream faults to the vendors that stream text."""
    faults = {v: {r.fault.split(" ")[0] for r in ROWS if r.vendor == v} for v in FAKES}
    assert all({"500", "timeout", "429", "quota", "moderation", "malformed"} <= faults[v] for v in FAKES), faults
    assert {r.vendor for r in ROWS if r.fault.startswith("expired")} == set(URL_MODES)
    assert {r.vendor for r in ROWS if r.fault.startswith("stream")} == {v for v in FAKES if Mode.TEXT in MODELS[v]}
