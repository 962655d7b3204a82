"""The five generation endpoints."""

from __future__ import annotations

import re

import flask

from shared import errors, http, wiring
from shared.api import API_PREFIX, views
from shared.domain import Caller, Mode
from shared.models import (
    TEXT_EVENTS,
    ImageToImageRequest,
    ImageToVideoRequest,
    JobAccepted,
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


def _upload(call: http.Call, mode: Mode) -> http.Upload | None:
    upload = call.files.pop("image", None) if mode.needs_image else None
    if mode.needs_image and upload is None:
        raise errors.ValidationFailed(
            "Attach the image as the 'image' file field.",
            details=[{"loc": ["image"], "msg": "Field required", "type": "missing"}],
        )
    if call.files:
        names = sorted(call.files)
        raise errors.ValidationFailed(
            details=[{"loc": [n], "msg": "Unexpected file field", "type": "extra_forbidden"} for n in names]
        )
    return upload


def _check_provider(services: wiring.Services, caller: Caller, provider: str | None, mode: Mode) -> None:
    """A provider this deployment does not offer for ``mode`` (nor the signed-in caller's own key)
    is refused now (422), before a token is spent, not after the job was accepted and failed."""
    if not provider:
        return
    try:
        services.models.resolve(provider, mode, byok=caller.user_id is not None)
    except errors.ModelNotFound:
        raise errors.ValidationFailed(
            f"The provider '{provider}' is not available for {mode.value} here.",
            details=[{"loc": ["provider"], "msg": "Provider not available for this mode", "type": "value_error"}],
        ) from None


def _submitter(mode: Mode) -> http.Handler:
    def handler(call: http.Call) -> http.Reply:
        services = wiring.services()
        # Everything cheap is checked before admission spends the caller's token.
        upload, idempotency_key = _upload(call, mode), _idempotency_key(call)
        image = None
        if upload is not None:
            from shared.imaging import check_upload  # Pillow: only the upload modes import it

            image = check_upload(upload.data, call.settings.max_upload_bytes, call.settings.max_image_side)
        caller = services.caller(call.request)
        _check_provider(services, caller, call.body.provider, mode)
        rate_headers = services.admission.admit(caller, "media", enqueue=True)
        params = call.body.model_dump(exclude_none=True)
        snapshot, created = services.jobs.submit(caller, mode, params, image, idempotency_key)
        accepted = views.job_accepted(snapshot)
        headers = {"Location": accepted.links.self, **rate_headers}
        return http.Reply(accepted, 202 if created else 200, headers)

    return handler


def _text(call: http.Call) -> http.Reply | flask.Response:
    from shared.services.text import TextQuery

    body: TextRequest = call.body
    services = wiring.services()
    caller = services.caller(call.request)
    _check_provider(services, caller, body.provider, Mode.TEXT)
    headers = services.admission.admit(caller, "text")
    query = TextQuery(body.as_messages(), body.max_tokens, body.temperature, body.provider)
    if body.stream:
        return http.sse_response(services.text.stream(query, caller), headers)
    return http.Reply(views.text_answer(services.text.complete(query, caller)), headers=headers)


def _api(function: str, path: str, mode: Mode, body: type, kind: http.BodyKind) -> http.Api:
    route = http.post(
        "",
        _submitter(mode),
        body=body,
        body_kind=kind,
        answer=JobAccepted,
        status=202,
        also=(200,),  # an identical submit (or the same Idempotency-Key) answers the job it already made
        summary=f"Queue a {mode.value} job",
        tag="generate",
        errors=(429, 503),
        headers=("Location", "RateLimit", "RateLimit-Policy"),
    )
    return http.Api(function, f"{API_PREFIX}/generate/{path}", [route], wiring.settings)


text_to_image = _api("generate_text_to_image", "text-to-image", Mode.TEXT_TO_IMAGE, TextToImageRequest, "json")
image_to_image = _api(
    "generate_image_to_image", "image-to-image", Mode.IMAGE_TO_IMAGE, ImageToImageRequest, "multipart"
)
text_to_video = _api("generate_text_to_video", "text-to-video", Mode.TEXT_TO_VIDEO, TextToVideoRequest, "json")
image_to_video = _api(
    "generate_image_to_video", "image-to-video", Mode.IMAGE_TO_VIDEO, ImageToVideoRequest, "multipart"
)
text = http.Api(
    "generate_text",
    f"{API_PREFIX}/generate/text",
    [
        http.post(
            "",
            _text,
            body=TextRequest,
            answer=TextAnswer,
            answer_media=("text/event-stream",),
            events=TEXT_EVENTS,
            summary="Generate text (JSON, or text/event-stream when stream is true)",
            tag="generate",
            errors=(424, 429, 502, 503),
            headers=("RateLimit", "RateLimit-Policy"),
        )
    ],
    wiring.settings,
)
