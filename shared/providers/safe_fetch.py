"""Where a vendor may make us connect, and where its key may go (design: "Trust boundaries").

Vendors are untrusted: a result URL, a redirect or a file URI in an answer is the vendor's word.

- **Keys** go only to the vendor's own origin: the scheme, host and port of its configured base
  URL. An absolute URL anywhere else never carries a key (``HostPolicy.is_own``).
- **Results** come over https, on the default port, from the vendor's own origin or a host on
  its allowlist (``<VENDOR>_RESULT_HOSTS``: exact names, or ``*.suffix`` for any subdomain).
  Plain http only from the base origin itself, and only when that is loopback (tests, a model
  server on the same machine): another port of 127.0.0.1 is another service (``check_result_url``).
- **Addresses**: every address a result host resolves to (``socket.getaddrinfo``) must be
  public: no private, loopback, link-local, shared or reserved range. ``GuardedAdapter`` makes
  the connection to an address it checked, so a name that resolves elsewhere by the time we
  connect (DNS rebinding) gains nothing; it never goes through a proxy, which would resolve the
  name itself. Redirects are not followed by requests: the caller checks every hop again.

The base origin is the operator's choice and is trusted as configured (it may be a private
address: a self-hosted OpenAI-compatible server); its requests use a plain adapter.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, LocationParseError, NameResolutionError, NewConnectionError
from urllib3.util import parse_url

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
Resolver = Callable[[str, int], list[str]]


class Refused(Exception):
    """A URL or an address we do not connect to (the vendor named it; the message is ours)."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of an absolute http(s) URL, parsed as requests will parse it (urllib3)."""
        if any(c.isspace() or c == "\\" or ord(c) < 0x20 for c in url):
            raise Refused("the URL has characters a URL does not have")
        try:
            parts = parse_url(url)
        except LocationParseError:
            raise Refused("the URL cannot be parsed") from None
        scheme = (parts.scheme or "").lower()
        if scheme not in DEFAULT_PORTS or not parts.host:
            raise Refused("not an absolute http(s) URL")
        if parts.auth:
            raise Refused("the URL carries credentials")
        host = parts.host.lower().rstrip(".").strip("[]")
        return cls(scheme, host, parts.port or DEFAULT_PORTS[scheme])


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """``host`` is one of ``patterns``: an exact name, or ``*.suffix`` for any name under it."""
    for pattern in patterns:
        pattern = pattern.strip().lower().rstrip(".")
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
            return True
        if pattern and not pattern.startswith("*") and host == pattern:
            return True
    return False


@dataclass(frozen=True)
class HostPolicy:
    """One vendor's rules: its own origin (keys, trusted) and the hosts its results may come from."""

    base_url: str
    origin: Origin
    result_hosts: tuple[str, ...] = ()

    @classmethod
    def for_vendor(cls, base_url: str, result_hosts: Iterable[str] = ()) -> HostPolicy:
        base_url = base_url.rstrip("/")
        return cls(base_url, Origin.of(base_url), tuple(h for h in result_hosts if h.strip()))

    @property
    def loopback(self) -> bool:
        return self.origin.host in LOOPBACK_NAMES

    def is_own(self, url: str) -> bool:
        """Whether ``url`` is on the vendor's own origin (the only place its key may go)."""
        try:
            return Origin.of(url) == self.origin
        except Refused:
            return False

    def check_result_url(self, url: str) -> Origin:
        """The origin of ``url`` if a result may be downloaded from it; else ``Refused``."""
        origin = Origin.of(url)
        if origin == self.origin:
            if origin.scheme == "https" or self.loopback:
                return origin
            raise Refused("plain http results only from a loopback base URL")
        if origin.scheme != "https":
            raise Refused("results come over https")
        if origin.port != DEFAULT_PORTS["https"]:
            raise Refused("results come from the default https port")
        if not host_matches(origin.host, self.result_hosts):
            raise Refused("the host is not on this provider's result allowlist")
        return origin

    def mount_prefix(self) -> str:
        """The own origin as URLs built on the base URL start (the trailing slash ends the authority)."""
        parts = parse_url(self.base_url)
        return f"{parts.scheme}://{parts.netloc}/"


def is_public(address: str) -> bool:
    """A global unicast address: not private, loopback, link-local, shared, reserved or multicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AddressGuard:
    """Resolves a host once and approves it only if every address it resolves to is allowed."""

    resolve: Resolver = system_resolve
    allowed: Callable[[str], bool] = is_public

    def addresses(self, host: str, port: int) -> list[str]:
        addresses = self.resolve(host, port)  # socket.gaierror goes up: a name that does not resolve
        if not addresses or not all(self.allowed(a) for a in addresses):
            raise Refused(f"{host} resolves to an address we do not connect to")
        return addresses


class _Checked:
    """urllib3 connection mixin: connect to the guard's checked addresses, not a fresh lookup."""

    guard: AddressGuard
    _dns_host: str
    port: int

    def _new_conn(self) -> socket.socket:
        host = self._dns_host
        try:
            addresses = self.guard.addresses(host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(host, self, exc) from exc  # type: ignore[arg-type]
        failure: Exception = Refused(f"{host} has no address")
        try:
            for address in addresses:
                self._dns_host = address  # TLS still verifies (and sends SNI for) ``host``
                try:
                    return super()._new_conn()  # type: ignore[misc, no-any-return]
                except (NewConnectionError, ConnectTimeoutError) as exc:
                    failure = exc
        finally:
            self._dns_host = host
        raise failure


def _pool_classes(guard: AddressGuard) -> dict[str, type[HTTPConnectionPool]]:
    http = type("GuardedHTTPConnection", (_Checked, HTTPConnection), {"guard": guard})
    https = type("GuardedHTTPSConnection", (_Checked, HTTPSConnection), {"guard": guard})
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
    }


class GuardedAdapter(HTTPAdapter):
    """A requests transport that connects only to addresses ``guard`` approved, never via a proxy."""

    def __init__(self, guard: AddressGuard | None = None) -> None:
        self.guard = guard or AddressGuard()
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.guard)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["proxies"] = {}  # a proxy would resolve the name itself: the address we checked is the one we use
        return super().send(request, *args, **kwargs)


def vendor_session(hosts: HostPolicy, guard: AddressGuard | None = None) -> requests.Session:
    """One vendor's HTTP session: its own origin through a plain adapter (and the environment's
    proxy, if any, read once here rather than on every call), everything else guarded."""
    session = requests.Session()
    session.trust_env = False  # no scan of os.environ per request (a third of a millisecond each)
    session.proxies.update(requests.utils.get_environ_proxies(hosts.base_url))
    guarded = GuardedAdapter(guard)
    session.mount("http://", guarded)
    session.mount("https://", guarded)
    session.mount(hosts.mount_prefix(), HTTPAdapter())
    return session
