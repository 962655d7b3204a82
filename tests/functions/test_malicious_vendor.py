"""Vendors are untrusted (design: "Trust boundaries"): a malicious, spoofed or broken vendor
cannot make the gateway fetch an internal address, send a key off the vendor's host, or store
bytes that are not the image or video they claim to be.

Every fake vendor runs on 127.0.0.1; ``InternalService`` is a second loopback server on another
port, standing in for a metadata server or an admin port. Only each vendor's own base URL
(exact host and port) may be plain-http loopback; the internal service never is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest

from tests.fakes.dashscope import DashScopeFake
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.payloads import HTML, SVG, gif_bytes, noise_png
from tests.fakes.pipeline import install_gateway, serve
from tests.fakes.server import FakeVendor, InternalService
from tests.fakes.stability import StabilityFake

pytestmark = pytest.mark.slow
T2I = "/api/v1/generate/text-to-image"
T2V = "/api/v1/generate/text-to-video"
PRICES = (
    "stability/core=3,dashscope/qwen-image=2,dashscope/wan2.2-t2v-plus=2,openai/gpt-image-1=2,"
    "gemini/veo-3.0-fast-generate-001=5"
)
URL_VENDORS = ["dashscope", "openai"]  # vendors whose image results are URLs to download


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeVendor]]:
    yield from serve(stability=StabilityFake, dashscope=DashScopeFake, gemini=GeminiFake, openai=OpenAIFake)


@pytest.fixture(scope="module")
def internal() -> Iterator[InternalService]:
    service = InternalService()
    yield service
    service.stop()


@pytest.fixture
def gateway(env, monkeypatch, fakes, internal) -> Callable[..., None]:
    def install(**settings: str) -> None:
        internal.seen.clear()
        defaults = {
            "STABILITY_API_KEYS": "good-key",
            "STABILITY_BASE_URL": fakes["stability"].url,
            "DASHSCOPE_API_KEYS": "good-key",
            "DASHSCOPE_BASE_URL": fakes["dashscope"].url,
            "GEMINI_API_KEYS": "good-key",
            "GEMINI_BASE_URL": fakes["gemini"].url,
            "OPENAI_API_KEYS": "good-key",
            "OPENAI_BASE_URL": f"{fakes['openai'].url}/v1",
            "PRICES": PRICES,
            "TIER_LIMITS": "anonymous=1000,registered=1000,donor=1000",
            "PROVIDER_POLL_SECONDS": "2",
        }
        install_gateway(monkeypatch, fakes, defaults, settings)

    return install


def _job(client, run_job, path: str = T2I, **body) -> dict:
    function = "generate_text_to_image" if path == T2I else "generate_text_to_video"
    response = client(function).post(path, json={"prompt": "a red fox", **body})
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    run_job(job_id)
    return client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()


def _creates(fake: FakeVendor) -> int:
    return len([s for s in fake.seen if s.method == "POST"])


def _refused(job: dict, fake: FakeVendor) -> None:
    """Failed with our words, not failed over to ``local``, the vendor asked (and paid) once."""
    assert job["status"] == "failed", job
    assert job["error"]["error_type"] == "bad_provider_output", job
    assert "vendor says" not in job["error"]["message"]
    assert _creates(fake) == 1


@pytest.mark.parametrize("vendor", URL_VENDORS)
def test_a_result_url_on_an_internal_address_is_never_fetched(client, run_job, gateway, fakes, internal, vendor):
    gateway(ROUTE_TEXT_TO_IMAGE=f"{vendor},local")
    fakes[vendor].result_url = f"{internal.url}/computeMetadata/v1/instance/service-accounts/default/token"
    job = _job(client, run_job)
    _refused(job, fakes[vendor])
    assert internal.seen == []


@pytest.mark.parametrize("vendor", URL_VENDORS)
def test_a_redirect_to_an_internal_address_is_not_followed(client, run_job, gateway, fakes, internal, vendor):
    gateway(ROUTE_TEXT_TO_IMAGE=f"{vendor},local")
    target = quote(f"{internal.url}/admin/secret.png", safe="")
    fakes[vendor].result_url = f"{fakes[vendor].url}/_fake/redirect?to={target}"
    job = _job(client, run_job)
    _refused(job, fakes[vendor])
    assert internal.seen == []
    assert [s.path for s in fakes[vendor].seen if s.method == "GET"][-1] == "/_fake/redirect"


@pytest.mark.parametrize(
    ("vendor", "url"),
    [
        ("dashscope", "http://dashscope-result-sgp.oss-ap-southeast-1.aliyuncs.com/1/out.png"),  # allowlisted, http
        ("openai", "http://oaidalleapiprodscus.blob.core.windows.net/private/img.png"),
        ("dashscope", "https://results.attacker.invalid/out.png"),  # https, but off the allowlist
        ("openai", "https://results.attacker.invalid/out.png"),
    ],
)
def test_plain_http_and_hosts_off_the_allowlist_are_refused(client, run_job, gateway, fakes, vendor, url):
    gateway(ROUTE_TEXT_TO_IMAGE=f"{vendor},local")
    fakes[vendor].result_url = url
    _refused(_job(client, run_job), fakes[vendor])


def test_an_allowlisted_name_that_resolves_to_a_private_address_is_refused(client, run_job, gateway, fakes):
    # An operator allowlists a name that resolves inside the network (or DNS was rebound to it).
    gateway(ROUTE_TEXT_TO_IMAGE="dashscope,local", DASHSCOPE_RESULT_HOSTS="localhost,*.aliyuncs.com")
    fakes["dashscope"].result_url = "https://localhost/out.png"
    _refused(_job(client, run_job), fakes["dashscope"])


@pytest.mark.parametrize("vendor", URL_VENDORS)
def test_an_oversized_result_is_cut_off_while_streaming(client, run_job, gateway, fakes, vendor):
    gateway(ROUTE_TEXT_TO_IMAGE=f"{vendor},local", PROVIDER_MAX_RESULT_BYTES="200000")
    fakes[vendor].result_body = noise_png()  # a valid PNG of about 1 MB
    if vendor == "openai":
        fakes[vendor].result_url = f"{fakes[vendor].url}/_fake/blob"  # its own host, no Content-Length
    _refused(_job(client, run_job), fakes[vendor])


def test_gemini_never_sends_its_key_to_another_host(client, run_job, gateway, fakes, internal):
    gateway(ROUTE_TEXT_TO_VIDEO="gemini,local")
    fakes["gemini"].result_url = f"{internal.url}/v1beta/files/abc123:download?alt=media"
    _refused(_job(client, run_job, T2V, duration_seconds=2), fakes["gemini"])
    assert internal.seen == []  # no request at all, so no x-goog-api-key either


def test_gemini_file_redirected_off_its_host_gets_no_key(client, run_job, gateway, fakes, internal):
    gateway(ROUTE_TEXT_TO_VIDEO="gemini,local")
    target = quote(f"{internal.url}/download/video.mp4", safe="")
    fakes["gemini"].result_url = f"{fakes['gemini'].url}/_fake/redirect?to={target}"
    _refused(_job(client, run_job, T2V, duration_seconds=2), fakes["gemini"])
    assert internal.seen == []


@pytest.mark.parametrize(("body", "mime"), [(SVG, "image/png"), (HTML, "image/png"), (gif_bytes(), "image/gif")])
def test_a_result_that_is_not_the_image_it_claims_fails_once(client, run_job, gateway, fakes, body, mime):
    gateway(ROUTE_TEXT_TO_IMAGE="stability,local")
    fakes["stability"].result_body, fakes["stability"].result_mime = body, mime
    job = _job(client, run_job)
    _refused(job, fakes["stability"])
    assert job["result"] is None


def test_a_video_that_is_not_an_mp4_fails_once(client, run_job, gateway, fakes):
    gateway(ROUTE_TEXT_TO_VIDEO="dashscope,local")
    fakes["dashscope"].result_body = HTML  # served as video/mp4
    _refused(_job(client, run_job, T2V, duration_seconds=2), fakes["dashscope"])
