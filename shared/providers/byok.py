"""Bring your own key: a signed-in user's own provider keys, for that user's calls only.

When the caller stored a key for a provider that can serve the mode, the router calls THAT
provider with THAT key and nothing else: no platform key, no other provider, no failover. A
failure caused by the key (rejected, out of credit, rate limited) is reported as the user's
key's failure. Which provider: the one the caller asked for if they hold a key for it, else the
first of the mode's route (``ROUTE_<MODE>`` if set, else every vendor) they hold a key for.
A caller with no key that fits the mode is routed as everyone else.

The adapter is a clone of the vendor's platform instance (or of a keyless one built on first
use, for vendors the platform has no key for) with a one-key pool; it shares the HTTP session.
BYOK calls skip our price check (the user pays the vendor), the per-provider throttle and the
shared circuit breaker (the user's key says nothing about the platform's), and cost 0 units.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping

from shared.domain import Mode
from shared.providers.base import ErrorKind, Provider, ProviderError

_MESSAGES = {
    ErrorKind.AUTH: "{provider} rejected your own API key. Check or replace it in your account.",
    ErrorKind.QUOTA: "Your own {provider} API key is out of credit or quota. Top it up with {provider} or remove it.",
    ErrorKind.RATE_LIMITED: "{provider} is rate limiting your own API key. Please try again later.",
}
UNREADABLE = "Your stored {provider} API key could not be read. Please store it again."


def user_key_failure(exc: ProviderError) -> tuple[str, str] | None:
    """(error_type, message) when ``exc`` is the caller's own key failing, else None."""
    if not exc.user_key or exc.kind not in _MESSAGES:
        return None
    error_type = "user_key_rate_limited" if exc.kind is ErrorKind.RATE_LIMITED else "user_key_rejected"
    return error_type, _MESSAGES[exc.kind].format(provider=exc.provider or "The provider")


def tagged(chunks: Iterator[str]) -> Iterator[str]:
    """A user-key stream whose errors say they came from the user's key."""
    try:
        yield from chunks
    except ProviderError as exc:
        exc.user_key = True
        raise


class UserKeyProviders:
    def __init__(self, template: Callable[[str], Provider | None], orders: Mapping[Mode, list[str]]) -> None:
        """``template(vendor)``: an adapter of that vendor to clone (None: not a vendor);
        ``orders``: the vendors to consider per mode, in order."""
        self._template = template
        self._templates: dict[str, Provider | None] = {}
        self._lock = threading.Lock()
        self.orders = {mode: list(names) for mode, names in orders.items()}

    def template(self, vendor: str) -> Provider | None:
        with self._lock:
            if vendor not in self._templates:
                self._templates[vendor] = self._template(vendor)
            return self._templates[vendor]

    def pick(self, mode: Mode, keys: Mapping[str, str], preferred: str | None = None) -> Provider | None:
        """The one adapter to call with the caller's key, or None (route as everyone else)."""
        names = [preferred] if preferred else self.orders.get(mode, [])
        for name in names:
            if name not in keys:
                continue
            template = self.template(name)
            with_keys = getattr(template, "with_keys", None)
            if template is not None and mode in template.modes and with_keys is not None:
                return with_keys([keys[name]])
        return None

    def check(self, vendor: str, key: str) -> ErrorKind | None:
        """What the vendor says of ``key`` (None: accepted; ``VendorProvider.check_key``).
        ``BAD_REQUEST`` for a name that is no vendor taking users' keys."""
        template = self.template(vendor)
        with_keys = getattr(template, "with_keys", None)
        if template is None or with_keys is None:
            return ErrorKind.BAD_REQUEST
        return with_keys([key]).check_key()

    @property
    def vendors(self) -> list[str]:
        """Every vendor a user may store a key for (in route order)."""
        seen: dict[str, None] = {}
        for names in self.orders.values():
            seen.update(dict.fromkeys(names))
        return [name for name in seen if self.template(name) is not None]
