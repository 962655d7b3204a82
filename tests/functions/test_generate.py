"""Every generation function through its real functions-framework app."""

from __future__ import annotations

import io
import json

import av
import pytest
from PIL import Image

from tests.helpers import decompression_bomb, png

T2I = "/api/v1/generate/text-to-image"


def _assert_envelope(response, status: int, error_type: str):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is False
    assert body["error_type"] == error_type
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def _fetch_media(client, url: str):
    return client("media").get(url)


def test_text_to_image_queues_then_worker_produces_a_png(client, run_job):
    response = client("generate_text_to_image").post(T2I, json={"prompt": "a red fox in snow", "seed": 42})
    assert response.status_code == 202
    accepted = response.get_json()
    assert accepted["status"] == "queued"
    assert accepted["position"] == 0 and accepted["eta_seconds"] > 0
    assert response.headers["Location"] == accepted["links"]["self"]
    job_id = accepted["job_id"]
    assert len(job_id) >= 22

    jobs = client("jobs")
    queued = jobs.get(f"/api/v1/jobs/{job_id}").get_json()
    assert queued["status"] == "queued" and queued["poll_after_seconds"] >= 1

    assert run_job(job_id)["status"] == "succeeded"
    done = jobs.get(f"/api/v1/jobs/{job_id}").get_json()
    assert done["status"] == "succeeded" and done["provider"] == "local" and done["attempts"] == 1
    result = done["result"]
    assert result["mime_type"] == "image/png" and result["seed"] == 42
    media = _fetch_media(client, result["url"])
    assert media.status_code == 200 and media.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(media.get_data()))
    assert image.format == "PNG" and image.size == (result["width"], result["height"]) == (512, 512)


def test_same_prompt_and_seed_render_the_same_image(client, run_job):
    urls = []
    for _ in range(2):
        job_id = client("generate_text_to_image").post(T2I, json={"prompt": "same", "seed": 5}).get_json()["job_id"]
        run_job(job_id)
        urls.append(client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["result"]["url"])
    first, second = (_fetch_media(client, u).get_data() for u in urls)
    assert first == second


def test_aspect_ratio_shapes_the_image(client, run_job):
    job_id = (
        client("generate_text_to_image").post(T2I, json={"prompt": "wide", "aspect_ratio": "16:9"}).get_json()["job_id"]
    )
    run_job(job_id)
    result = client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["result"]
    assert result["width"] > result["height"]


