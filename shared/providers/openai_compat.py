"""OpenAI-compatible vendors: chat completions (streamed or not), image generations and edits.

``OPENAI_BASE_URL`` includes the version prefix (``https://api.openai.com/v1``), so any vendor
that speaks this shape works. Errors are ``{"error": {"message", "type", "code"}}``: a 429 with
``insufficient_quota`` is out of credits (rotate, fail over), ``rate_limit_exceeded`` is a pause.
"""

from __future__ import annotations

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
from shared.providers.vendor_base import VendorProvider, decode_base64, sse_data
from shared.providers.vendor_http import fail, json_body, kind_for_status, retry_after

_MODERATION_CODES = {"moderation_blocked", "content_policy_violation", "content_filter"}
_QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}
_SIZES = {"1:1": "1024x1024", "16:9": "1536x1024", "3:2": "1536x1024", "4:3": "1536x1024"}
_PORTRAIT = "1024x1536"


class OpenAICompatProvider(VendorProvider):
    name = "openai"
    supported = frozenset({Mode.TEXT_TO_IMAGE, Mode.IMAGE_TO_IMAGE, Mode.TEXT})

    def classify(self, response: requests.Response) -> ProviderError:
        error = json_body(response).get("error", {})
        if not isinstance(error, dict):
            error = {}
        code = str(error.get("code") or "")
        kind_name = str(error.get("type") or "")
        if code in _MODERATION_CODES or kind_name in _MODERATION_CODES:
            return fail(ErrorKind.MODERATION, self.name)
        if code in _QUOTA_CODES or kind_name in _QUOTA_CODES:
            return fail(ErrorKind.QUOTA, self.name)
        if code == "invalid_api_key" or response.status_code in (401, 403):
            return fail(ErrorKind.AUTH, self.name)
        return fail(kind_for_status(response.status_code), self.name, retry_after(response))

    # -- images -------------------------------------------------------------------------------

    def generate(self, request: GenerationRequest, context: TaskContext) -> MediaOutput:
        model = self.model(request.mode)
        size = _SIZES.get(request.aspect_ratio, _PORTRAIT)
        if request.mode is Mode.IMAGE_TO_IMAGE:
            if request.image is None:
                raise fail(ErrorKind.BAD_REQUEST, self.name, message="This mode needs an image.")
            files = {
                "image": ("image.png", request.image, request.image_mime or "image/png"),
                "model": (None, model),
                "prompt": (None, request.prompt),
                "n": (None, "1"),
            }
            reply = self.http.request("POST", "/images/edits", files=files)
        else:
            body = {"model": model, "prompt": request.prompt, "n": 1, "size": size}
            reply = self.http.request("POST", "/images/generations", json=body)
        items = json_body(reply.response).get("data") or []
        item = items[0] if items and isinstance(items[0], dict) else {}
        data: bytes | IO[bytes]
        if item.get("b64_json"):
            data = decode_base64(item["b64_json"], self.name)
        elif item.get("url"):  # older models; downloaded under safe_fetch's rules
            data = self.http.download_file(str(item["url"]))  # streamed to a temporary file, never held whole
        else:
            raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider returned no image.")
        return MediaOutput(data, "image/png", {"seed": request.seed})  # the router checks what it really is

    # -- text ---------------------------------------------------------------------------------

    def _chat_body(self, request: TextRequest, model: str, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        return body

    def complete(self, request: TextRequest) -> TextOutput:
        model = self.model(Mode.TEXT)
        reply = self.http.request("POST", "/chat/completions", json=self._chat_body(request, model, False))
        body = json_body(reply.response)
        choices = body.get("choices")
        if not choices or not isinstance(choices[0], dict):  # not JSON, or no answer in it: not an empty answer
            raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider returned no answer.")
        if choices[0].get("finish_reason") == "content_filter":
            raise fail(ErrorKind.MODERATION, self.name)
        text = str((choices[0].get("message") or {}).get("content") or "")
        usage = body.get("usage") or {}
        return TextOutput(
            text,
            str(body.get("model") or model),
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
        )

    def stream(self, request: TextRequest) -> Iterator[str]:
        model = self.model(Mode.TEXT)
        body = self._chat_body(request, model, True)
        response = self.http.request("POST", "/chat/completions", json=body, stream=True).response
        return self._deltas(response)

    def _deltas(self, response: requests.Response) -> Iterator[str]:
        for data in sse_data(response, self.name):
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider's stream broke midway.") from None
            if "error" in chunk:
                raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider's stream broke midway.")
            for choice in chunk.get("choices") or []:
                if choice.get("finish_reason") == "content_filter":
                    raise fail(ErrorKind.MODERATION, self.name)
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    yield str(delta)
        raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider's stream ended before the answer did.")
