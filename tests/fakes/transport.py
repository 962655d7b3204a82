"""A scripted requests transport (what httpx calls a mock transport): tests mount it on a
vendor's injected session to play hosts that cannot run on 127.0.0.1 (https, public names),
and read back exactly what was sent. No network, no patching of our code."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]


@dataclass
class ScriptedTransport(BaseAdapter):
    """Answers each URL from ``answers`` ((status, headers, body); 404 if unscripted)."""

    answers: Mapping[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = str(request.url)
        self.sent.append(Sent(str(request.method), url, dict(request.headers)))
        status, headers, body = self.answers.get(url, (404, {}, b""))
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response.raw = io.BytesIO(body)
        response.url = url
        response.request = request
        return response

    def close(self) -> None:
        pass

    def keys_sent(self, header: str) -> list[str | None]:
        return [next((v for k, v in s.headers.items() if k.lower() == header.lower()), None) for s in self.sent]


def session_with(transport: ScriptedTransport) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", transport)
    session.mount("https://", transport)
    return session
