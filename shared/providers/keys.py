"""Several API keys per provider: round-robin rotation with a cooldown per key.

A key that hit a rate limit rests for the vendor's ``Retry-After`` (or a default); a key out of
credits or rejected rests much longer. Keys are never logged: a key is named by its index.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from shared.clock import Clock
from shared.providers.base import ErrorKind, ProviderError


@dataclass
class _Slot:
    secret: str
    resting_until: float = 0.0
    reason: ErrorKind = ErrorKind.RATE_LIMITED


class KeyPool:
    def __init__(self, provider: str, keys: list[str], clock: Clock) -> None:
        self.provider = provider
        self.clock = clock
        self._slots = [_Slot(k) for k in dict.fromkeys(k.strip() for k in keys) if k]
        self._next = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._slots)

    def acquire(self) -> tuple[int, str]:
        """The next key that is not resting, as (index, secret)."""
        now = self.clock.now()
        with self._lock:
            if not self._slots:
                raise ProviderError(ErrorKind.AUTH, "No API key is configured.", provider=self.provider)
            for step in range(len(self._slots)):
                index = (self._next + step) % len(self._slots)
                if self._slots[index].resting_until <= now:
                    self._next = index + 1
                    return index, self._slots[index].secret
            soonest = min(self._slots, key=lambda s: s.resting_until)
        kind = soonest.reason
        message = "Every API key of this provider is resting after rate limits or quota errors."
        raise ProviderError(kind, message, retry_after=soonest.resting_until - now, provider=self.provider)

    def key_at(self, index: int) -> str | None:
        with self._lock:
            return self._slots[index].secret if 0 <= index < len(self._slots) else None

    def rest(self, index: int, seconds: float, reason: ErrorKind) -> None:
        with self._lock:
            if 0 <= index < len(self._slots):
                slot = self._slots[index]
                slot.resting_until = max(slot.resting_until, self.clock.now() + seconds)
                slot.reason = reason

    def available(self) -> int:
        now = self.clock.now()
        with self._lock:
            return sum(1 for s in self._slots if s.resting_until <= now)
