"""Domain results -> the OpenAI-compatible surface's answers, its event stream and its error shape.

Errors: ``{"error": {"message", "type", "param", "code"}}`` with the statuses OpenAI uses: invalid
input is 400 (the gateway's 422), rate limits are 429 of type ``requests`` with code
``rate_limit_exceeded``, failures on our side or a provider's are ``server_error``. The message is
the gateway's own sentence; ``code`` names what happened (``model_not_found``, ``job_timeout``, ...).
"""

from __future__ import annotations

import base64
import json
import math
import secrets
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import flask

from shared import errors
from shared.openai_models import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    CompletionUsage,
    ImageData,
    ImagesResponse,
    JobTimeoutDetail,
    ModelList,
    ModelObject,
    OpenAIError,
    OpenAIErrorDetail,
)

if TYPE_CHECKING:
    from shared.services.catalog import ModelOffer
    from shared.services.text import Event, TextResult

_CODES = {
    "rate_limited": "rate_limit_exceeded",
    "content_policy": "content_policy_violation",
    "unauthorized": "invalid_api_key",
}


def completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def served_model(provider: str, model: str) -> str:
    return f"{provider}/{model}"


def estimate_tokens(characters: int) -> int:
    """About four characters a token: what a stream reports, since providers' streams carry no usage."""
    return math.ceil(characters / 4)


def usage(prompt: int, completion: int) -> CompletionUsage:
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def chat_completion(result: TextResult, cid: str, created: int, max_tokens: int) -> ChatCompletion:
    finish = "length" if result.completion_tokens >= max_tokens else "stop"
    return ChatCompletion(
        id=cid,
        created=created,
        model=served_model(result.provider, result.model),
        choices=[ChatChoice(message=AssistantMessage(content=result.text), finish_reason=finish)],
        usage=usage(result.prompt_tokens, result.completion_tokens),
    )  # result.cached is not said: the shared cache must not tell a caller what others asked


class ChunkWriter:
    """``data:`` lines of ``chat.completion.chunk`` objects for one completion."""

    def __init__(self, cid: str, created: int) -> None:
        self.base: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": ""}

    def chunk(self, delta: dict[str, str], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return f"data: {json.dumps({**self.base, 'choices': [choice]})}\n\n"

    def usage(self, prompt: int, completion: int) -> str:
        return f"data: {json.dumps({**self.base, 'choices': [], 'usage': usage(prompt, completion).model_dump()})}\n\n"


def chat_stream(
    events: Iterable[Event], cid: str, created: int, prompt_chars: int, include_usage: bool
) -> Iterator[str]:
    """The text service's events as OpenAI's stream: a role chunk, content chunks, a finish chunk,
    the usage chunk (``stream_options.include_usage``; estimated), ``data: [DONE]``. A provider
    that broke off midway ends it with an ``error`` event instead, and no ``[DONE]``."""
    writer, text_chars = ChunkWriter(cid, created), 0
    for name, data in events:
        if name == "start":
            writer.base["model"] = served_model(data["provider"], data["model"])
            yield writer.chunk({"role": "assistant", "content": ""})
        elif name is None:
            text_chars += len(data["delta"])
            yield writer.chunk({"content": data["delta"]})
        elif name == "done":
            yield writer.chunk({}, "stop")
            if include_usage:
                yield writer.usage(estimate_tokens(prompt_chars), estimate_tokens(text_chars))
            yield "data: [DONE]\n\n"
        elif name == "error":
            detail = OpenAIErrorDetail(message=data["message"], type="server_error", code=data["error_type"])
            yield f"event: error\ndata: {OpenAIError(error=detail).model_dump_json()}\n\n"
            return


def event_stream(lines: Iterable[str], headers: dict[str, str]) -> flask.Response:
    response = flask.Response(lines, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    response.headers.update(headers)
    return response


def images_response(created: int, data: bytes | None, url: str | None) -> ImagesResponse:
    """The answer for one image: its bytes as ``b64_json`` when given, else its URL."""
    encoded = base64.b64encode(data).decode() if data is not None else None
    return ImagesResponse(created=created, data=[ImageData(url=None if encoded else url, b64_json=encoded)])


def model_list(offers: list[ModelOffer]) -> ModelList:
    return ModelList(data=[model_object(offer) for offer in offers])


def model_object(offer: ModelOffer) -> ModelObject:
    return ModelObject(id=offer.id, owned_by=offer.owned_by, modes=[mode.value for mode in offer.modes])


def _param(exc: errors.AppError) -> str | None:
    loc = (exc.details or [{}])[0].get("loc")
    if not loc:
        return None
    parts = [str(p) for p in loc]
    return parts[0] + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts[1:])


def _validation(exc: errors.AppError, param: str | None) -> tuple[str, str]:
    detail = (exc.details or [{}])[0]
    code = "missing_required_parameter" if detail.get("type") == "missing" else "invalid_value"
    message = f"Invalid '{param}': {detail.get('msg', exc.message)}." if param else exc.message
    return code, message


def error_body(exc: errors.AppError, request_id: str) -> tuple[int, OpenAIError]:
    """``http.Api``'s error hook for this surface: (status, OpenAI's error shape)."""
    status = 400 if exc.status == 422 else exc.status
    kind = "requests" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
    param = _param(exc)
    code, message = _CODES.get(exc.error_type, exc.error_type), exc.message
    if exc.error_type == "validation_error":
        code, message = _validation(exc, param)
    job_id = (exc.details or [{}])[0].get("job_id") if exc.error_type == "job_timeout" else None
    if job_id:
        return status, OpenAIError(error=JobTimeoutDetail(message=message, type=kind, code=code, job_id=job_id))
    return status, OpenAIError(error=OpenAIErrorDetail(message=message, type=kind, param=param, code=code))
