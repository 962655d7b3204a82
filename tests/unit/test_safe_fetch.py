"""The URL, host and address policy for anything a vendor names (shared/providers/safe_fetch.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from shared.providers.safe_fetch import (
    AddressGuard,
    GuardedAdapter,
    HostPolicy,
    Origin,
    Refused,
    host_matches,
    is_public,
    vendor_session,
)
from tests.fakes.server import InternalService

DASHSCOPE = HostPolicy.for_vendor("https://dashscope-intl.aliyuncs.com", ["*.aliyuncs.com"])
OPENAI = HostPolicy.for_vendor("https://api.openai.com/v1", ["oaidalleapiprodscus.blob.core.windows.net"])
LOCAL = HostPolicy.for_vendor("http://127.0.0.1:8123/v1")


@pytest.fixture(scope="module")
def internal() -> Iterator[InternalService]:
    service = InternalService()
    yield service
    service.stop()


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Example.COM./a?b#c", ("https", "example.com", 443)),
        ("http://127.0.0.1:8123/v1/x", ("http", "127.0.0.1", 8123)),
        ("https://[::1]:8443/x", ("https", "::1", 8443)),
        ("HTTPS://a.b", ("https", "a.b", 443)),
    ],
)
def test_an_origin_is_scheme_host_and_port(url, origin):
    assert Origin.of(url) == Origin(*origin)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://a.aliyuncs.com/x",
        "//a.aliyuncs.com/x",
        "/relative/path",
        "https://user:pass@a.aliyuncs.com/x",
        "https://evil.invalid\\@a.aliyuncs.com/x",
        "https://a.aliyuncs.com/x y",
        "https://a.aliyuncs.com/\r\nHost: evil",
        "https:///nohost",
    ],
)
def test_urls_that_are_not_plain_absolute_http_are_refused(url):
    with pytest.raises(Refused):
        Origin.of(url)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("dashscope-result-sgp.oss-ap-southeast-1.aliyuncs.com", True),
        ("x.aliyuncs.com", True),
        ("aliyuncs.com", False),  # *.suffix is for names under it, not the apex
        ("evilaliyuncs.com", False),
        ("aliyuncs.com.evil.invalid", False),
        ("oaidalleapiprodscus.blob.core.windows.net", True),
        ("attacker.blob.core.windows.net", False),  # an exact name allows only itself
    ],
)
def test_allowlist_patterns_are_exact_names_or_subdomains(host, allowed):
    assert host_matches(host, ["*.aliyuncs.com", "oaidalleapiprodscus.blob.core.windows.net"]) is allowed


@pytest.mark.parametrize(
    ("policy", "url"),
    [
        (DASHSCOPE, "https://dashscope-result-sgp.oss-ap-southeast-1.aliyuncs.com/1/out.png?Expires=1&Signature=x"),
        (DASHSCOPE, "https://dashscope-intl.aliyuncs.com/results/out.png"),  # its own origin
        (OPENAI, "https://oaidalleapiprodscus.blob.core.windows.net/private/img.png"),
        (OPENAI, "https://api.openai.com/v1/files/x/content"),
        (LOCAL, "http://127.0.0.1:8123/_fake/blob"),  # a loopback base URL: plain http, that port only
    ],
)
def test_results_may_come_from_the_own_origin_and_allowlisted_https_hosts(policy, url):
    policy.check_result_url(url)


@pytest.mark.parametrize(
    ("policy", "url"),
    [
        (DASHSCOPE, "http://dashscope-result-sgp.oss-ap-southeast-1.aliyuncs.com/1/out.png"),  # plain http
        (DASHSCOPE, "https://x.aliyuncs.com:8443/out.png"),  # another port
        (DASHSCOPE, "https://results.attacker.invalid/out.png"),  # off the allowlist
        (DASHSCOPE, "https://169.254.169.254/latest/meta-data/"),
        (DASHSCOPE, "http://dashscope-intl.aliyuncs.com/results/out.png"),  # own host, but http
        (OPENAI, "https://attacker.blob.core.windows.net/x.png"),
        (LOCAL, "http://127.0.0.1:9999/secret"),  # another loopback port is another service
        (LOCAL, "http://localhost:8123/x"),  # another name for it is not the configured origin
        (LOCAL, "https://127.0.0.1/x"),
    ],
)
def test_anything_else_is_refused(policy, url):
    with pytest.raises(Refused):
        policy.check_result_url(url)


def test_plain_http_from_the_own_origin_only_when_that_is_loopback():
    lan = HostPolicy.for_vendor("http://10.0.0.5:8000/v1")
    with pytest.raises(Refused):
        lan.check_result_url("http://10.0.0.5:8000/x.png")


@pytest.mark.parametrize(
    ("url", "own"),
    [
        ("https://api.openai.com/v1/images", True),
        ("https://API.openai.com:443/other", True),
        ("https://api.openai.com:8443/v1", False),
        ("http://api.openai.com/v1", False),
        ("https://api.openai.com.evil.invalid/v1", False),
        ("https://oaidalleapiprodscus.blob.core.windows.net/x", False),  # allowlisted for results, not for keys
        ("not a url", False),
    ],
)
def test_the_key_goes_only_to_the_own_origin(url, own):
    assert OPENAI.is_own(url) is own


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "127.8.9.10",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1%eth0",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "ff02::1",
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "47.88.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_global_addresses_are_public(address):
    assert is_public(address)


def test_a_name_is_approved_only_if_every_address_it_resolves_to_is_public():
    answers = {"cdn.test": ["47.88.1.1", "8.8.8.8"], "mixed.test": ["47.88.1.1", "10.0.0.7"], "none.test": []}
    guard = AddressGuard(resolve=lambda host, port: answers[host])
    assert guard.addresses("cdn.test", 443) == ["47.88.1.1", "8.8.8.8"]
    for host in ("mixed.test", "none.test"):
        with pytest.raises(Refused):
            guard.addresses(host, 443)


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_the_guarded_transport_never_connects_to_a_loopback_service(internal, name):
    session = vendor_session(DASHSCOPE)
    url = internal.url.replace("127.0.0.1", name)
    with pytest.raises(Refused):
        session.get(f"{url}/computeMetadata/v1/token", timeout=3)
    assert internal.seen == []


def test_the_connection_goes_to_the_address_that_was_checked(internal):
    """Pinning: the name is resolved once, by the guard, and the socket connects to that answer
    (a name the system resolver does not know reaches the loopback service only through it)."""
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    guard = AddressGuard(resolve=resolve, allowed=lambda address: address == "127.0.0.1")
    session = requests.Session()
    session.mount("http://", GuardedAdapter(guard))
    port = internal.url.rsplit(":", 1)[1]
    response = session.get(f"http://rebinding.invalid:{port}/pinned", timeout=3)
    assert response.status_code == 200 and lookups == ["rebinding.invalid"]
    assert internal.seen[-1].path == "/pinned" and internal.seen[-1].headers["Host"] == f"rebinding.invalid:{port}"
    internal.seen.clear()


def test_the_guarded_transport_ignores_proxies(internal):
    session = vendor_session(DASHSCOPE)
    session.proxies = {"http": internal.url, "https": internal.url}  # a proxy would resolve names itself
    with pytest.raises(Refused):
        session.get("http://127.0.0.1:9/x", timeout=3)
    assert internal.seen == []


def test_the_own_origin_is_trusted_as_configured(internal):
    """A loopback base URL (tests, a local model server) is reached through a plain transport."""
    own = HostPolicy.for_vendor(f"{internal.url}/v1")
    session = vendor_session(own)
    assert session.get(f"{internal.url}/v1/models", timeout=3).status_code == 200
    assert [s.path for s in internal.seen] == ["/v1/models"]
    internal.seen.clear()
