"""The official ``openai`` SDK against the embedded server (``make dev``) as a real subprocess.

Everything is served by the offline ``local`` provider; the in-process dispatcher runs the image
jobs while the request waits. A second server has tight limits and no dispatcher, for the
rate-limit answer and the image wait that runs out.
"""

from __future__ import annotations

import base64
import io

import openai
import pytest
import requests
from PIL import Image

from tests.e2e.server import DevServer

pytestmark = pytest.mark.slow
HI = [{"role": "user", "content": "a lighthouse at dusk"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    dev = DevServer(tmp_path_factory.mktemp("dev-openai"), TIER_LIMITS="anonymous=1000,registered=1000,donor=1000")
    yield dev
    assert dev.stop() == 0


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    """Tight limits for text, no grace; no dispatcher, so an image job never runs; a short wait."""
    dev = DevServer(
        tmp_path_factory.mktemp("dev-openai-tight"),
        TEXT_TIER_LIMITS="anonymous=1,registered=5,donor=10",
        GRACE_REQUESTS="0",
        DISPATCHER="none",
        OPENAI_IMAGES_WAIT_SECONDS="1",
    )
    yield dev
    assert dev.stop() == 0


def _client(dev: DevServer, **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{dev.url}/v1", api_key="not-checked-for-anonymous-callers", **options)


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


def test_chat_completion(server):
    completion = _client(server).chat.completions.create(model="auto", messages=HI, max_tokens=64)
    assert completion.model == "local/local-text" and completion.object == "chat.completion"
    assert "lighthouse" in completion.choices[0].message.content
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_chat_completion_stream(server):
    stream = _client(server).chat.completions.create(
        model="local/local-text", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "lighthouse" in text and chunks[-1].usage is not None
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_images_as_b64_json_and_as_url(server):
    client = _client(server)
    answer = client.images.generate(
        model="auto", prompt="a red fox in snow", size="1792x1024", response_format="b64_json"
    )
    image = _png(base64.b64decode(answer.data[0].b64_json))
    assert image.width > image.height  # 16:9
    linked = client.images.generate(model="local/local-text-to-image", prompt="a blue fox", response_format="url")
    fetched = requests.get(linked.data[0].url, timeout=10)
    assert linked.data[0].url.startswith(server.url) and fetched.status_code == 200
    assert (
        fetched.headers["Content-Type"] == "image/png" and _png(fetched.content).width == _png(fetched.content).height
    )


def test_models_list(server):
    assert {m.id for m in _client(server).models.list()} == {"auto", "local/local-text", "local/local-text-to-image"}


def test_an_oversize_prompt_is_a_bad_request(server):
    with pytest.raises(openai.BadRequestError) as raised:
        _client(server).chat.completions.create(model="auto", messages=[{"role": "user", "content": "x" * 5000}])
    assert raised.value.param == "messages[0].content" and raised.value.type == "invalid_request_error"


def test_rate_limit_error_carries_retry_after(tight):
    client = _client(tight, max_retries=0)
    client.chat.completions.create(model="auto", messages=HI)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="auto", messages=HI)
    headers = raised.value.response.headers
    assert int(headers["retry-after"]) >= 1 and "RateLimit-Policy" in headers and "RateLimit" in headers
    assert raised.value.code == "rate_limit_exceeded"


def test_an_image_that_is_not_ready_in_time_is_a_504_naming_the_job(tight):
    with pytest.raises(openai.InternalServerError) as raised:
        _client(tight).images.generate(prompt="a fox that takes its time")
    error = raised.value
    assert error.status_code == 504 and error.code == "job_timeout"
    job_id = error.body["job_id"]
    assert job_id in error.message
    job = requests.get(f"{tight.url}/api/v1/jobs/{job_id}", timeout=5).json()
    assert job["status"] == "queued" and job["mode"] == "text-to-image"
