"""The embedded server as ``make dev`` runs it: every mode end to end, bad input, shutdown."""

from __future__ import annotations

import io
import json
import signal
import sqlite3

import av
import pytest
import requests
from PIL import Image

from tests.e2e.server import DevServer
from tests.helpers import decompression_bomb, png

pytestmark = pytest.mark.slow
API = "/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Many requests from one address: a generous limit keeps this module about the pipeline.
    dev = DevServer(tmp_path_factory.mktemp("dev"), TIER_LIMITS="anonymous=1000,registered=1000,donor=1000")
    yield dev
    assert dev.stop() == 0


def _finish(server, response) -> dict:
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["position"] >= 0 and accepted["eta_seconds"] > 0
    done = server.wait_for(accepted["job_id"], {"succeeded", "failed", "canceled"})
    assert done["status"] == "succeeded", done
    media = requests.get(server.url + done["result"]["url"], timeout=10)
    assert media.status_code == 200
    assert media.headers["Content-Type"] == done["result"]["mime_type"]
    return {"job": done, "bytes": media.content}


def _video_frames(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        return sum(1 for _ in container.decode(video=0))


def test_site_and_openapi_are_served(server):
    page = requests.get(server.url + "/", timeout=5)
    assert page.status_code == 200 and "AiArt Gateway" in page.text
    assert requests.get(server.url + API + "/openapi.json", timeout=5).json()["openapi"].startswith("3.1")
    missing = requests.get(server.url + API + "/nothing-here", timeout=5)
    assert missing.status_code == 404 and missing.json()["error_type"] == "not_found"


def test_all_five_modes_end_to_end(server):
    t2i = _finish(
        server,
        requests.post(server.url + API + "/generate/text-to-image", json={"prompt": "a red fox in snow"}, timeout=10),
    )
    assert Image.open(io.BytesIO(t2i["bytes"])).format == "PNG"

    upload = {"image": ("fox.png", t2i["bytes"], "image/png")}
    i2i = _finish(
        server,
        requests.post(
            server.url + API + "/generate/image-to-image",
            data={"prompt": "at night", "strength": "0.6"},
            files=upload,
            timeout=10,
        ),
    )
    assert Image.open(io.BytesIO(i2i["bytes"])).size == (512, 512)

    t2v = _finish(
        server,
        requests.post(
            server.url + API + "/generate/text-to-video", json={"prompt": "waves", "duration_seconds": 2}, timeout=10
        ),
    )
    assert _video_frames(t2v["bytes"]) == t2v["job"]["result"]["frames"] >= 12

    i2v = _finish(
        server,
        requests.post(server.url + API + "/generate/image-to-video", data={"prompt": "pan"}, files=upload, timeout=10),
    )
    assert _video_frames(i2v["bytes"]) >= 12

    text = requests.post(server.url + API + "/generate/text", json={"prompt": "a fox"}, timeout=10)
    assert text.status_code == 200 and "fox" in text.json()["text"]
    with requests.post(
        server.url + API + "/generate/text", json={"prompt": "a fox", "stream": True}, stream=True, timeout=10
    ) as streamed:
        assert streamed.headers["Content-Type"].startswith("text/event-stream")
        data_lines = [line for line in streamed.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    deltas = [json.loads(line[6:]).get("delta") for line in data_lines]
    assert "".join(d for d in deltas if d) == text.json()["text"]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{nope", "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": {"prompt": ""}}, 422),
        ({"json": {"prompt": "a" * 4001}}, 422),
        ({"json": {"prompt": "a", "unknown": 1}}, 422),
        ({"data": json.dumps({"prompt": "a" * 70000}), "headers": {"Content-Type": "application/json"}}, 413),
    ],
)
def test_bad_json_over_http(server, kwargs, status):
    response = requests.post(server.url + API + "/generate/text-to-image", timeout=10, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and body["request_id"] == response.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("image", "status"),
    [
        (("a.txt", b"hello", "text/plain"), 415),
        (("big.png", b"\x89PNG" + b"0" * (10 * 1024 * 1024 + 1), "image/png"), 413),
        (("huge.png", png(5000, 10), "image/png"), 422),
        (("bomb.png", decompression_bomb(), "image/png"), 422),
    ],
)
def test_bad_uploads_over_http(server, image, status):
    response = requests.post(
        server.url + API + "/generate/image-to-video", data={"prompt": "x"}, files={"image": image}, timeout=30
    )
    assert response.status_code == status, response.text
    assert response.json()["success"] is False


def test_wrong_method_and_unknown_job(server):
    assert requests.get(server.url + API + "/generate/text", timeout=5).status_code == 405
    assert requests.get(server.url + API + "/jobs/unknownunknownunknown", timeout=5).status_code == 404


def _job_row(data_dir, job_id):
    with sqlite3.connect(data_dir / "gateway.sqlite3") as conn:
        return conn.execute("SELECT status, attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()


def test_sigterm_hands_running_jobs_back_and_a_new_server_finishes_them(tmp_path):
    slow = DevServer(tmp_path, LOCAL_DELAY_SECONDS="30", WORKER_CONCURRENCY="1")
    job_id = requests.post(slow.url + API + "/generate/text-to-image", json={"prompt": "slow"}, timeout=5).json()[
        "job_id"
    ]
    assert slow.wait_for(job_id, {"running"})["status"] == "running"
    assert slow.stop(signal.SIGTERM) == 0
    assert _job_row(tmp_path, job_id) == ("queued", 1)
    fresh = DevServer(tmp_path)
    try:
        done = fresh.wait_for(job_id, {"succeeded", "failed"})
        assert done["status"] == "succeeded" and done["attempts"] == 2
    finally:
        fresh.stop()


def test_a_killed_worker_loses_no_job(tmp_path):
    doomed = DevServer(tmp_path, LOCAL_DELAY_SECONDS="30", WORKER_CONCURRENCY="1", LEASE_SECONDS="1")
    job_id = requests.post(doomed.url + API + "/generate/text-to-image", json={"prompt": "doomed"}, timeout=5).json()[
        "job_id"
    ]
    assert doomed.wait_for(job_id, {"running"})["status"] == "running"
    doomed.stop(signal.SIGKILL)
    assert _job_row(tmp_path, job_id) == ("running", 1)
    fresh = DevServer(tmp_path, LEASE_SECONDS="1")
    try:
        done = fresh.wait_for(job_id, {"succeeded", "failed"})
        assert done["status"] == "succeeded" and done["attempts"] == 2
    finally:
        fresh.stop()


def test_no_secret_reaches_logs_or_answers(tmp_path):
    secrets = {
        "TASKS_TOKEN": "tasks-secret-5d1f0c",
        "SESSION_SECRET": "session-secret-77ab21",
        "MEDIA_SIGNING_KEY": "media-secret-9c3e44",
    }
    dev = DevServer(tmp_path, LOG_LEVEL="DEBUG", **secrets)
    answers = []
    browser = requests.Session()  # no Firebase account: a one-off caller, who owns nothing
    try:
        job = browser.post(dev.url + API + "/generate/text-to-image", json={"prompt": "secret test"}, timeout=5)
        answers.append(job.text)
        job_id = job.json()["job_id"]
        done = dev.wait_for(job_id, {"succeeded", "failed"})
        answers.append(json.dumps(done))
        assert requests.get(dev.url + done["result"]["url"], timeout=5).status_code == 200
        assert browser.delete(dev.url + API + f"/jobs/{job_id}", timeout=5).status_code == 403
        answers.append(
            requests.post(
                dev.url + API + "/tasks/run-job",
                json={"job_id": "x" * 20},
                headers={"Authorization": "Bearer wrong"},
                timeout=5,
            ).text
        )
        answers.append(requests.get(dev.url + API + "/health", timeout=5).text)
        answers.append(
            requests.post(
                dev.url + API + "/generate/text", data="{bad", headers={"Content-Type": "application/json"}, timeout=5
            ).text
        )
    finally:
        dev.stop()
    log = dev.output()
    for value in secrets.values():
        assert value not in log
        assert all(value not in answer for answer in answers)
    # A job id is the capability to an anonymous job and its result: logs carry only its hash.
    from shared.logging import log_id

    assert job_id not in log
    assert log_id(job_id) in log


def _raw(server, request: bytes) -> tuple[int, bytes, bytes]:
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_server_level_errors_are_the_envelope_not_html(server, request_bytes):
    status, head, body = _raw(server, request_bytes)
    assert 400 <= status < 500
    assert b"application/json" in head and b"<html" not in body.lower()
    assert json.loads(body)["success"] is False


def test_site_paths_that_do_not_exist_are_the_envelope(server):
    response = requests.get(f"{server.url}/no/such/page%0A", timeout=5)
    assert response.status_code == 404 and response.json()["success"] is False
