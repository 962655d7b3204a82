"""Regression tests for hostile input that once reached a 500 (or an HTML page), and for the
smaller hardening findings: each would fail on the code before the fix."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from shared import wiring
from tests.conftest import TASKS_TOKEN, function_client
from tests.helpers import png

T2I = "/api/v1/generate/text-to-image"
I2I = "/api/v1/generate/image-to-image"


def _envelope(response, status: int, error_type: str | None = None) -> dict:
    assert response.status_code == status, response.get_data()[:300]
    assert response.mimetype == "application/json", response.get_data()[:300]
    body = response.get_json()
    assert body["success"] is False and body["request_id"] and "Traceback" not in response.get_data(as_text=True)
    if error_type:
        assert body["error_type"] == error_type
    return body


def _jobs_stored() -> int:
    queued, running = wiring.gateway().jobs.counts()
    return queued + running


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000 + b"]" * 30_000,
        b'{"prompt": "a fox", "seed": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        b'{"prompt": "a fox", "seed": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}",
    ],
)
def test_deeply_nested_json_is_a_400_not_a_recursion_error(env, body):
    response = function_client("generate_text_to_image").post(T2I, data=body, content_type="application/json")
    _envelope(response, 400, "bad_request")
    assert _jobs_stored() == 0


def test_brackets_inside_strings_do_not_count_as_nesting(env):
    prompt = "[" * 100 + "{" * 100
    response = function_client("generate_text_to_image").post(T2I, json={"prompt": prompt})
    assert response.status_code == 202


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _text_chunk_bomb(kind: bytes) -> bytes:
    """A small PNG whose zTXt/iTXt chunk inflates past Pillow's MAX_TEXT_CHUNK (1 MiB)."""
    payload = zlib.compress(b"A" * (PngImagePlugin.MAX_TEXT_CHUNK + 1024), 9)
    if kind == b"zTXt":
        data = b"Comment\x00\x00" + payload
    else:  # iTXt: keyword, compression flag 1, method 0, language, translated keyword
        data = b"Comment\x00\x01\x00\x00\x00" + payload
    image = png(8, 8)
    return image[:33] + _chunk(kind, data) + image[33:]


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_a_text_chunk_bomb_is_refused_before_admission_spends_a_token(env, monkeypatch, kind):
    with pytest.raises(ValueError):  # what Pillow does with it: not an OSError
        Image.open(io.BytesIO(_text_chunk_bomb(kind))).load()
    monkeypatch.setenv("TIER_LIMITS", "anonymous=1")
    monkeypatch.setenv("GRACE_REQUESTS", "1")
    wiring.reset()
    client = function_client("generate_image_to_image")
    for _ in range(3):
        bomb = {"prompt": "at night", "image": (io.BytesIO(_text_chunk_bomb(kind)), "x.png", "image/png")}
        _envelope(client.post(I2I, data=bomb, content_type="multipart/form-data"), 422, "validation_error")
    good = {"prompt": "at night", "image": (io.BytesIO(png()), "x.png", "image/png")}
    assert client.post(I2I, data=good, content_type="multipart/form-data").status_code == 202, "no token was spent"


def test_a_gif_upload_is_refused_by_type_not_parsed(env):
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="GIF")
    data = {"prompt": "x", "image": (io.BytesIO(out.getvalue()), "x.png", "image/png")}
    response = function_client("generate_image_to_image").post(I2I, data=data, content_type="multipart/form-data")
    _envelope(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "query",
    [
        "exp=%C2%B2&sig=" + "0" * 64,  # "²": str.isdigit() is True, int() fails
        "exp=" + "9" * 5000 + "&sig=" + "0" * 64,
        "exp=9999999999&sig=%C3%A9" + "0" * 62,  # non-ASCII signature: compare_digest TypeError
        "exp=9999999999&sig=" + "é" * 64,
        "exp=&sig=",
    ],
)
def test_hostile_media_signatures_are_403(env, query):
    response = function_client("media").get(f"/api/v1/media/outputs/abc.png?{query}")
    _envelope(response, 403, "forbidden")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Tasks-Token": "\xe9"},
        {"Authorization": "Bearer caf\xe9"},
        {"Authorization": "Bearer " + TASKS_TOKEN[:-1] + "\xe9"},
    ],
)
def test_non_ascii_task_tokens_are_401(env, headers):
    for target, path in (("run_job", "/api/v1/tasks/run-job"), ("redispatch", "/api/v1/tasks/redispatch")):
        response = function_client(target).post(path, json={"job_id": "abcdefgh12"}, headers=headers)
        _envelope(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("jobs", "/api/v1/jobs/abc%0Adef"),
        ("jobs", "/api/v1/jobs%0A"),
        ("health", "/api/v1/health%0D%0A"),
        ("media", "/api/v1/media/%0A"),
        ("generate_text", "/api/v1/generate/text%0Ax"),
    ],
)
def test_routing_errors_are_the_envelope_never_html(env, target, path):
    response = function_client(target).get(path)
    _envelope(response, 404)


