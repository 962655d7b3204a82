"""The HTTP side every vendor adapter shares: one session, timeouts, key rotation, retries.

``VendorHttp.request`` picks a key, sends to the vendor's own origin (and nowhere else: that is
where its key may go), and maps a failed answer through the adapter's classifier. Rate limits
and quota errors rest the key and rotate to the next one; 5xx and timeouts are retried with
exponential backoff and full jitter, honouring ``Retry-After``. A wait longer than ``max_wait``
is not taken: the error goes up so the router can fail over. Redirects are never followed.

``VendorHttp.download`` fetches a result the vendor names, under ``safe_fetch``'s rules: https
from an allowlisted host (or the vendor's own origin), every redirect hop checked again, the key
only on the own origin, the body cut off past ``max_result_bytes`` while it streams. A link the
rules refuse, or a body too large, is ``BAD_OUTPUT``: not retried, not failed over.
``VendorHttp.download_file`` streams it into a temporary file instead (in memory only while it is
under ``SPOOL_BYTES``), so a large video is never held whole.

The session is injected (``safe_fetch.vendor_session`` builds one per vendor; tests may mount
their own transport on it).
"""

from __future__ import annotations

import copy
import json
import logging
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import IO, Any
from urllib.parse import urljoin

import requests

from shared.clock import Clock
from shared.providers.base import ErrorKind, ProviderError
from shared.providers.keys import KeyPool
from shared.providers.origin import OriginTransport
from shared.providers.safe_fetch import HostPolicy, Refused

log = logging.getLogger("gateway.providers")

MESSAGES = {
    ErrorKind.MODERATION: "The provider refused this request under its content policy.",
    ErrorKind.BAD_REQUEST: "The provider could not process this request.",
    ErrorKind.AUTH: "The provider rejected the API key.",
    ErrorKind.QUOTA: "The provider account is out of credits or quota.",
    ErrorKind.RATE_LIMITED: "The provider is rate limiting us.",
    ErrorKind.UNAVAILABLE: "The provider is unavailable.",
    ErrorKind.BAD_OUTPUT: "The provider answered with something other than the result it claimed.",
}
MAX_REDIRECTS = 3
_BODY_ARGUMENTS = frozenset({"files", "data", "json", "stream"})
SPOOL_BYTES = 1024 * 1024  # a downloaded result larger than this goes to a temporary file, not memory

Classifier = Callable[[requests.Response], ProviderError]
Auth = Callable[[str], dict[str, str]]


def fail(kind: ErrorKind, provider: str, retry_after: float | None = None, message: str | None = None) -> ProviderError:
    """A ``ProviderError`` in our words (never the vendor's)."""
    return ProviderError(kind, message or MESSAGES[kind], retry_after=retry_after, provider=provider)


def kind_for_status(status: int) -> ErrorKind:
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 402:
        return ErrorKind.QUOTA
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status in (408, 409) or status >= 500:
        return ErrorKind.UNAVAILABLE
    return ErrorKind.BAD_REQUEST


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date = response.headers.get("Date")
    now = parsedate_to_datetime(date) if date else None
    return max((when - now).total_seconds(), 0.0) if now else None


def json_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class HttpPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 120.0
    max_retries: int = 2
    backoff_base: float = 1.0
    backoff_max: float = 16.0
    max_wait: float = 20.0
    rate_rest_seconds: float = 60.0
    quota_rest_seconds: float = 3600.0
    max_result_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class Reply:
    response: requests.Response
    key_index: int