def test_image_to_image_transforms_the_upload_visibly(client, run_job):
    upload = png(128, 96, (10, 200, 10))
    response = client("generate_image_to_image").post(
        "/api/v1/generate/image-to-image",
        data={"prompt": "make it stormy", "strength": "0.8", "image": (io.BytesIO(upload), "in.png", "image/png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    assert run_job(job_id)["status"] == "succeeded"
    result = client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["result"]
    out = Image.open(io.BytesIO(_fetch_media(client, result["url"]).get_data())).convert("RGB")
    source = Image.open(io.BytesIO(upload)).convert("RGB").resize(out.size)
    diff = sum(abs(a - b) for a, b in zip(out.tobytes(), source.tobytes(), strict=True)) / len(out.tobytes())
    assert diff > 10, "the output must differ visibly from the upload"


@pytest.mark.parametrize("mode", ["text-to-video", "image-to-video"])
def test_video_modes_produce_h264_mp4(client, run_job, mode):
    target = "generate_" + mode.replace("-", "_")
    path = f"/api/v1/generate/{mode}"
    if mode == "text-to-video":
        response = client(target).post(path, json={"prompt": "a paper boat on a river", "duration_seconds": 1.5})
    else:
        response = client(target).post(
            path,
            data={
                "prompt": "zoom in",
                "duration_seconds": "1",
                "image": (io.BytesIO(png(96, 96, fmt="JPEG")), "a.jpg", "image/jpeg"),
            },
            content_type="multipart/form-data",
        )
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    assert run_job(job_id)["status"] == "succeeded"
    result = client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["result"]
    media = _fetch_media(client, result["url"])
    assert media.headers["Content-Type"] == "video/mp4"
    with av.open(io.BytesIO(media.get_data())) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == result["frames"] >= 10


def test_text_answers_json(client):
    response = client("generate_text").post("/api/v1/generate/text", json={"prompt": "enhance: a castle"})
    assert response.status_code == 200
    body = response.get_json()
    assert "castle" in body["text"] and body["provider"] == "local"
    assert body["usage"]["completion_tokens"] > 0


def test_text_accepts_chat_messages(client):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a lighthouse"}]
    response = client("generate_text").post("/api/v1/generate/text", json={"messages": messages})
    assert response.status_code == 200 and "lighthouse" in response.get_json()["text"]


def test_text_streams_server_sent_events(client):
    response = client("generate_text").post("/api/v1/generate/text", json={"prompt": "a castle", "stream": True})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    raw = response.get_data(as_text=True)
    events = [block for block in raw.split("\n\n") if block]
    deltas = [json.loads(b[len("data: ") :])["delta"] for b in events if b.startswith("data: ")]
    assert len(deltas) >= 5
    assert events[0].startswith("event: start") and events[-1].startswith("event: done")
    complete = client("generate_text").post("/api/v1/generate/text", json={"prompt": "a castle"}).get_json()["text"]
    assert "".join(deltas) == complete


def test_idempotency_key_returns_the_same_job(client):
    fn = client("generate_text_to_image")
    first = fn.post(T2I, json={"prompt": "once"}, headers={"Idempotency-Key": "abc-1"})
    second = fn.post(T2I, json={"prompt": "once"}, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == 202 and second.status_code == 200
    assert first.get_json()["job_id"] == second.get_json()["job_id"]
    third = fn.post(T2I, json={"prompt": "once"}, headers={"Idempotency-Key": "abc-2"})
    assert third.get_json()["job_id"] != first.get_json()["job_id"]
    _assert_envelope(
        fn.post(T2I, json={"prompt": "x"}, headers={"Idempotency-Key": "bad key!"}), 422, "validation_error"
    )


def test_queue_position_grows_with_each_submit(client):
    fn = client("generate_text_to_image")
    positions = [fn.post(T2I, json={"prompt": f"p{i}"}).get_json()["position"] for i in range(3)]
    assert positions == [0, 1, 2]


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ({"prompt": ""}, 422, "validation_error"),
        ({"prompt": "   \n\t "}, 422, "validation_error"),
        ({"prompt": "x" * 4001}, 422, "validation_error"),
        ({"prompt": "ok", "colour": "red"}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"prompt": "ok", "seed": -1}, 422, "validation_error"),
        ({"prompt": "ok", "aspect_ratio": "7:5"}, 422, "validation_error"),
        ({"prompt": "ok", "provider": "../etc"}, 422, "validation_error"),
        ([1, 2], 422, "validation_error"),
    ],
)
def test_bad_json_bodies_are_refused_with_the_envelope(client, env, body, status, error_type):
    response = client("generate_text_to_image").post(T2I, json=body)
    envelope = _assert_envelope(response, status, error_type)
    assert envelope["details"]
    assert _no_jobs(env)


def _no_jobs(env) -> bool:
    from shared import wiring

    return wiring.gateway().jobs.counts() == (0, 0)


def test_prompt_at_the_limit_is_accepted(client):
    assert client("generate_text_to_image").post(T2I, json={"prompt": "y" * 4000}).status_code == 202


def test_malformed_json_is_400(client, env):
    response = client("generate_text_to_image").post(T2I, data="{not json", content_type="application/json")
    _assert_envelope(response, 400, "bad_request")
    assert _no_jobs(env)


def test_json_over_64_kib_is_413(client, env):
    body = json.dumps({"prompt": "a", "negative_prompt": "n" * (70 * 1024)})
    response = client("generate_text_to_image").post(T2I, data=body, content_type="application/json")
    _assert_envelope(response, 413, "payload_too_large")
    assert _no_jobs(env)


def test_wrong_content_type_is_415(client):
    response = client("generate_text_to_image").post(T2I, data="prompt=x", content_type="text/plain")
    _assert_envelope(response, 415, "unsupported_media_type")


def test_wrong_method_is_405(client):
    response = client("generate_text_to_image").get(T2I)
    _assert_envelope(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def _upload(client, data: bytes, name="in.png", mime="image/png", **fields):
    form = {"prompt": "p", **fields, "image": (io.BytesIO(data), name, mime)}
    return client("generate_image_to_image").post(
        "/api/v1/generate/image-to-image", data=form, content_type="multipart/form-data"
    )


def test_upload_that_is_not_an_image_is_415(client, env):
    _assert_envelope(_upload(client, b"%PDF-1.4 not an image"), 415, "unsupported_media_type")
    _assert_envelope(_upload(client, png(fmt="GIF"), "a.gif", "image/gif"), 415, "unsupported_media_type")
    assert _no_jobs(env)


def test_upload_over_10_mib_is_413(client, env):
    _assert_envelope(_upload(client, b"\x89PNG" + b"0" * (10 * 1024 * 1024 + 10)), 413, "payload_too_large")
    assert _no_jobs(env)


def test_upload_over_4096_pixels_is_422(client, env):
    _assert_envelope(_upload(client, png(4097, 8)), 422, "validation_error")
    assert _no_jobs(env)


def test_decompression_bomb_is_422(client, env):
    _assert_envelope(_upload(client, decompression_bomb()), 422, "validation_error")
    assert _no_jobs(env)


def test_truncated_image_is_422(client, env):
    _assert_envelope(_upload(client, png(200, 200, (1, 2, 3))[:120]), 422, "validation_error")


def test_missing_image_and_bad_strength_are_422(client, env):
    response = client("generate_image_to_image").post(
        "/api/v1/generate/image-to-image", data={"prompt": "p"}, content_type="multipart/form-data"
    )
    assert _assert_envelope(response, 422, "validation_error")["details"][0]["loc"] == ["image"]
    _assert_envelope(_upload(client, png(), strength="2"), 422, "validation_error")
    _assert_envelope(_upload(client, png(), extra_field="x"), 422, "validation_error")
    assert _no_jobs(env)


def test_json_to_a_multipart_endpoint_is_415(client):
    response = client("generate_image_to_image").post("/api/v1/generate/image-to-image", json={"prompt": "p"})
    _assert_envelope(response, 415, "unsupported_media_type")


def test_text_needs_prompt_or_messages_but_not_both(client):
    fn = client("generate_text")
    _assert_envelope(fn.post("/api/v1/generate/text", json={"stream": True}), 422, "validation_error")
    both = {"prompt": "a", "messages": [{"role": "user", "content": "b"}]}
    _assert_envelope(fn.post("/api/v1/generate/text", json=both), 422, "validation_error")
