"""Adapters under test wired to their fakes, and each vendor's way of producing each error kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from shared.domain import Mode
from shared.providers.base import ErrorKind, Provider, TaskContext
from shared.providers.safe_fetch import vendor_session
from shared.providers.vendor_base import VendorConfig
from shared.providers.vendor_http import HttpPolicy
from tests.fakes.clock import FakeClock
from tests.fakes.dashscope import DashScopeFake
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.server import FakeVendor
from tests.fakes.stability import StabilityFake

FAKES: dict[str, type[FakeVendor]] = {
    "stability": StabilityFake,
    "dashscope": DashScopeFake,
    "gemini": GeminiFake,
    "openai": OpenAIFake,
}

MODELS: dict[str, dict[Mode, str]] = {
    "stability": {Mode.TEXT_TO_IMAGE: "core", Mode.IMAGE_TO_IMAGE: "sd3.5-large"},
    "dashscope": {
        Mode.TEXT_TO_IMAGE: "qwen-image",
        Mode.IMAGE_TO_IMAGE: "wanx2.1-imageedit",
        Mode.TEXT_TO_VIDEO: "wan2.2-t2v-plus",
        Mode.IMAGE_TO_VIDEO: "wan2.2-i2v-plus",
    },
    "gemini": {
        Mode.TEXT_TO_IMAGE: "gemini-image-test",
        Mode.IMAGE_TO_IMAGE: "gemini-image-test",
        Mode.TEXT_TO_VIDEO: "veo-test",
        Mode.IMAGE_TO_VIDEO: "veo-test",
        Mode.TEXT: "gemini-text-test",
    },
    "openai": {Mode.TEXT_TO_IMAGE: "image-test", Mode.IMAGE_TO_IMAGE: "image-test", Mode.TEXT: "chat-test"},
}

# How each vendor says each kind of failure: (status, body, headers).
Answer = tuple[int, Any, dict[str, str]]
ERRORS: dict[str, dict[ErrorKind, Answer]] = {
    "stability": {
        ErrorKind.BAD_REQUEST: (400, {"id": "e", "name": "bad_request", "errors": ["vendor says: bad"]}, {}),
        ErrorKind.AUTH: (401, {"id": "e", "name": "unauthorized", "errors": ["vendor says: key"]}, {}),
        ErrorKind.QUOTA: (402, {"id": "e", "name": "payment_required", "errors": ["vendor says: credits"]}, {}),
        ErrorKind.MODERATION: (403, {"id": "e", "name": "content_moderation", "errors": ["vendor says: no"]}, {}),
        ErrorKind.RATE_LIMITED: (429, {"id": "e", "name": "rate_limit_exceeded", "errors": ["vendor says: slow"]}, {}),
        ErrorKind.UNAVAILABLE: (500, {"id": "e", "name": "internal_error", "errors": ["vendor says: oops"]}, {}),
    },
    "dashscope": {
        ErrorKind.BAD_REQUEST: (400, {"code": "InvalidParameter", "message": "vendor says: bad"}, {}),
        ErrorKind.AUTH: (401, {"code": "InvalidApiKey", "message": "vendor says: key"}, {}),
        ErrorKind.QUOTA: (400, {"code": "Arrearage", "message": "vendor says: pay"}, {}),
        ErrorKind.MODERATION: (400, {"code": "DataInspectionFailed", "message": "vendor says: no"}, {}),
        ErrorKind.RATE_LIMITED: (429, {"code": "Throttling", "message": "vendor says: slow"}, {}),
        ErrorKind.UNAVAILABLE: (500, {"code": "InternalError", "message": "vendor says: oops"}, {}),
    },
    "gemini": {
        ErrorKind.BAD_REQUEST: (
            400,
            {"error": {"code": 400, "message": "vendor says", "status": "INVALID_ARGUMENT"}},
            {},
        ),
        ErrorKind.AUTH: (403, {"error": {"code": 403, "message": "vendor says", "status": "PERMISSION_DENIED"}}, {}),
        ErrorKind.RATE_LIMITED: (
            429,
            {"error": {"code": 429, "message": "vendor says", "status": "RESOURCE_EXHAUSTED"}},
            {"Retry-After": "45"},
        ),
        ErrorKind.UNAVAILABLE: (503, {"error": {"code": 503, "message": "vendor says", "status": "UNAVAILABLE"}}, {}),
    },
    "openai": {
        ErrorKind.BAD_REQUEST: (400, {"error": {"message": "vendor says", "type": "invalid_request_error"}}, {}),
        ErrorKind.AUTH: (401, {"error": {"message": "vendor says", "type": "x", "code": "invalid_api_key"}}, {}),
        ErrorKind.QUOTA: (429, {"error": {"message": "vendor says", "type": "x", "code": "insufficient_quota"}}, {}),
        ErrorKind.MODERATION: (
            400,
            {"error": {"message": "vendor says", "type": "x", "code": "moderation_blocked"}},
            {},
        ),
        ErrorKind.RATE_LIMITED: (
            429,
            {"error": {"message": "vendor says", "type": "requests", "code": "rate_limit_exceeded"}},
            {"Retry-After": "30"},
        ),
        ErrorKind.UNAVAILABLE: (502, {"error": {"message": "vendor says", "type": "server_error"}}, {}),
    },
}

# The moderation refusals that are an HTTP 200 (Gemini's safety block).
MODERATION_SCENARIO = {"gemini": "block", "dashscope": "fail:DataInspectionFailed", "stability": "filtered"}


# The modes whose results each vendor answers as a URL to download (the others come inline).
URL_MODES: dict[str, set[Mode]] = {
    "dashscope": {Mode.TEXT_TO_IMAGE, Mode.IMAGE_TO_IMAGE, Mode.TEXT_TO_VIDEO, Mode.IMAGE_TO_VIDEO},
    "openai": {Mode.TEXT_TO_IMAGE, Mode.IMAGE_TO_IMAGE},  # older image models: a URL, when the vendor says so
    "gemini": {Mode.TEXT_TO_VIDEO, Mode.IMAGE_TO_VIDEO},  # Veo file URIs
}


def base_url(name: str, fake: FakeVendor) -> str:
    return f"{fake.url}/v1" if name == "openai" else fake.url


def config_for(
    name: str, fake: FakeVendor, keys: list[str] | None = None, result_hosts: tuple[str, ...] = (), **policy: Any
) -> VendorConfig:
    return VendorConfig(
        base_url(name, fake),
        keys or ["good-key"],
        MODELS[name],
        HttpPolicy(**{"connect_timeout": 2, "read_timeout": 10, "max_retries": 2, "max_wait": 20, **policy}),
        poll_seconds=5,
        max_task_seconds=120,
        result_hosts=result_hosts,
    )


def build(
    name: str,
    fake: FakeVendor,
    clock: FakeClock,
    keys: list[str] | None = None,
    *,
    config: VendorConfig | None = None,
    session: requests.Session | None = None,
) -> Provider:
    """The adapter of ``name`` on its fake, with the session production builds (or ``session``)."""
    from shared.providers.dashscope import DashScopeProvider
    from shared.providers.gemini import GeminiProvider
    from shared.providers.openai_compat import OpenAICompatProvider
    from shared.providers.stability import StabilityProvider

    classes: dict[str, Callable[[VendorConfig, FakeClock, requests.Session], Provider]] = {
        "stability": StabilityProvider,
        "dashscope": DashScopeProvider,
        "gemini": GeminiProvider,
        "openai": OpenAICompatProvider,
    }
    config = config or config_for(name, fake, keys)
    return classes[name](config, clock, session or vendor_session(config.hosts))


@dataclass
class Tasks:
    """A ``TaskContext`` that records saved task ids and sleeps on a fake clock."""

    clock: FakeClock
    saved: list[str] = field(default_factory=list)

    def context(self, resume: str | None = None) -> TaskContext:
        return TaskContext(self.clock.sleep, resume, self.saved.append)
