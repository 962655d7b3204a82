"""Fake Gemini API: generateContent images, safety blocks as HTTP 200, Veo operations, SSE text."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

from flask import Response, jsonify, request

from tests.fakes.server import FakeVendor, colour_for, mp4_bytes, png_bytes

_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class GeminiFake(FakeVendor):
    name = "gemini"

    def __init__(self) -> None:
        self.operations: dict[str, dict[str, object]] = {}
        super().__init__()
        self.on_reset()

    def on_reset(self) -> None:
        self.operations = {}
        self.polls_to_done = 2
        self.file_ttl = 2 * 86400.0  # Veo's generated files are kept two days
        self.stream_words = ["A ", "castle ", "on ", "a ", "hill."]

    def key_of(self) -> str | None:
        return request.headers.get("x-goog-api-key") or request.args.get("key")

    def error(self, status: int, code: str) -> Response:
        if status == 401:  # the real API answers a bad key with 400 INVALID_ARGUMENT + API_KEY_INVALID
            error = {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            }
            status = 400
        else:
            error = {"code": status, "message": f"vendor says: {code}", "status": _STATUS.get(status, "UNKNOWN")}
        response = jsonify({"error": error})
        response.status_code = status
        return response

    def routes(self) -> None:
        @self.app.get("/v1beta/models")
        def key_check() -> Response:  # what check_key calls
            return jsonify({"models": [{"name": "models/gemini-test"}]})

        @self.app.post("/v1beta/models/<path:target>")
        def models(target: str) -> Response:
            model, _, method = target.partition(":")
            body = request.get_json(silent=True) or {}
            if method == "generateContent":
                return self._generate(model, body)
            if method == "streamGenerateContent":
                return self._stream(body)
            if method == "predictLongRunning":
                return self._predict(model, body)
            return self.error(404, "method not found")

        @self.app.get("/v1beta/models/<model>/operations/<op>")
        def operation(model: str, op: str) -> Response:
            name = f"models/{model}/operations/{op}"
            state = self.operations.get(name)
            if state is None:
                return self.error(404, "operation not found")
            state["polls"] = int(state["polls"]) + 1  # type: ignore[call-overload]
            if int(state["polls"]) < self.polls_to_done:  # type: ignore[call-overload]
                return jsonify({"name": name, "metadata": {}})
            if state.get("fail"):
                return jsonify({"name": name, "done": True, "error": {"code": 13, "message": "vendor says: internal"}})
            if state.get("filtered"):
                return jsonify(
                    {"name": name, "done": True, "response": {"generateVideoResponse": {"raiMediaFilteredCount": 1}}}
                )
            state.setdefault("done_at", self.clock.now())
            uri = self.result_url or self.own_url(f"/v1beta/files/{op}:download?alt=media")
            sample = {"video": {"uri": uri}}
            return jsonify(
                {"name": name, "done": True, "response": {"generateVideoResponse": {"generatedSamples": [sample]}}}
            )

        @self.app.get("/v1beta/files/<path:target>")
        def file(target: str) -> Response:
            op = target.split(":")[0]
            state = next((s for name, s in self.operations.items() if name.endswith(f"/operations/{op}")), None)
            if state is None:
                return self.error(404, "file not found")
            if self.clock.now() > float(state.get("done_at", self.clock.now())) + self.file_ttl:  # type: ignore[arg-type]
                return self.error(404, "file expired")
            data, mime = self.result(mp4_bytes(), "video/mp4")
            return Response(data, mimetype=mime)

    def _prompt(self, body: dict[str, object]) -> str:
        contents = body.get("contents") or []
        parts = contents[-1].get("parts", []) if contents else []  # type: ignore[union-attr]
        return "".join(p.get("text", "") for p in parts)

    def _generate(self, model: str, body: dict[str, object]) -> Response:
        prompt = self._prompt(body)
        if not prompt:
            return self.error(400, "contents: required")
        scenario = self.next_scenario()
        if scenario == "block":
            return jsonify({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}})
        if scenario == "image_safety":
            return jsonify({"candidates": [{"finishReason": "IMAGE_SAFETY", "index": 0}]})
        usage = {"promptTokenCount": len(prompt.split()), "candidatesTokenCount": 6}
        modalities = (body.get("generationConfig") or {}).get("responseModalities") or ["TEXT"]  # type: ignore[union-attr]
        if "IMAGE" in modalities:
            image, mime = self.result(png_bytes(colour_for(prompt)), "image/png")
            parts = [{"inlineData": {"mimeType": mime, "data": base64.b64encode(image).decode()}}]
        else:
            parts = [{"text": "".join(self.stream_words)}]
        candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        return jsonify({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model})

    def _stream(self, body: dict[str, object]) -> Response:
        if request.args.get("alt") != "sse":
            return self.error(400, "use alt=sse")
        scenario = self.next_scenario()
        if scenario == "block":
            return Response(
                "data: " + json.dumps({"promptFeedback": {"blockReason": "SAFETY"}}) + "\r\n\r\n",
                mimetype="text/event-stream",
            )
        words = list(self.stream_words)

        def events() -> Iterator[str]:
            for i, word in enumerate(words):
                if scenario == "cut" and i == 2:
                    raise ConnectionAbortedError("upstream went away")
                chunk: dict[str, object] = {"content": {"role": "model", "parts": [{"text": word}]}, "index": 0}
                if i == len(words) - 1:
                    chunk["finishReason"] = "STOP"
                yield "data: " + json.dumps({"candidates": [chunk]}) + "\r\n\r\n"

        return Response(events(), mimetype="text/event-stream")

    def _predict(self, model: str, body: dict[str, object]) -> Response:
        instances = body.get("instances") or []
        if not instances or not instances[0].get("prompt"):  # type: ignore[index]
            return self.error(400, "instances[0].prompt: required")
        scenario = self.next_scenario()
        name = f"models/{model}/operations/{uuid.uuid4().hex[:12]}"
        self.operations[name] = {"polls": 0, "fail": scenario == "fail", "filtered": scenario == "filtered"}
        return jsonify({"name": name})
