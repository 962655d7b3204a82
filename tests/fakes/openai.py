"""Fake OpenAI-compatible API: chat (plain and SSE), images generations/edits, the error shapes."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

from flask import Response, jsonify, request

from tests.fakes.server import FakeVendor, colour_for, png_bytes

_ERRORS = {
    "auth": (401, "invalid_request_error", "invalid_api_key"),
    "quota": (429, "insufficient_quota", "insufficient_quota"),
    "rate": (429, "requests", "rate_limit_exceeded"),
    "moderation": (400, "image_generation_user_error", "moderation_blocked"),
    "bad": (400, "invalid_request_error", None),
    "server": (500, "server_error", None),
}


class OpenAIFake(FakeVendor):
    name = "openai"

    def __init__(self) -> None:
        super().__init__()
        self.on_reset()

    def on_reset(self) -> None:
        self.stream_words = ["Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "fox."]

    def error(self, status: int, code: str) -> Response:
        name = code if code in _ERRORS else ("auth" if status == 401 else "bad")
        status, kind, error_code = _ERRORS[name]
        body = {"error": {"message": f"vendor says: {name}", "type": kind, "param": None, "code": error_code}}
        response = jsonify(body)
        response.status_code = status
        return response

    def routes(self) -> None:
        @self.app.get("/v1/models")
        def key_check() -> Response:  # what check_key calls: listing models bills nothing
            return jsonify({"object": "list", "data": [{"id": "chat-test", "object": "model"}]})

        @self.app.post("/v1/chat/completions")
        def chat() -> Response:
            body = request.get_json(silent=True) or {}
            messages = body.get("messages") or []
            if not body.get("model") or not messages:
                return self.error(400, "bad")
            scenario = self.next_scenario()
            if scenario in _ERRORS:
                return self.error(0, scenario)
            words = list(self.stream_words)
            if not body.get("stream"):
                return jsonify(
                    {
                        "id": f"chatcmpl-{uuid.uuid4().hex}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "".join(words)},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 9, "completion_tokens": len(words), "total_tokens": 9 + len(words)},
                    }
                )
            return Response(self._chunks(body["model"], words, scenario), mimetype="text/event-stream")

        @self.app.post("/v1/images/generations")
        def generations() -> Response:
            body = request.get_json(silent=True) or {}
            if not body.get("model") or not body.get("prompt"):
                return self.error(400, "bad")
            return self._image(str(body["prompt"]))

        @self.app.post("/v1/images/edits")
        def edits() -> Response:
            if "image" not in request.files or not request.form.get("prompt") or not request.form.get("model"):
                return self.error(400, "bad")
            return self._image(request.form["prompt"])

    def _image(self, prompt: str) -> Response:
        scenario = self.next_scenario()
        if scenario in _ERRORS:
            return self.error(0, scenario)
        if self.result_url:  # older image models answer a URL (on an Azure blob host)
            return jsonify({"created": int(time.time()), "data": [{"url": self.result_url}]})
        data = base64.b64encode(self.result(png_bytes(colour_for(prompt)), "image/png")[0]).decode()
        return jsonify({"created": int(time.time()), "data": [{"b64_json": data}]})

    def _chunks(self, model: str, words: list[str], scenario: str | None) -> Iterator[str]:
        release = self._release  # a stalled stream ends when the fake is reset or stopped
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "model": model}
        first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        yield f"data: {json.dumps(first)}\n\n"
        if scenario == "garbled":  # a chunk that is not JSON, before any text
            yield "data: {vendor says: not json\n\n"
        for i, word in enumerate(words):
            if scenario == "cut" and i == 3:
                raise ConnectionAbortedError("upstream went away")
            if scenario == "stall" and i == 3:  # stops sending, connection open: past our read timeout
                release.wait(30)
                return
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n"
        if scenario == "truncate":
            return  # the connection closes cleanly but without [DONE]
        last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(last)}\n\n"
        yield "data: [DONE]\n\n"
