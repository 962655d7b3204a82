"""The part every fake vendor shares: serving on a free port in a thread, keys, scripting, a clock."""

from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from flask import Flask, Response, jsonify, request
from PIL import Image
from werkzeug.serving import make_server

from tests.fakes.clock import FakeClock


class Loopback:
    """A WSGI app served on 127.0.0.1 (a free port) from a background thread, until stopped."""

    def __init__(self, app: Any, name: str) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=self._server.serve_forever, name=name, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Seen:
    method: str
    path: str
    key: str | None
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


HANG = -1  # a scripted "answer" that is no answer: the request waits until the fake is reset or stopped
Forced = tuple[int, Any, dict[str, str], str | None]


class FakeVendor:
    """One vendor's fake. Tests script it through this handle:

    - ``keys``: the keys it accepts; ``exhausted``: keys it answers with a quota error;
    - ``fail_next(status, body, headers, path=...)``: the next request(s) answer this instead (with
      ``path``: only requests whose path contains it, e.g. the task polls); ``hang_next(...)``: they
      answer nothing until the fake is reset or stopped (a vendor past our read timeout);
    - ``plan``: named scenarios (vendor specific, e.g. "moderation") consumed by create calls;
    - ``clock``: the fake's own time (share a ``FakeClock`` with the gateway, or advance it);
    - a malicious or broken vendor: ``result_url`` is named as the result instead of its own
      (vendors that answer with URLs); ``result_body`` is answered as the result's bytes, claiming
      ``result_mime`` (default: what the mode's real result claims). ``/_fake/redirect?to=URL``
      (a 302), ``/_fake/blob`` (``result_body``, streamed) and ``/_fake/expired`` (a signed link
      past its expiry: 403) are on the vendor's own host.
    """

    name = "fake"

    def __init__(self) -> None:
        self.app = Flask(f"fake-{self.name}")
        self.keys: set[str] = {"good-key", "second-key", "third-key"}
        self.exhausted: set[str] = set()
        self.clock = FakeClock()
        self.seen: list[Seen] = []
        self.plan: deque[str] = deque()
        self.result_url: str | None = None
        self.result_body: bytes | None = None
        self.result_mime: str | None = None
        self._forced: deque[Forced] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.app.before_request(self._before)
        self._lying_routes()
        self.routes()
        self._loopback: Loopback | None = None

    # -- scripting ----------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.keys = {"good-key", "second-key", "third-key"}
            self.exhausted = set()
            self.clock = FakeClock()
            self.seen = []
            self.plan.clear()
            self._forced.clear()
            self.result_url = self.result_body = self.result_mime = None
            self._release.set()  # requests still hanging from an earlier test answer now
            self._release = threading.Event()
        self.on_reset()

    def on_reset(self) -> None:
        pass

    def fail_next(
        self, status: int, body: Any, headers: dict[str, str] | None = None, times: int = 1, path: str | None = None
    ) -> None:
        with self._lock:
            for _ in range(times):
                self._forced.append((status, body, headers or {}, path))

    def hang_next(self, times: int = 1, path: str | None = None) -> None:
        """The next request(s) (on ``path``) get no answer until ``reset`` or ``stop``."""
        self.fail_next(HANG, None, times=times, path=path)

    def _take_forced(self) -> Forced | None:
        """The first scripted answer meant for this request (its path), taken off the script."""
        if self.public_path():
            return None
        for forced in self._forced:
            if forced[3] is None or forced[3] in request.path:
                self._forced.remove(forced)
                return forced
        return None

    def next_scenario(self) -> str | None:
        with self._lock:
            return self.plan.popleft() if self.plan else None

    def calls(self, path_part: str) -> list[Seen]:
        return [s for s in self.seen if path_part in s.path]

    def result(self, data: bytes, mime: str) -> tuple[bytes, str]:
        """The result bytes and type to answer: the real ones unless a test scripted a lie."""
        if self.result_body is None:
            return data, self.result_mime or mime
        return self.result_body, self.result_mime or mime

    def own_url(self, path: str) -> str:
        """A URL on this fake's own host (the vendor's base URL host)."""
        return f"{request.host_url.rstrip('/')}{path}"

    def _lying_routes(self) -> None:
        @self.app.get("/_fake/redirect")
        def redirect() -> Response:
            return Response(status=302, headers={"Location": request.args["to"]})

        @self.app.get("/_fake/blob")
        def blob() -> Response:
            data, mime = self.result(b"", "image/png")
            return Response(_chunks(data), mimetype=mime)  # streamed: no Content-Length

        @self.app.get("/_fake/expired")
        def expired() -> Response:  # what a signed storage link answers past its expiry
            body = "<Error><Code>AuthenticationFailed</Code><Message>Signature expired</Message></Error>"
            return Response(body, status=403, mimetype="application/xml")

    # -- vendor hooks -------------------------------------------------------------------------

    def routes(self) -> None:
        raise NotImplementedError

    def key_of(self) -> str | None:
        auth = request.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ").strip() or None

    def error(self, status: int, code: str) -> Response:
        raise NotImplementedError

    def quota_error(self) -> Response:
        return self.error(429, "quota")

    def public_path(self) -> bool:
        return request.path.startswith("/_fake/")

    def _before(self) -> Response | None:
        key = self.key_of()
        files = {name: f.read() for name, f in request.files.items()}
        seen = Seen(
            request.method,
            request.path,
            key,
            dict(request.headers),
            request.get_json(silent=True),
            dict(request.form),
            files,
        )
        with self._lock:
            self.seen.append(seen)
            forced = self._take_forced()
            release = self._release
        if forced is not None and forced[0] == HANG:
            release.wait(30)
            return Response("released", status=504)
        if forced is not None:
            status, body, headers, _path = forced
            response = jsonify(body) if not isinstance(body, str) else Response(body)
            response.status_code = status
            response.headers.update(headers)
            return response
        if self.public_path():
            return None
        if key not in self.keys:
            return self.error(401, "auth")
        if key in self.exhausted:
            return self.quota_error()
        return None

    # -- serving ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._loopback is not None
        return self._loopback.url

    def start(self) -> FakeVendor:
        self._loopback = Loopback(self.app, f"fake-{self.name}")
        return self

    def stop(self) -> None:
        self._release.set()
        if self._loopback is not None:
            self._loopback.stop()
            self._loopback = None


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class InternalService:
    """An address inside the network that no vendor may make the gateway fetch from (a cloud
    metadata server, an admin port). It records every request, headers included, and answers
    with a valid PNG, so a gateway that fetched it would store and serve its bytes."""

    SECRET = "internal-only"

    def __init__(self) -> None:
        self.app = Flask("fake-internal")
        self.seen: list[Seen] = []

        @self.app.route("/", defaults={"path": ""})
        @self.app.route("/<path:path>")
        def anything(path: str) -> Response:
            key = request.headers.get("x-goog-api-key") or request.headers.get("Authorization")
            self.seen.append(Seen(request.method, request.path, key, dict(request.headers)))
            return Response(png_bytes((1, 2, 3)), mimetype="image/png", headers={"X-Secret": self.SECRET})

        self._loopback = Loopback(self.app, "fake-internal")

    @property
    def url(self) -> str:
        return self._loopback.url

    def stop(self) -> None:
        self._loopback.stop()


@cache
def png_bytes(colour: tuple[int, int, int] = (30, 120, 200), size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def colour_for(prompt: str) -> tuple[int, int, int]:
    value = sum(prompt.encode()) * 2654435761 % (1 << 24)
    return (value >> 16 & 255, value >> 8 & 255, value & 255)


@cache
def mp4_bytes() -> bytes:
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), (40 * i, 90, 160)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()
