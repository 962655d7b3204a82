"""One provider contract, run on every adapter against its fake vendor server, plus ``local``.

Adding a vendor means adding a fake and a harness entry (tests/fakes), not new tests.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import av
import pytest
import requests
from PIL import Image

from shared.models import ChatMessage, Mode
from shared.providers.base import ErrorKind, GenerationRequest, JobContext, Provider, ProviderError, TextRequest
from shared.providers.local import LocalProvider
from shared.providers.router import ProviderRouter
from tests.fakes.clock import FakeClock
from tests.fakes.harness import ERRORS, FAKES, URL_MODES, Tasks, build
from tests.fakes.payloads import IMAGE_LIES, VIDEO_LIES
from tests.fakes.server import FakeVendor, InternalService
from tests.helpers import png

VENDORS = list(FAKES)
PROVIDERS = ["local", *VENDORS]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeVendor]]:
    fakes = {name: cls().start() for name, cls in FAKES.items()}
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture(scope="module")
def internal() -> Iterator[InternalService]:
    service = InternalService()
    yield service
    service.stop()


@dataclass
class Subject:
    name: str
    provider: Provider
    fake: FakeVendor | None
    tasks: Tasks


def _make(name: str, servers: dict[str, FakeVendor]) -> Subject:
    clock = FakeClock()
    if name == "local":
        return Subject("local", LocalProvider(video_fps=4), None, Tasks(clock))
    fake = servers[name]
    fake.reset()
    fake.clock = clock
    return Subject(name, build(name, fake, clock), fake, Tasks(clock))


@pytest.fixture(params=PROVIDERS)
def subject(request: pytest.FixtureRequest, servers: dict[str, FakeVendor]) -> Subject:
    return _make(request.param, servers)


@pytest.fixture(params=VENDORS)
def vendor(request: pytest.FixtureRequest, servers: dict[str, FakeVendor]) -> Subject:
    return _make(request.param, servers)


def _request(mode: Mode, prompt: str = "a lighthouse at dusk") -> GenerationRequest:
    image = png(96, 64) if mode.needs_image else None
    return GenerationRequest(mode, prompt, seed=7, duration_seconds=1.0, image=image, image_mime="image/png")


def _text() -> TextRequest:
    return TextRequest([ChatMessage(role="user", content="tell me a story")], max_tokens=64)


def _media_modes(provider: Provider) -> list[Mode]:
    return sorted((m for m in provider.modes if m is not Mode.TEXT), key=lambda m: m.value)


def _assert_no_leak(exc: ProviderError) -> None:
    assert "vendor says" not in exc.message and "key" not in exc.message.split("API key")[-1]
    assert "good-key" not in exc.message and "second-key" not in exc.message


def test_offers_modes_with_model_ids(subject: Subject):
    assert subject.provider.modes
    for mode in subject.provider.modes:
        assert subject.provider.model_for(mode)


def test_every_media_mode_returns_real_media(subject: Subject):
    for mode in _media_modes(subject.provider):
        output = subject.provider.generate(_request(mode), subject.tasks.context())
        if mode.is_video:
            assert output.mime_type == "video/mp4"
            with av.open(io.BytesIO(output.data)) as container:
                assert container.streams.video[0].frames >= 2 or container.duration
        else:
            assert output.mime_type == "image/png"
            assert Image.open(io.BytesIO(output.data)).format == "PNG"


def test_image_modes_need_an_image(subject: Subject):
    for mode in _media_modes(subject.provider):
        if mode.needs_image:
            request = GenerationRequest(mode, "no image here")
            with pytest.raises(ProviderError) as caught:
                subject.provider.generate(request, subject.tasks.context())
            assert caught.value.kind is ErrorKind.BAD_REQUEST


def test_text_completes_and_streams_the_same_answer(subject: Subject):
    if Mode.TEXT not in subject.provider.modes:
        pytest.skip("no text mode")
    answer = subject.provider.complete(_text())
    assert answer.text and answer.model and answer.completion_tokens > 0
    deltas = list(subject.provider.stream(_text()))
    assert len(deltas) > 1 and "".join(deltas) == answer.text


# ---- vendors only: error mapping, lifecycle ----------------------------------------------------


def _first_mode(provider: Provider) -> Mode:
    return _media_modes(provider)[0]


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_vendor_answers_map_to_error_kinds(vendor: Subject, kind: ErrorKind):
    assert vendor.fake is not None
    answer = ERRORS[vendor.name].get(kind)
    if answer is None:
        pytest.skip(f"{vendor.name} has no distinct {kind.value} answer")
    status, body, headers = answer
    vendor.fake.fail_next(status, body, headers, times=5)
    with pytest.raises(ProviderError) as caught:
        vendor.provider.generate(_request(_first_mode(vendor.provider)), vendor.tasks.context())
    assert caught.value.kind is kind
    assert caught.value.provider == vendor.name
    _assert_no_leak(caught.value)


def test_retry_after_is_honoured(vendor: Subject):
    assert vendor.fake is not None
    body = ERRORS[vendor.name][ErrorKind.UNAVAILABLE][1]
    vendor.fake.fail_next(503, body, {"Retry-After": "7"})
    before = vendor.tasks.clock.now()
    vendor.provider.generate(_request(_first_mode(vendor.provider)), vendor.tasks.context())
    assert vendor.tasks.clock.now() - before >= 7


def test_an_exhausted_key_rotates_to_the_next(vendor: Subject):
    assert vendor.fake is not None
    provider = build(vendor.name, vendor.fake, vendor.tasks.clock, keys=["good-key", "second-key"])
    vendor.fake.exhausted.add("good-key")
    mode = _first_mode(provider)
    for _ in range(3):
        assert provider.generate(_request(mode), vendor.tasks.context()).data
    creating = [s for s in vendor.fake.seen if s.method == "POST"]
    assert [s.key for s in creating] == ["good-key", "second-key", "second-key", "second-key"]


def test_a_bad_key_alone_is_an_auth_error(vendor: Subject):
    assert vendor.fake is not None
    vendor.fake.keys = {"another-key"}
    with pytest.raises(ProviderError) as caught:
        vendor.provider.generate(_request(_first_mode(vendor.provider)), vendor.tasks.context())
    assert caught.value.kind is ErrorKind.AUTH
    _assert_no_leak(caught.value)


def test_async_tasks_are_saved_before_waiting_and_resumed(vendor: Subject):
    video = [m for m in vendor.provider.modes if m.is_video]
    if not video:
        pytest.skip("no async task mode")
    context = vendor.tasks.context()
    vendor.provider.generate(_request(video[0]), context)
    assert len(vendor.tasks.saved) == 1
    creates = len([s for s in vendor.fake.seen if s.method == "POST"])
    # a restarted worker resumes the saved task: no new (paid) task is created
    output = vendor.provider.generate(_request(video[0]), vendor.tasks.context(vendor.tasks.saved[0]))
    assert output.mime_type == "video/mp4"
    assert len([s for s in vendor.fake.seen if s.method == "POST"]) == creates


# ---- fidelity of particular fakes -------------------------------------------------------------


def test_stability_locks_out_after_the_burst_limit(servers: dict[str, FakeVendor]):
    fake = servers["stability"]
    fake.reset()
    fake.rate_limit = 2  # type: ignore[attr-defined]
    clock = FakeClock()
    fake.clock = clock
    provider = build("stability", fake, clock)
    tasks = Tasks(clock)
    for _ in range(2):
        provider.generate(_request(Mode.TEXT_TO_IMAGE), tasks.context())
    with pytest.raises(ProviderError) as caught:
        provider.generate(_request(Mode.TEXT_TO_IMAGE), tasks.context())
    assert caught.value.kind is ErrorKind.RATE_LIMITED
    raw = requests.post(f"{fake.url}/v2beta/stable-image/generate/core", headers={"Authorization": "Bearer good-key"})
    assert raw.status_code == 429 and raw.json()["name"] == "rate_limit_exceeded"
    clock.advance(61)
    fresh = build("stability", fake, clock)
    assert fresh.generate(_request(Mode.TEXT_TO_IMAGE), tasks.context()).data


def test_stability_answers_json_with_base64_when_asked(servers: dict[str, FakeVendor]):
    fake = servers["stability"]
    fake.reset()
    answer = requests.post(
        f"{fake.url}/v2beta/stable-image/generate/core",
        files={"prompt": (None, "x")},
        headers={"Authorization": "Bearer good-key", "Accept": "application/json"},
    ).json()
    assert answer["finish_reason"] == "SUCCESS" and answer["image"] and "seed" in answer


def test_dashscope_lifecycle_and_failed_task_with_http_200(servers: dict[str, FakeVendor]):
    fake = servers["dashscope"]
    fake.reset()
    headers = {"Authorization": "Bearer good-key", "X-DashScope-Async": "enable"}
    body = {"model": "wan", "input": {"prompt": "waves"}}
    created = requests.post(
        f"{fake.url}/api/v1/services/aigc/video-generation/video-synthesis", json=body, headers=headers
    )
    task_id = created.json()["output"]["task_id"]
    statuses = []
    for _ in range(3):
        poll = requests.get(f"{fake.url}/api/v1/tasks/{task_id}", headers=headers)
        statuses.append(poll.json()["output"]["task_status"])
    assert statuses == ["PENDING", "RUNNING", "SUCCEEDED"]
    unknown = requests.get(f"{fake.url}/api/v1/tasks/nope", headers=headers).json()
    assert unknown["output"]["task_status"] == "UNKNOWN"
    fake.plan.append("fail:InternalError")
    failing = requests.post(f"{fake.url}/api/v1/services/aigc/text2image/image-synthesis", json=body, headers=headers)
    failed_id = failing.json()["output"]["task_id"]
    answers = [requests.get(f"{fake.url}/api/v1/tasks/{failed_id}", headers=headers) for _ in range(3)]
    assert answers[-1].status_code == 200 and answers[-1].json()["output"]["task_status"] == "FAILED"


def test_dashscope_result_urls_expire_so_bytes_are_copied_at_once(servers: dict[str, FakeVendor]):
    fake = servers["dashscope"]
    fake.reset()
    clock = FakeClock()
    fake.clock = clock
    provider = build("dashscope", fake, clock)
    output = provider.generate(_request(Mode.TEXT_TO_IMAGE), Tasks(clock).context())
    assert Image.open(io.BytesIO(output.data)).format == "PNG"
    result_url = f"{fake.url}/results/{next(iter(fake.results))}"  # type: ignore[attr-defined]
    assert requests.get(result_url).status_code == 200
    clock.advance(24 * 3600 + 1)
    assert requests.get(result_url).status_code == 403


def test_gemini_video_file_needs_the_key(servers: dict[str, FakeVendor]):
    fake = servers["gemini"]
    fake.reset()
    clock = FakeClock()
    provider = build("gemini", fake, clock)
    assert provider.generate(_request(Mode.TEXT_TO_VIDEO), Tasks(clock).context()).data
    op = next(iter(fake.operations)).rsplit("/", 1)[-1]  # type: ignore[attr-defined]
    url = f"{fake.url}/v1beta/files/{op}:download?alt=media"
    assert requests.get(url).status_code == 400
    assert requests.get(url, headers={"x-goog-api-key": "good-key"}).status_code == 200


# ---- results are never trusted (every provider's output passes the router's check) ------------


def _router(subject: Subject) -> ProviderRouter:
    """``subject`` alone behind the router, every model priced: what the job runner calls."""
    prices = {f"{subject.name}/{subject.provider.model_for(m)}": 1.0 for m in subject.provider.modes}
    routes = {mode: [subject.name] for mode in Mode}
    return ProviderRouter({subject.name: subject.provider}, routes, clock=subject.tasks.clock, prices=prices)


def _posts(subject: Subject) -> int:
    return len([s for s in subject.fake.seen if s.method == "POST"]) if subject.fake else 0


def test_every_media_result_passes_the_output_check(subject: Subject):
    for mode in _media_modes(subject.provider):
        _served, output = _router(subject).generate(_request(mode), JobContext(subject.tasks.clock.sleep))
        assert output.mime_type == ("video/mp4" if mode.is_video else "image/png")
        assert output.meta["width"] > 0 and output.meta["height"] > 0


@pytest.mark.parametrize(("image_lie", "video_lie"), [("svg", "html"), ("gif", "gif"), ("bomb", "truncated")])
def test_a_result_that_is_not_what_it_claims_is_bad_output_asked_once(vendor: Subject, image_lie, video_lie):
    assert vendor.fake is not None
    for mode in _media_modes(vendor.provider):
        vendor.fake.reset()
        vendor.fake.clock = vendor.tasks.clock
        lie = VIDEO_LIES[video_lie] if mode.is_video else IMAGE_LIES[image_lie]
        vendor.fake.result_body = lie
        with pytest.raises(ProviderError) as caught:
            _router(vendor).generate(_request(mode), JobContext(vendor.tasks.clock.sleep))
        assert (caught.value.kind, caught.value.provider) == (ErrorKind.BAD_OUTPUT, vendor.name), mode
        assert _posts(vendor) == 1, f"{mode}: asked (and paid) once, no retry"
        _assert_no_leak(caught.value)


def test_a_result_url_on_an_internal_address_is_never_fetched(vendor: Subject, internal: InternalService):
    assert vendor.fake is not None
    modes = [m for m in _media_modes(vendor.provider) if m in URL_MODES.get(vendor.name, ())]
    if not modes:
        pytest.skip(f"{vendor.name} answers results inline")
    for mode in modes:
        vendor.fake.result_url = f"{internal.url}/latest/meta-data/iam/security-credentials/"
        with pytest.raises(ProviderError) as caught:
            vendor.provider.generate(_request(mode), vendor.tasks.context())
        assert caught.value.kind is ErrorKind.BAD_OUTPUT, mode
    assert internal.seen == []