@pytest.mark.parametrize(
    ("target", "method", "path", "status"),
    [
        ("jobs", "get", "/api/v1/nowhere", 404),
        ("jobs", "put", "/api/v1/jobs/abc", 405),
        ("health", "post", "/api/v1/health", 405),
        ("generate_text_to_image", "get", T2I, 405),
        ("openapi", "delete", "/api/v1/openapi.json", 405),
        ("run_job", "get", "/api/v1/tasks/run-job", 405),
    ],
)
def test_every_routing_error_is_the_envelope(env, target, method, path, status):
    response = getattr(function_client(target), method)(path)
    _envelope(response, status)


def test_invisible_prompts_are_refused_as_empty(env):
    client = function_client("generate_text_to_image")
    for prompt in ["\u200b\u200b\u200b", "\ufeff", " \u2060\u200b ", "\u202e\u202d", "\x00\x00"]:
        _envelope(client.post(T2I, json={"prompt": prompt}), 422, "validation_error")
    text = function_client("generate_text")
    _envelope(text.post("/api/v1/generate/text", json={"prompt": "\u200b"}), 422, "validation_error")
    assert _jobs_stored() == 0


def test_controls_and_bidi_overrides_are_stripped_from_a_stored_prompt(env):
    client = function_client("generate_text_to_image")
    response = client.post(T2I, json={"prompt": "a\x00 red\u202e fox\u2066"})
    assert response.status_code == 202
    job = wiring.gateway().jobs.get(response.get_json()["job_id"])
    assert job.params["prompt"] == "a red fox"


def test_an_idempotency_key_reused_with_another_body_is_422(firebase):
    client = function_client("generate_text_to_image")
    key = {"Idempotency-Key": "k-1", **firebase.anonymous().bearer}  # one caller: a Firebase anonymous account
    first = client.post(T2I, json={"prompt": "a fox"}, headers=key)
    assert first.status_code == 202
    again = client.post(T2I, json={"prompt": "a fox"}, headers=key)
    assert again.status_code == 200 and again.get_json()["job_id"] == first.get_json()["job_id"]
    other = client.post(T2I, json={"prompt": "a wolf"}, headers=key)
    _envelope(other, 422, "idempotency_key_reused")
    video_client = function_client("generate_text_to_video")  # the same caller
    video = video_client.post("/api/v1/generate/text-to-video", json={"prompt": "a fox"}, headers=key)
    _envelope(video, 422, "idempotency_key_reused")
    assert _jobs_stored() == 1


def test_an_idempotency_key_reused_with_another_image_is_422(firebase):
    client = function_client("generate_image_to_image")
    key = {"Idempotency-Key": "img", **firebase.anonymous().bearer}  # one caller: a Firebase anonymous account

    def submit(colour):
        data = {"prompt": "x", "image": (io.BytesIO(png(colour=colour)), "x.png", "image/png")}
        return client.post(I2I, data=data, content_type="multipart/form-data", headers=key)

    assert submit((1, 2, 3)).status_code == 202
    assert submit((1, 2, 3)).status_code == 200
    _envelope(submit((9, 9, 9)), 422, "idempotency_key_reused")


def test_a_known_provider_not_configured_for_the_mode_is_refused_at_submit(env):
    """local is the only provider here: stability (a real vendor, no keys) is refused with 422 before
    anything is stored or a token is spent, on the job routes and the text route alike."""
    response = function_client("generate_text_to_image").post(T2I, json={"prompt": "a fox", "provider": "stability"})
    body = _envelope(response, 422, "validation_error")
    assert body["details"][0]["loc"] == ["provider"]
    text = function_client("generate_text").post("/api/v1/generate/text", json={"prompt": "x", "provider": "openai"})
    _envelope(text, 422, "validation_error")
    assert _jobs_stored() == 0
    ok = function_client("generate_text_to_image").post(T2I, json={"prompt": "a fox", "provider": "local"})
    assert ok.status_code == 202
