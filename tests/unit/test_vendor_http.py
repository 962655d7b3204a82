"""``VendorHttp`` under the trust rules, on a scripted transport playing real https hosts:
the key goes only to the vendor's own origin, every redirect hop is checked, bodies are capped."""

from __future__ import annotations

import pytest

from shared.domain import ErrorKind, ProviderError
from shared.providers.keys import KeyPool
from shared.providers.safe_fetch import HostPolicy
from shared.providers.vendor_http import MAX_REDIRECTS, HttpPolicy, VendorHttp, fail
from tests.fakes.clock import FakeClock
from tests.fakes.transport import ScriptedTransport, session_with

API = "https://generativelanguage.googleapis.com"
FILE = f"{API}/v1beta/files/abc:download?alt=media"
CDN = "https://video-downloads.googleusercontent.com/abc.mp4"
KEY = "x-goog-api-key"


def _http(transport: ScriptedTransport, **policy: int) -> VendorHttp:
    clock = FakeClock()
    return VendorHttp(
        "gemini",
        HostPolicy.for_vendor(API, ["*.googleusercontent.com"]),
        session_with(transport),
        KeyPool("gemini", ["secret-key"], clock),
        lambda key: {KEY: key},
        lambda response: fail(ErrorKind.UNAVAILABLE, "gemini"),
        clock,
        HttpPolicy(max_retries=0, **policy),
    )


def _refused(call) -> ProviderError:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError) as caught:
        call()
    assert caught.value.kind is ErrorKind.BAD_OUTPUT and caught.value.provider == "gemini"
    return caught.value


def test_a_file_on_the_vendor_host_gets_the_key_and_its_redirect_does_not():
    transport = ScriptedTransport({FILE: (302, {"Location": CDN}, b""), CDN: (200, {}, b"video bytes")})
    assert _http(transport).download(FILE, key_index=0) == b"video bytes"
    assert [s.url for s in transport.sent] == [FILE, CDN]
    assert transport.keys_sent(KEY) == ["secret-key", None]


def test_a_file_uri_on_another_host_never_gets_the_key():
    transport = ScriptedTransport({CDN: (200, {}, b"video bytes")})
    assert _http(transport).download(CDN, key_index=0) == b"video bytes"
    assert transport.keys_sent(KEY) == [None]


@pytest.mark.parametrize(
    "target",
    ["https://evil.invalid/x.mp4", "http://video-downloads.googleusercontent.com/x.mp4", "http://169.254.169.254/"],
)
def test_a_redirect_off_the_rules_is_not_followed(target):
    transport = ScriptedTransport({FILE: (302, {"Location": target}, b"")})
    _refused(lambda: _http(transport).download(FILE, key_index=0))
    assert [s.url for s in transport.sent] == [FILE]


def test_relative_redirects_are_resolved_and_checked_like_any_other():
    other = f"{API}/v1beta/files/abc:media"
    transport = ScriptedTransport({FILE: (307, {"Location": "/v1beta/files/abc:media"}, b""), other: (200, {}, b"ok")})
    assert _http(transport).download(FILE, key_index=0) == b"ok"
    assert transport.keys_sent(KEY) == ["secret-key", "secret-key"]


def test_redirects_stop_after_a_few_hops():
    loop = {f"{API}/{i}": (302, {"Location": f"{API}/{i + 1}"}, b"") for i in range(10)}
    transport = ScriptedTransport(loop)
    _refused(lambda: _http(transport).download(f"{API}/0"))
    assert len(transport.sent) == MAX_REDIRECTS + 1


def test_an_api_call_names_only_the_vendor_own_origin():
    transport = ScriptedTransport()
    _refused(lambda: _http(transport).request("GET", "https://evil.invalid/v1beta/operations/x"))
    _refused(lambda: _http(transport).request("GET", "@evil.invalid/x"))  # would join into the authority
    assert transport.sent == []


def test_an_api_call_is_never_redirected_with_the_key():
    transport = ScriptedTransport({f"{API}/v1beta/x": (302, {"Location": "https://evil.invalid/"}, b"")})
    with pytest.raises(ProviderError) as caught:
        _http(transport).request("GET", "/v1beta/x")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert [s.url for s in transport.sent] == [f"{API}/v1beta/x"]


def test_a_body_over_the_cap_is_refused_by_its_length_or_while_it_streams():
    big = b"x" * 5000
    declared = ScriptedTransport({CDN: (200, {"Content-Length": str(len(big))}, big)})
    error = _refused(lambda: _http(declared, max_result_bytes=4096).download(CDN))
    assert "larger" in error.message
    streamed = ScriptedTransport({CDN: (200, {}, big)})  # no Content-Length: counted as it arrives
    _refused(lambda: _http(streamed, max_result_bytes=4096).download(CDN))
    assert _http(ScriptedTransport({CDN: (200, {}, big)}), max_result_bytes=5000).download(CDN) == big


def test_an_expired_link_is_unavailable_not_bad_output():
    transport = ScriptedTransport({CDN: (403, {}, b"<Error>AccessDenied</Error>")})
    with pytest.raises(ProviderError) as caught:
        _http(transport).download(CDN)
    assert caught.value.kind is ErrorKind.UNAVAILABLE
