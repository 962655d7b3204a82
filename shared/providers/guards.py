"""What stands between the router and a provider: a shared circuit breaker and a local throttle.

The breaker's state lives in the store so every instance sees the same thing. It costs one
read per attempt and a write only when something changes (a failure, or the first success
after failures). The throttle is per process: production's per-provider rate is the task
queue's own rate limit; this keeps our own bursts under the vendors' limits everywhere else.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.clock import Clock
from shared.providers.base import ErrorKind, ProviderError
from shared.stores.base import BreakerState, ProviderStateStore


@dataclass(frozen=True)
class BreakerPolicy:
    threshold: int = 5
    open_seconds: float = 30.0
    probe_seconds: float = 60.0
    cache_seconds: float = 5.0  # how long an instance trusts the states it read


class CircuitBreaker:
    def __init__(self, store: ProviderStateStore, clock: Clock, policy: BreakerPolicy | None = None) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy or BreakerPolicy()
        self._cached: tuple[float, dict[str, BreakerState]] | None = None

    def snapshot(self) -> dict[str, BreakerState]:
        """The shared states, re-read at most every ``cache_seconds`` (one read saved per job on
        Firestore); this instance's own failures and successes drop the cache at once."""
        now = self.clock.now()
        cached = self._cached
        if cached is not None and now - cached[0] < self.policy.cache_seconds:
            return cached[1]
        states = self.store.breakers()
        self._cached = (now, states)
        return states

    def states(self) -> dict[str, str]:
        now = self.clock.now()
        return {name: state.state(now) for name, state in self.snapshot().items()}

    def admit(self, provider: str, known: dict[str, BreakerState]) -> bool:
        """Whether to call ``provider`` now (half-open: only the one caller that wins the probe)."""
        state = known.get(provider)
        if state is None:
            return True
        now = self.clock.now()
        current = state.state(now)
        if current == "closed":
            return True
        if current == "open":
            return False
        return self.store.try_probe(provider, now, self.policy.probe_seconds)

    def failed(self, provider: str) -> None:
        self.store.record_failure(provider, self.clock.now(), self.policy.threshold, self.policy.open_seconds)
        self._cached = None

    def succeeded(self, provider: str, known: dict[str, BreakerState]) -> None:
        if provider in known:
            self.store.record_success(provider)
            self._cached = None


class Throttle:
    """At most ``per_minute`` starts in any 60 s and ``concurrent`` calls at once (0 = no rate cap).

    A caller waits (on the injected clock) for a rate slot up to ``max_wait``; past that it gets
    ``RATE_LIMITED`` with ``retry_after`` (when a slot frees) so the router tries the next provider
    instead, and a job no provider can take is deferred until then (``shared.jobs.runner``), never failed.
    """

    def __init__(self, provider: str, per_minute: int, concurrent: int, clock: Clock, max_wait: float) -> None:
        self.provider = provider
        self.per_minute = per_minute
        self.clock = clock
        self.max_wait = max_wait
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(concurrent, 1))
        self._concurrent_wait = max_wait

    def _reserve(self) -> float:
        """Reserve a start; return how long to wait first (0 = now)."""
        with self._lock:
            now = self.clock.now()
            while self._starts and self._starts[0] <= now - 60.0:
                self._starts.popleft()
            if not self.per_minute or len(self._starts) < self.per_minute:
                self._starts.append(now)
                return 0.0
            wait = self._starts[0] + 60.0 - now
            if wait > self.max_wait:
                raise ProviderError(
                    ErrorKind.RATE_LIMITED, "Our own request budget for this provider is spent.", retry_after=wait,
                    provider=self.provider,
                )  # fmt: skip
            self._starts.popleft()
            self._starts.append(now + wait)
            return wait

    @contextmanager
    def slot(self) -> Iterator[None]:
        wait = self._reserve()
        if wait:
            self.clock.sleep(wait)
        if not self._slots.acquire(timeout=self._concurrent_wait):
            raise ProviderError(
                ErrorKind.RATE_LIMITED, "Too many calls to this provider are in flight.", provider=self.provider,
                retry_after=max(self._concurrent_wait, 1.0),  # unknown: a call ends; a deferred job tries again then
            )  # fmt: skip
        try:
            yield
        finally:
            self._slots.release()
