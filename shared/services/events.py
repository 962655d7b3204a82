"""Page views and conversion events from the site (``POST /api/v1/events``).

Rate-limited per network address by a token bucket held in this instance's memory
(``EVENTS_PER_MINUTE``): no store operation per event, at the price of each instance having its
own bucket. Nothing here stores the address: the analytics use case keeps an HMAC of it with the
User-Agent and the day, only to count distinct visitors.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

from shared import errors
from shared.clock import Clock
from shared.domain import Caller
from shared.ratelimit.bucket import BucketState, Policy, decide
from shared.services.analytics import AnalyticsService

ADDRESSES = 10_000  # buckets kept per instance (the least recently used go first)


class SiteEvents:
    def __init__(self, analytics: AnalyticsService, clock: Clock, per_minute: int) -> None:
        self.analytics = analytics
        self.clock = clock
        self.policy = Policy("events", per_minute, grace=0)
        self._buckets: OrderedDict[str, BucketState] = OrderedDict()
        self._lock = threading.Lock()

    def _admit(self, address: str) -> None:
        now = self.clock.now()
        with self._lock:
            decision, state = decide(self._buckets.get(address), now, self.policy)
            self._buckets[address] = state
            self._buckets.move_to_end(address)
            while len(self._buckets) > ADDRESSES:
                self._buckets.popitem(last=False)
        if not decision.allowed:
            wait = max(math.ceil(decision.retry_after), 1)
            message = f"Too many events from your address. Try again in {wait} seconds."
            raise errors.RateLimited(message, retry_after=wait)

    def record(self, kind: str, page: str, caller: Caller, user_agent: str) -> None:
        self._admit(caller.ip)
        self.analytics.event(kind, page, caller, f"{caller.ip}|{user_agent[:256]}")
