"""Google Gemini API: images via ``generateContent``, Veo video via long-running operations, text.

A safety block is HTTP 200 with ``promptFeedback.blockReason`` or a candidate ``finishReason``
such as SAFETY and no image part: that is a moderation refusal. Veo: ``predictLongRunning``
returns an operation name, polled until ``done``; the video is a file URI fetched with the key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import IO, Any

import requests

from shared.domain import Mode
from shared.providers.base import (
    ErrorKind,
    GenerationRequest,
    MediaOutput,
    ProviderError,
    TaskContext,
    TextOutput,
    TextRequest,
)
from shared.providers.vendor_base import VendorProvider, decode_base64, pack_task, sse_data, unpack_task
from shared.providers.vendor_http import fail, json_body, kind_for_status, retry_after

_BLOCKED = {
    "SAFETY",
    "IMAGE_SAFETY",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_PROHIBITED_CONTENT",
}

# A failed operation's gRPC code -> our kind; anything else (INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED,
# RESOURCE_EXHAUSTED, ...) is the vendor's trouble: UNAVAILABLE.
_OPERATION_ERRORS = {
    3: ErrorKind.BAD_REQUEST,  # INVALID_ARGUMENT
    9: ErrorKind.BAD_REQUEST,  # FAILED_PRECONDITION
    11: ErrorKind.BAD_REQUEST,  # OUT_OF_RANGE
    7: ErrorKind.AUTH,  # PERMISSION_DENIED
    16: ErrorKind.AUTH,  # UNAUTHENTICATED
}


class GeminiProvider(VendorProvider):
    name = "gemini"
    key_check_path = "/v1beta/models"  # check_key: a cheap authenticated GET
    supported = frozenset(Mode)

    def auth(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def classify(self, response: requests.Response) -> ProviderError:
        error = json_body(response).get("error", {})
        status = str(error.get("status", "")) if isinstance(error, dict) else ""
        details = json.dumps(error.get("details", [])) if isinstance(error, dict) else ""
        if "API_KEY_INVALID" in details or status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            return fail(ErrorKind.AUTH, self.name)
        if status == "RESOURCE_EXHAUSTED" or response.status_code == 429:
            return fail(ErrorKind.RATE_LIMITED, self.name, retry_after(response))
        return fail(kind_for_status(response.status_code), self.name, retry_after(response))

    # -- images -------------------------------------------------------------------------------

    def _blocked(self, body: dict[str, Any]) -> bool:
        if body.get("promptFeedback", {}).get("blockReason"):
            return True
        return any(c.get("finishReason") in _BLOCKED for c in body.get("candidates", []))

    def generate(self, request: GenerationRequest, context: TaskContext) -> MediaOutput:
        model = self.model(request.mode)
        if request.mode.needs_image and request.image is None:
            raise fail(ErrorKind.BAD_REQUEST, self.name, message="This mode needs an image.")
        if request.mode.is_video:
            return self._video(request, model, context)
        parts: list[dict[str, Any]] = [{"text": request.prompt}]
        if request.image is not None:
            data = base64.b64encode(request.image).decode()
            parts.append({"inlineData": {"mimeType": request.image_mime or "image/png", "data": data}})
        body = {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": request.aspect_ratio}},
        }
        answer = json_body(self.http.request("POST", f"/v1beta/models/{model}:generateContent", json=body).response)
        for candidate in answer.get("candidates", []):
            for part in candidate.get("content", {}).get("parts", []):
                inline = part.get("inlineData") or part.get("inline_data")
                if inline and str(inline.get("mimeType", "")).startswith("image/"):
                    data = decode_base64(inline.get("data", ""), self.name)
                    return MediaOutput(data, str(inline["mimeType"]), {"seed": request.seed})
        if self._blocked(answer):
            raise fail(ErrorKind.MODERATION, self.name)
        raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider returned no image.")

    # -- video --------------------------------------------------------------------------------

    def _video(self, request: GenerationRequest, model: str, context: TaskContext) -> MediaOutput:
        if context.resume_task_id:
            key_index, operation = unpack_task(context.resume_task_id)
        else:
            instance: dict[str, Any] = {"prompt": request.prompt}
            if request.image is not None:
                instance["image"] = {
                    "bytesBase64Encoded": base64.b64encode(request.image).decode(),
                    "mimeType": request.image_mime or "image/png",
                }
            parameters: dict[str, Any] = {"durationSeconds": max(1, round(request.duration_seconds))}
            if request.mode is Mode.TEXT_TO_VIDEO:
                parameters["aspectRatio"] = request.aspect_ratio
            if request.negative_prompt:
                parameters["negativePrompt"] = request.negative_prompt
            reply = self.http.request(
                "POST",
                f"/v1beta/models/{model}:predictLongRunning",
                json={"instances": [instance], "parameters": parameters},
            )
            operation = str(json_body(reply.response).get("name", ""))
            if not operation:
                raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider accepted no task.")
            key_index = reply.key_index
            context.save_task_id(pack_task(key_index, operation))
        data = self.poll(context, lambda: self._check(operation, key_index))
        return MediaOutput(
            data, "video/mp4", {"seed": request.seed, "seconds": max(1, round(request.duration_seconds))}
        )

    def _check(self, operation: str, key_index: int) -> IO[bytes] | None:
        body = json_body(self.http.request("GET", f"/v1beta/{operation}", key_index=key_index).response)
        if not body.get("done"):
            return None
        if "error" in body:  # a google.rpc.Status: its code is a gRPC code (13 INTERNAL), not an HTTP status
            code = int(body["error"].get("code", 13) or 13)
            kind = _OPERATION_ERRORS.get(code, ErrorKind.UNAVAILABLE)
            raise fail(kind, self.name)
        result = body.get("response", {}).get("generateVideoResponse", {})
        samples = result.get("generatedSamples") or []
        uri = samples[0].get("video", {}).get("uri") if samples else None
        if not uri:
            raise fail(ErrorKind.MODERATION, self.name)  # filtered by the vendor's safety checks
        return self.http.download_file(str(uri), key_index=key_index)  # the key goes to the API host only

    # -- text ---------------------------------------------------------------------------------

    def _text_body(self, request: TextRequest) -> dict[str, Any]:
        system = [m.content for m in request.messages if m.role == "system"]
        contents = [
            {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
            for m in request.messages
            if m.role != "system"
        ]
        body: dict[str, Any] = {
            "contents": contents,
            "generationConfig": {"maxOutputTokens": request.max_tokens, "temperature": request.temperature},
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n".join(system)}]}
        return body

    def _text_of(self, body: dict[str, Any]) -> str:
        if self._blocked(body) and not any(c.get("content") for c in body.get("candidates", [])):
            raise fail(ErrorKind.MODERATION, self.name)
        parts = [p for c in body.get("candidates", [])[:1] for p in c.get("content", {}).get("parts", [])]
        return "".join(str(p.get("text", "")) for p in parts if not p.get("thought"))

    def complete(self, request: TextRequest) -> TextOutput:
        model = self.model(Mode.TEXT)
        path = f"/v1beta/models/{model}:generateContent"
        body = json_body(self.http.request("POST", path, json=self._text_body(request)).response)
        text = self._text_of(body)
        if not body.get("candidates") and not self._blocked(body):  # not JSON, or no answer in it
            raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider returned no answer.")
        if self._blocked(body):
            raise fail(ErrorKind.MODERATION, self.name)
        usage = body.get("usageMetadata", {})
        return TextOutput(text, model, int(usage.get("promptTokenCount", 0)), int(usage.get("candidatesTokenCount", 0)))

    def stream(self, request: TextRequest) -> Iterator[str]:
        model = self.model(Mode.TEXT)
        path = f"/v1beta/models/{model}:streamGenerateContent?alt=sse"
        response = self.http.request("POST", path, json=self._text_body(request), stream=True).response
        return self._deltas(response)

    def _deltas(self, response: requests.Response) -> Iterator[str]:
        finished = False
        for data in sse_data(response, self.name):
            try:
                chunk = json.loads(data)
            except ValueError:
                raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider's stream broke midway.") from None
            text = self._text_of(chunk)
            if self._blocked(chunk):
                raise fail(ErrorKind.MODERATION, self.name)
            if any(c.get("finishReason") for c in chunk.get("candidates", [])):
                finished = True
            if text:
                yield text
        if not finished:
            raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider's stream ended before the answer did.")