class VendorHttp:
    def __init__(
        self,
        provider: str,
        hosts: HostPolicy,
        session: requests.Session,
        keys: KeyPool,
        auth: Auth,
        classify: Classifier,
        clock: Clock,
        policy: HttpPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.hosts = hosts
        self.base_url = hosts.base_url
        self.session = session
        self.origin = OriginTransport(session)
        self.keys = keys
        self.auth = auth
        self.classify = classify
        self.clock = clock
        self.policy = policy or HttpPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def with_keys(self, keys: KeyPool) -> VendorHttp:
        """The same vendor, session and policy, sending ``keys`` instead (a user's own key)."""
        clone = copy.copy(self)
        clone.keys = keys
        return clone

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.policy.connect_timeout, self.policy.read_timeout)

    def url(self, path: str) -> str:
        """``path`` ("/...") on the base URL, or an absolute URL on the vendor's own origin: these
        requests carry the key, so nothing else is accepted."""
        if path.startswith("/"):
            return f"{self.base_url}{path}"  # the base URL's authority, then a path: its own origin
        if not self.hosts.is_own(path):
            raise fail(ErrorKind.BAD_OUTPUT, self.provider, message="The provider named a URL off its own host.")
        return path

    def backoff(self, attempt: int, hint: float | None) -> float:
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2**attempt)
        return max(self.rng.uniform(0, ceiling), hint or 0.0)

    def request(self, method: str, path: str, *, key_index: int | None = None, **kwargs: Any) -> Reply:
        """Send with a rotating key (or the pinned ``key_index``); retry what can be retried."""
        url = self.url(path)
        headers = kwargs.pop("headers", {})
        attempt = 0
        while True:
            index, secret = self._key(key_index, attempt)
            answer = self._send(method, url, {**headers, **self.auth(secret)}, kwargs)
            if isinstance(answer, requests.Response):
                return Reply(answer, index)
            error = answer
            log.warning(
                "provider call failed",
                extra={"fields": {"provider": self.provider, "key": f"key#{index}", "kind": error.kind.value}},
            )
            if error.kind in (ErrorKind.RATE_LIMITED, ErrorKind.QUOTA, ErrorKind.AUTH) and key_index is None:
                rest = self.policy.rate_rest_seconds if error.kind is ErrorKind.RATE_LIMITED else None
                self.keys.rest(index, error.retry_after or rest or self.policy.quota_rest_seconds, error.kind)
                if self.keys.available() > 0:
                    continue
                if error.kind is not ErrorKind.RATE_LIMITED:
                    raise error
            retryable = error.kind in (ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED)
            if not retryable or attempt >= self.policy.max_retries:
                raise error
            delay = self.backoff(attempt, error.retry_after)
            if delay > self.policy.max_wait:
                raise error
            self.clock.sleep(delay)
            attempt += 1

    def _send(
        self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> requests.Response | ProviderError:
        """One call: the answer if it succeeded, else the error it maps to."""
        try:
            response = self._transmit(method, url, headers, kwargs)
        except (requests.Timeout, requests.ConnectionError):
            return fail(ErrorKind.UNAVAILABLE, self.provider, message="The provider did not answer in time.")
        if response.is_redirect:  # followed, it would take the key (and the call) to another host
            response.close()
            return fail(ErrorKind.UNAVAILABLE, self.provider, message="The provider redirected the call elsewhere.")
        if response.status_code < 400:
            return response
        error = self.classify(response)
        error.provider = self.provider
        response.close()
        return error

    def _transmit(self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]) -> requests.Response:
        """Send one call without ``Session.request``'s per-call work (merged environment and
        cookie settings, hooks, redirect resolution: nothing a vendor call uses).

        JSON and body-less calls to the own origin go through ``OriginTransport`` (requests' own
        pool, no adapter or cookie work); others (multipart, a proxy, a test's transport) are
        prepared and handed to the session's transport for ``url``.
        """
        unknown = kwargs.keys() - _BODY_ARGUMENTS
        if unknown:
            raise TypeError(f"unsupported request arguments: {sorted(unknown)}")
        stream = bool(kwargs.get("stream"))
        plain = kwargs.get("files") is None and kwargs.get("data") is None
        if plain and self.origin.usable(url):
            body = kwargs.get("json")
            if body is not None:
                headers = {**headers, "Content-Type": "application/json"}
            data = None if body is None else json.dumps(body, allow_nan=False).encode("utf-8")
            return self.origin.send(method, url, headers, data, self.timeout, stream)
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method,
            url=url,
            headers={**self.session.headers, **headers},
            files=kwargs.get("files"),
            data=kwargs.get("data"),
            json=kwargs.get("json"),
        )
        session = self.session
        response = session.get_adapter(url).send(
            prepared,
            stream=stream,
            timeout=self.timeout,
            verify=session.verify,
            cert=session.cert,
            proxies=session.proxies,
        )
        if not stream:
            response.content  # noqa: B018 - read now, so the connection goes back to the pool
        return response

    def _key(self, pinned: int | None, attempt: int) -> tuple[int, str]:
        if pinned is None:
            return self.keys.acquire()
        secret = self.keys.key_at(pinned)
        if secret is None:
            raise fail(ErrorKind.AUTH, self.provider, message="The API key that started this task is gone.")
        return pinned, secret

    def download(self, url: str, *, key_index: int | None = None) -> bytes:
        """The result's bytes, in memory (``download_file`` for results that may be large)."""
        with self.download_file(url, key_index=key_index) as file:
            return file.read()

    def download_file(self, url: str, *, key_index: int | None = None) -> IO[bytes]:
        """Fetch a result now (vendor URLs expire) into a temporary file, returned at its start.
        With ``key_index`` the key that made the task goes along, to the vendor's own origin only."""
        attempt = 0
        while True:
            try:
                response: requests.Response | None = self._follow(url, key_index)
            except (requests.Timeout, requests.ConnectionError):
                response = None
            if response is not None and response.status_code < 400:
                return self.spool(response)
            if response is not None:
                response.close()
                if response.status_code < 500:
                    raise fail(ErrorKind.UNAVAILABLE, self.provider, message="The provider's result link has expired.")
            if attempt >= self.policy.max_retries:
                raise fail(ErrorKind.UNAVAILABLE, self.provider, message="The provider's result could not be fetched.")
            self.clock.sleep(self.backoff(attempt, None))
            attempt += 1

    def _follow(self, url: str, key_index: int | None) -> requests.Response:
        """GET ``url``, following redirects by hand: every hop is checked, the key goes to the own origin only."""
        for _ in range(MAX_REDIRECTS + 1):
            headers = self.auth(self._key(key_index, 0)[1]) if key_index is not None and self.hosts.is_own(url) else {}
            try:
                self.hosts.check_result_url(url)
                response = self.session.get(
                    url, headers=headers, timeout=self.timeout, stream=True, allow_redirects=False
                )
            except Refused:
                raise fail(
                    ErrorKind.BAD_OUTPUT,
                    self.provider,
                    message="The provider's result link points where we do not fetch.",
                ) from None
            if not response.is_redirect:
                return response
            url = urljoin(url, response.headers["Location"])
            response.close()
        raise fail(ErrorKind.BAD_OUTPUT, self.provider, message="The provider's result link redirects too many times.")

    def read(self, response: requests.Response) -> bytes:
        """The whole body in memory, refused past ``max_result_bytes``."""
        return b"".join(self._chunks(response))

    def spool(self, response: requests.Response) -> IO[bytes]:
        """The body in a temporary file (memory while small, then disk; deleted once closed), at its start."""
        file = tempfile.SpooledTemporaryFile(SPOOL_BYTES, prefix="result-")
        try:
            for chunk in self._chunks(response):
                file.write(chunk)
            file.seek(0)
        except BaseException:  # the vendor's fault, or ours (a full disk: the job fails on our side)
            file.close()
            response.close()
            raise
        return file

    def _chunks(self, response: requests.Response) -> Iterator[bytes]:
        """The body as it streams, refused past ``max_result_bytes`` (its Content-Length first)."""
        limit = self.policy.max_result_bytes
        too_large = fail(ErrorKind.BAD_OUTPUT, self.provider, message="The provider's result is larger than we accept.")
        size = 0
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise too_large
                yield chunk
        except (requests.RequestException, OSError):
            raise fail(ErrorKind.UNAVAILABLE, self.provider, message="The result download broke midway.") from None
        finally:
            response.close()
