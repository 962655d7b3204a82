"""The five generation endpoints."""

from __future__ import annotations

import re

import flask

from shared import errors, http, wiring
from shared.api import API
from shared.models import (
    ImageToImageRequest,
    ImageToVideoRequest,
    JobAccepted,
    Mode,
    TextAnswer,
    TextRequest,
    TextToImageRequest,
    TextToVideoRequest,
)

_IDEMPOTENCY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _idempotency_key(call: http.Call) -> str | None:
    key = call.header("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY.match(key):
        raise errors.ValidationFailed("Idempotency-Key must be 1-128 letters, digits or . _ : -")
    return key


def _submitter(mode: Mode) -> http.Handler:
    def handler(call: http.Call) -> http.Reply:
        gw = wiring.gateway()
        caller = gw.caller(call.request)
        rate_headers = gw.limiter.admit(caller, "media", enqueue=True)
        image = None
        if mode.needs_image:
            upload = call.files.pop("image", None)
            if upload is None:
                raise errors.ValidationFailed(
                    "Attach the image as the 'image' file field.",
                    details=[{"loc": ["image"], "msg": "Field required", "type": "missing"}],
                )
            from shared.imaging import check_upload  # Pillow: only the upload modes pay its import

            image = check_upload(upload.data, call.settings.max_upload_bytes, call.settings.max_image_side)
        if call.files:
            names = sorted(call.files)
            raise errors.ValidationFailed(
                details=[{"loc": [n], "msg": "Unexpected file field", "type": "extra_forbidden"} for n in names]
            )
        accepted, created = gw.job_service.submit(caller, mode, call.body, image, _idempotency_key(call))
        headers = {"Location": accepted.links.self, **rate_headers}
        return http.Reply(accepted, 202 if created else 200, headers)

    return handler


def _text(call: http.Call) -> http.Reply | flask.Response:
    body: TextRequest = call.body
    gw = wiring.gateway()
    caller = gw.caller(call.request)
    headers = gw.limiter.admit(caller, "text")
    if body.stream:
        return http.sse_response(gw.text_service.stream(body, caller), headers)
    return http.Reply(gw.text_service.complete(body, caller), headers=headers)


def _api(path: str, mode: Mode, body: type, kind: http.BodyKind) -> http.Api:
    full = f"{API}/generate/{path}"
    route = http.post(
        full,
        _submitter(mode),
        body=body,
        body_kind=kind,
        answer=JobAccepted,
        status=202,
        summary=f"Queue a {mode.value} job",
        tag="generate",
    )
    return http.Api(full, [route], wiring.settings)


text_to_image = _api("text-to-image", Mode.TEXT_TO_IMAGE, TextToImageRequest, "json")
image_to_image = _api("image-to-image", Mode.IMAGE_TO_IMAGE, ImageToImageRequest, "multipart")
text_to_video = _api("text-to-video", Mode.TEXT_TO_VIDEO, TextToVideoRequest, "json")
image_to_video = _api("image-to-video", Mode.IMAGE_TO_VIDEO, ImageToVideoRequest, "multipart")
text = http.Api(
    f"{API}/generate/text",
    [
        http.post(
            f"{API}/generate/text",
            _text,
            body=TextRequest,
            answer=TextAnswer,
            summary="Generate text (JSON, or text/event-stream when stream is true)",
            tag="generate",
        )
    ],
    wiring.settings,
)
