"""Fake Stability AI: multipart generate endpoints, raw or JSON answers, moderation, lockout."""

from __future__ import annotations

import base64
import uuid

from flask import Response, jsonify, request

from tests.fakes.server import FakeVendor, colour_for, png_bytes

_ENDPOINTS = {"ultra", "core", "sd3"}
_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "content_moderation",
    413: "payload_too_large",
    429: "rate_limit_exceeded",
    500: "internal_error",
}


class StabilityFake(FakeVendor):
    name = "stability"

    def on_reset(self) -> None:
        self.rate_limit, self.window, self.lockout = 150, 10.0, 60.0
        self.max_image_bytes = 10 * 1024 * 1024
        self._recent: list[float] = []
        self._locked_until = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.on_reset()

    def error(self, status: int, code: str) -> Response:
        body = {"id": uuid.uuid4().hex, "name": _NAMES.get(status, "error"), "errors": [f"vendor says: {code}"]}
        response = jsonify(body)
        response.status_code = status
        return response

    def quota_error(self) -> Response:
        return self.error(402, "insufficient credits on key")

    def _limited(self) -> bool:
        now = self.clock.now()
        if now < self._locked_until:
            return True
        self._recent = [t for t in self._recent if t > now - self.window] + [now]
        if len(self._recent) > self.rate_limit:
            self._locked_until = now + self.lockout
            return True
        return False

    def routes(self) -> None:
        @self.app.get("/v1/user/balance")
        def key_check() -> Response:  # what check_key calls
            return jsonify({"credits": 42.0})

        @self.app.post("/v2beta/stable-image/generate/<endpoint>")
        def generate(endpoint: str) -> Response:
            if endpoint not in _ENDPOINTS:
                return self.error(404, "no such endpoint")
            if self._limited():
                response = self.error(429, "You have exceeded the rate limit of 150 requests within a 10 second period")
                return response
            if not request.content_type or not request.content_type.startswith("multipart/form-data"):
                return self.error(400, "content-type: must be multipart/form-data")
            prompt = request.form.get("prompt", "")
            if not prompt:
                return self.error(400, "prompt: is required")
            if request.form.get("mode") == "image-to-image" or "image" in request.files:
                image = request.files.get("image")
                if image is None or not request.form.get("strength"):
                    return self.error(400, "image and strength are required for image-to-image")
                if len(self.seen[-1].files.get("image", b"")) > self.max_image_bytes:
                    return self.error(413, "image too large")
            scenario = self.next_scenario()
            if scenario == "moderation":
                return self.error(403, "Your request was flagged by our content moderation system")
            seed = int(request.form.get("seed") or 0) or 1234
            finish = "CONTENT_FILTERED" if scenario == "filtered" else "SUCCESS"
            data, mime = self.result(png_bytes(colour_for(prompt)), "image/png")
            if "application/json" in request.headers.get("Accept", ""):
                return jsonify({"image": base64.b64encode(data).decode(), "finish_reason": finish, "seed": seed})
            if not request.headers.get("Accept", "").startswith("image/"):
                return self.error(400, "accept: must be image/* or application/json")
            return Response(data, mimetype=mime, headers={"finish-reason": finish, "seed": str(seed)})
