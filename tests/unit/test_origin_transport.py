"""OriginTransport: the short way to a vendor's own origin answers what requests would, reuses
one pooled connection, maps urllib3's errors to requests', and steps aside where it must."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.providers.origin import OriginTransport
from tests.fakes.transport import ScriptedTransport
from tests.helpers import free_port


@Request.application
def upstream(request: Request) -> Response:
    if request.path == "/echo":
        body = {
            "method": request.method,
            "json": request.get_json(silent=True),
            "auth": request.headers.get("Authorization"),
        }
        return Response(json.dumps(body), status=201, headers={"X-Vendor": "yes"}, content_type="application/json")
    if request.path == "/gzip":
        return Response(gzip.compress(b'{"zipped": true}'), headers={"Content-Encoding": "gzip"})
    if request.path == "/stream":
        return Response((f"data: {i}\n\n".encode() for i in range(3)), content_type="text/event-stream")
    if request.path == "/slow":
        time.sleep(1.0)
        return Response("late")
    return Response("no", status=404)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, upstream, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def plain_session(base: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount(f"{base}/", HTTPAdapter())
    return session


def test_answers_what_requests_answers_and_reuses_one_connection(base):
    session = plain_session(base)
    transport = OriginTransport(session)
    url = f"{base}/echo"
    assert transport.usable(url)
    body = json.dumps({"q": "hi"}).encode()
    for _ in range(5):
        ours = transport.send(
            "POST", url, {"Authorization": "Bearer k", "Content-Type": "application/json"}, body, (5, 5), False
        )
    theirs = session.post(url, json={"q": "hi"}, headers={"Authorization": "Bearer k"})
    assert ours.status_code == theirs.status_code == 201
    assert ours.json() == theirs.json() == {"method": "POST", "json": {"q": "hi"}, "auth": "Bearer k"}
    assert ours.headers["x-vendor"] == "yes"
    assert ours.url == url
    assert transport._pool.num_connections == 1  # keep-alive: one connection for all five calls


def test_decodes_compressed_bodies_and_streams(base):
    transport = OriginTransport(plain_session(base))
    assert transport.send("GET", f"{base}/gzip", {}, None, (5, 5), False).json() == {"zipped": True}
    streamed = transport.send("GET", f"{base}/stream", {}, None, (5, 5), True)
    assert [line for line in streamed.iter_lines() if line] == [b"data: 0", b"data: 1", b"data: 2"]
    streamed.close()


def test_urllib3_errors_become_the_requests_errors_callers_handle(base):
    transport = OriginTransport(plain_session(base))
    with pytest.raises(requests.Timeout):
        transport.send("GET", f"{base}/slow", {}, None, (5, 0.2), False)
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(requests.ConnectionError):
        OriginTransport(plain_session(closed)).send("GET", f"{closed}/echo", {}, None, (1, 1), False)


def test_steps_aside_for_a_proxy_or_a_transport_of_its_own(base):
    proxied = plain_session(base)
    proxied.proxies = {"http": "http://127.0.0.1:9"}
    assert not OriginTransport(proxied).usable(f"{base}/echo")
    scripted = requests.Session()
    scripted.mount("http://", ScriptedTransport())
    assert not OriginTransport(scripted).usable(f"{base}/echo")


def test_a_closed_session_pool_is_replaced_not_failed_forever(base):
    session = plain_session(base)
    transport = OriginTransport(session)
    assert transport.send("GET", f"{base}/gzip", {}, None, (5, 5), False).status_code == 200
    session.close()  # closes the adapter's pools, the one the transport keeps among them
    assert transport.send("GET", f"{base}/gzip", {}, None, (5, 5), False).json() == {"zipped": True}
