"""What every real vendor adapter has in common: configuration, models per mode, task ids, SSE."""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import requests

from shared.clock import Clock
from shared.domain import Mode
from shared.providers.base import ErrorKind, Provider, ProviderError, TaskContext, TextOutput, TextRequest
from shared.providers.keys import KeyPool
from shared.providers.safe_fetch import HostPolicy
from shared.providers.vendor_http import HttpPolicy, VendorHttp, fail

T = TypeVar("T")


@dataclass(frozen=True)
class VendorConfig:
    """One vendor's settings: where it is, its keys, the model id per mode ('' = not offered),
    and the hosts besides its own that its results may be downloaded from."""

    base_url: str
    keys: list[str]
    models: dict[Mode, str]
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    poll_seconds: float = 5.0
    max_task_seconds: float = 900.0
    result_hosts: tuple[str, ...] = ()

    @property
    def hosts(self) -> HostPolicy:
        return HostPolicy.for_vendor(self.base_url, self.result_hosts)


class VendorProvider(Provider):
    supported: frozenset[Mode] = frozenset()
    paid = True
    key_check_path = "/models"  # a cheap authenticated GET that bills nothing (listing models): check_key

    def __init__(self, config: VendorConfig, clock: Clock, session: requests.Session) -> None:
        """``session``: this vendor's transport (``safe_fetch.vendor_session``), shared by its clones."""
        self.config = config
        self.models = {m: v for m, v in config.models.items() if v and m in self.supported}
        self.modes = frozenset(self.models)
        keys = KeyPool(self.name, config.keys, clock)
        self.http = VendorHttp(self.name, config.hosts, session, keys, self.auth, self.classify, clock, config.policy)

    def with_keys(self, keys: list[str]) -> VendorProvider:
        """This adapter calling with ``keys`` only (a user's own key): same session and settings."""
        clone = copy.copy(self)
        clone.http = self.http.with_keys(KeyPool(self.name, keys, self.http.clock))
        return clone

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def check_key(self) -> ErrorKind | None:
        """Whether the vendor takes this adapter's first key (a user's, on a ``with_keys`` clone):
        None, or what it said (AUTH: rejected, QUOTA: out of credit). One cheap call; a vendor that
        cannot tell now raises (UNAVAILABLE). A rate-limited key is a valid key."""
        try:
            self.http.request("GET", self.key_check_path, key_index=0).response.close()
        except ProviderError as exc:
            if exc.kind in (ErrorKind.AUTH, ErrorKind.QUOTA):
                return exc.kind
            if exc.kind is not ErrorKind.RATE_LIMITED:
                raise
        return None

    def classify(self, response: requests.Response) -> ProviderError:
        raise NotImplementedError

    def model_for(self, mode: Mode) -> str:
        return self.models.get(mode, "")

    def model(self, mode: Mode) -> str:
        model = self.models.get(mode)
        if not model:
            raise fail(ErrorKind.BAD_REQUEST, self.name, message=f"This provider does not offer {mode.value}.")
        return model

    def complete(self, request: TextRequest) -> TextOutput:
        self.model(Mode.TEXT)
        raise NotImplementedError

    def stream(self, request: TextRequest) -> Iterator[str]:
        self.model(Mode.TEXT)
        raise NotImplementedError

    def poll(self, context: TaskContext, check: Callable[[], T | None]) -> T:
        """Call ``check`` until it returns the result, sleeping ``poll_seconds`` between calls."""
        waited = 0.0
        while True:
            result = check()
            if result is not None:
                return result
            if waited >= self.config.max_task_seconds:
                raise fail(ErrorKind.UNAVAILABLE, self.name, message="The provider did not finish in time.")
            context.sleep(self.config.poll_seconds)
            waited += self.config.poll_seconds


def pack_task(key_index: int, task_id: str) -> str:
    """The saved vendor task names the key that created it (tasks belong to an account)."""
    return f"{key_index}:{task_id}"


def unpack_task(saved: str) -> tuple[int, str]:
    index, _, task_id = saved.partition(":")
    if not index.isdigit() or not task_id:
        return 0, saved
    return int(index), task_id


def decode_base64(value: object, provider: str) -> bytes:
    """Inline result bytes; text that is not base64 is the vendor's fault (``BAD_OUTPUT``)."""
    try:
        return base64.b64decode(str(value))
    except (binascii.Error, ValueError):
        raise fail(ErrorKind.BAD_OUTPUT, provider, message="The provider's inline result is not base64.") from None


def sse_data(response: requests.Response, provider: str) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent event stream; a broken stream raises."""
    try:
        for raw in response.iter_lines(decode_unicode=False):
            line = raw.decode("utf-8", "replace").rstrip("\r")
            if line.startswith("data:"):
                yield line[5:].strip()
    except (requests.RequestException, OSError):
        raise fail(ErrorKind.UNAVAILABLE, provider, message="The provider's stream broke midway.") from None
    finally:
        response.close()
