"""The S3 media store against moto's S3 server (a real HTTP endpoint on 127.0.0.1).

moto does not check presigned signatures or expiry; the local store's own signed URLs are
tested for those in tests/functions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from shared import wiring
from shared.config import Settings
from shared.media_s3 import S3MediaStore, s3_client
from tests.helpers import free_port, png

pytestmark = pytest.mark.slow
T2I = "/api/v1/generate/text-to-image"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    name = f"media-{request.node.name.replace('_', '-')[:40].lower()}"
    s3_client(s3_endpoint, "us-east-1", "test", "test").create_bucket(Bucket=name)
    return name


def test_put_then_presigned_get_returns_the_bytes_with_content_type(s3_endpoint: str, bucket: str):
    store = S3MediaStore(s3_client(s3_endpoint, "us-east-1", "test", "test"), bucket, 600, prefix="gw")
    image = png(32, 32)
    store.put("outputs/job1.png", image, "image/png")
    store.put("outputs/job1.mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    url = store.url("outputs/job1.png", 0)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url and "/gw/outputs/job1.png" in url
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.content == image
    assert fetched.headers["Content-Type"] == "image/png"
    video = requests.get(store.url("outputs/job1.mp4", 0), timeout=10)
    assert video.headers["Content-Type"] == "video/mp4"
    assert store.read("outputs/job1.png") == image
    store.delete("outputs/job1.png")
    assert store.read("outputs/job1.png") is None
    assert store.read("../escape.png") is None


def test_jobs_store_their_results_in_the_bucket(env, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, bucket: str):
    from tests.conftest import TASKS_TOKEN, function_client

    for name, value in {
        "MEDIA_BACKEND": "s3",
        "MEDIA_S3_BUCKET": bucket,
        "MEDIA_S3_ENDPOINT_URL": s3_endpoint,
        "MEDIA_S3_REGION": "us-east-1",
        "MEDIA_S3_ACCESS_KEY_ID": "test",
        "MEDIA_S3_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    assert Settings().media_backend == "s3"
    job_id = function_client("generate_text_to_image").post(T2I, json={"prompt": "a bucket"}).get_json()["job_id"]
    function_client("run_job").post(
        "/api/v1/tasks/run-job", json={"job_id": job_id}, headers={"Authorization": f"Bearer {TASKS_TOKEN}"}
    )
    result = function_client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["result"]
    assert result["url"].startswith(f"{s3_endpoint}/{bucket}/outputs/{job_id}.png?")
    fetched = requests.get(result["url"], timeout=10)
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "image/png"
    assert fetched.content[:8] == b"\x89PNG\r\n\x1a\n"
