"""The HTTP side every vendor adapter shares: one session, timeouts, key rotation, retries.

``VendorHttp.request`` picks a key, sends, and maps a failed answer through the adapter's
classifier. Rate limits and quota errors rest the key and rotate to the next one; 5xx and
timeouts are retried with exponential backoff and full jitter, honouring ``Retry-After``.
A wait longer than ``max_wait`` is not taken: the error goes up so the router can fail over.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from shared.clock import Clock
from shared.providers.base import ErrorKind, ProviderError
from shared.providers.keys import KeyPool

log = logging.getLogger("gateway.providers")

MESSAGES = {
    ErrorKind.MODERATION: "The provider refused this request under its content policy.",
    ErrorKind.BAD_REQUEST: "The provider could not process this request.",
    ErrorKind.AUTH: "The provider rejected the API key.",
    ErrorKind.QUOTA: "The provider account is out of credits or quota.",
    ErrorKind.RATE_LIMITED: "The provider is rate limiting us.",
    ErrorKind.UNAVAILABLE: "The provider is unavailable.",
}

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


@dataclass(frozen=True)
class Reply:
    response: requests.Response
    key_index: int


class VendorHttp:
    def __init__(
        self,
        provider: str,
        base_url: str,
        keys: KeyPool,
        auth: Auth,
        classify: Classifier,
        clock: Clock,
        policy: HttpPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.keys = keys
        self.auth = auth
        self.classify = classify
        self.clock = clock
        self.policy = policy or HttpPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.session = requests.Session()
        # Proxies come from settings, not from a scan of os.environ on every call (which
        # costs a third of a millisecond per request); HTTPS_PROXY is honoured when set.
        self.session.trust_env = False
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))

    def with_keys(self, keys: KeyPool) -> VendorHttp:
        """The same vendor, session and policy, sending ``keys`` instead (a user's own key)."""
        clone = copy.copy(self)
        clone.keys = keys
        return clone

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.policy.connect_timeout, self.policy.read_timeout)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def backoff(self, attempt: int, hint: float | None) -> float:
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2**attempt)
        return max(self.rng.uniform(0, ceiling), hint or 0.0)

    def request(self, method: str, path: str, *, key_index: int | None = None, **kwargs: Any) -> Reply:
        """Send with a rotating key (or the pinned ``key_index``); retry what can be retried."""
        headers = kwargs.pop("headers", {})
        attempt = 0
        rotations = 0
        while True:
            index, secret = self._key(key_index, attempt)
            try:
                response = self.session.request(
                    method, self.url(path), headers={**headers, **self.auth(secret)}, timeout=self.timeout, **kwargs
                )
            except (requests.Timeout, requests.ConnectionError):
                error = fail(ErrorKind.UNAVAILABLE, self.provider, message="The provider did not answer in time.")
            else:
                if response.status_code < 400:
                    return Reply(response, index)
                error = self.classify(response)
                error.provider = self.provider
                response.close()
            log.warning(
                "provider call failed",
                extra={"fields": {"provider": self.provider, "key": f"key#{index}", "kind": error.kind.value}},
            )
            if error.kind in (ErrorKind.RATE_LIMITED, ErrorKind.QUOTA, ErrorKind.AUTH) and key_index is None:
                rest = self.policy.rate_rest_seconds if error.kind is ErrorKind.RATE_LIMITED else None
                self.keys.rest(index, error.retry_after or rest or self.policy.quota_rest_seconds, error.kind)
                rotations += 1
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

    def _key(self, pinned: int | None, attempt: int) -> tuple[int, str]:
        if pinned is None:
            return self.keys.acquire()
        secret = self.keys.key_at(pinned)
        if secret is None:
            raise fail(ErrorKind.AUTH, self.provider, message="The API key that started this task is gone.")
        return pinned, secret

    def download(self, url: str, *, key_index: int | None = None, max_bytes: int = 512 * 1024 * 1024) -> bytes:
        """Fetch result bytes now (vendor URLs expire). With ``key_index`` the key is sent too."""
        if key_index is not None:
            return self._read(self.request("GET", url, key_index=key_index, stream=True).response, max_bytes)
        attempt = 0
        while True:
            try:
                response = self.session.get(url, timeout=self.timeout, stream=True)
            except (requests.Timeout, requests.ConnectionError):
                response = None
            if response is not None and response.status_code < 400:
                return self._read(response, max_bytes)
            if response is not None and response.status_code < 500:
                response.close()
                raise fail(ErrorKind.UNAVAILABLE, self.provider, message="The provider's result link has expired.")
            if attempt >= self.policy.max_retries:
                raise fail(ErrorKind.UNAVAILABLE, self.provider, message="The provider's result could not be fetched.")
            self.clock.sleep(self.backoff(attempt, None))
            attempt += 1

    def _read(self, response: requests.Response, max_bytes: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise fail(ErrorKind.UNAVAILABLE, self.provider, message="The provider's result is too large.")
                chunks.append(chunk)
        except (requests.RequestException, OSError):
            raise fail(ErrorKind.UNAVAILABLE, self.provider, message="The result download broke midway.") from None
        finally:
            response.close()
        return b"".join(chunks)
