"""Admission: abuse blocks, per-tier token buckets (halved under load), queue depth.

Every answer gets ``RateLimit-Policy`` / ``RateLimit`` headers (IETF httpapi draft syntax);
every refusal is an ``AppError`` with ``retry_after`` and a human message that says when to
retry and what raises the limit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared import errors
from shared.clock import Clock
from shared.domain import Caller
from shared.ratelimit.abuse import AbuseRule
from shared.ratelimit.bucket import WINDOW, Decision, Policy
from shared.ratelimit.load import LoadMonitor, LoadSnapshot
from shared.stores.base import LimiterStore

Bucket = Literal["media", "text"]
_UPGRADE = {
    "anonymous": " Signing in or donating raises the limit.",
    "registered": " Donors get a higher limit.",
}


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    name = decision.policy.name
    return {
        "RateLimit-Policy": f'"{name}";q={decision.policy.limit};w={int(WINDOW)}',
        "RateLimit": f'"{name}";r={decision.remaining};t={math.ceil(decision.reset_after)}',
    }


def _empty(policy: Policy, wait: int) -> dict[str, str]:
    """Headers for a refusal decided before the bucket was consulted: nothing left for ``wait``."""
    return {
        "RateLimit-Policy": f'"{policy.name}";q={policy.limit};w={int(WINDOW)}',
        "RateLimit": f'"{policy.name}";r=0;t={wait}',
    }


def _seconds(value: float) -> int:
    return max(int(math.ceil(value)), 1)


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def bucket_owner(caller: Caller) -> str:
    """Whose bucket a request draws from: a signed-in user's own, else its network address's.

    An anonymous caller's ``key`` (its Firebase anonymous uid) only owns jobs: a new cookie, or a
    new anonymous account, must not buy a new bucket or a new grace allowance.
    """
    if caller.user_id is None or caller.tier == "anonymous":
        return f"ip:{caller.ip}"
    return caller.key


@dataclass(frozen=True)
class LimiterConfig:
    tier_limits: Mapping[str, int]
    text_tier_limits: Mapping[str, int]
    grace: int
    load_threshold: float
    max_queue_depth: int
    abuse: AbuseRule


class Limiter:
    def __init__(
        self,
        store: LimiterStore,
        load: LoadMonitor,
        clock: Clock,
        config: LimiterConfig,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.load = load
        self.clock = clock
        self.config = config
        self.rng = rng or random.Random()

    def policy(self, caller: Caller, bucket: Bucket, load: float) -> tuple[Policy, bool]:
        if bucket == "media":
            limit = caller.limit_override or self.config.tier_limits.get(caller.tier, 1)
            name = caller.tier
        else:
            limit = caller.text_limit_override or self.config.text_tier_limits.get(caller.tier, 1)
            name = f"text-{caller.tier}"
        halved = load > self.config.load_threshold
        if halved:
            limit = max(limit // 2, 1)
        return Policy(name, limit, self.config.grace), halved

    def admit(self, caller: Caller, bucket: Bucket, enqueue: bool = False) -> dict[str, str]:
        """Admit one request or raise; returns the RateLimit headers for the answer.

        Order: an address block, then (for job submits) the queue depth, then the bucket; so a
        request refused as blocked or busy spends no token, and one the bucket admits always
        becomes a job.
        """
        now = self.clock.now()
        snapshot = self.load.snapshot()
        policy, halved = self.policy(caller, bucket, snapshot.load)
        key = f"{bucket}:{bucket_owner(caller)}"
        blocked = self.store.blocked_until(caller.ip, now, key)  # Firestore: one read for both
        if blocked is not None:
            wait = _seconds(blocked - now)
            raise errors.AbuseBlocked(
                f"Too many refused requests came from your address, so it is blocked for "
                f"{_duration(wait)}. Please slow down and try again later.",
                retry_after=wait,
                headers=_empty(policy, wait),
            )
        if enqueue:
            self._check_queue(snapshot, policy)
        decision = self.store.acquire(key, now, policy)
        headers = rate_limit_headers(decision)
        if decision.allowed:
            return headers
        wait = _seconds(decision.retry_after)
        block_end = self.store.record_refusal(caller.ip, now, self.config.abuse)
        if block_end is not None:
            wait = _seconds(block_end - now)
            raise errors.AbuseBlocked(
                f"Too many refused requests came from your address, so it is blocked for {_duration(wait)}.",
                retry_after=wait,
                headers=headers,
            )
        what = "generations" if bucket == "media" else "text requests"
        busy = " Limits are halved while the service is busy." if halved else ""
        message = (
            f"You have used your {policy.limit} {what} per minute as a {caller.tier} user. "
            f"Try again in {_duration(wait)}.{busy}{_UPGRADE.get(caller.tier, '')}"
        )
        raise errors.RateLimited(message, retry_after=wait, headers=headers)

    def _check_queue(self, snapshot: LoadSnapshot, policy: Policy) -> None:
        """Refuse with 503 only when the queue is past its maximum depth."""
        depth = self.config.max_queue_depth
        if snapshot.queued < depth:
            return
        overflow = snapshot.queued / depth
        base = 5 * 2 ** (4 * snapshot.load) * overflow
        wait = _seconds(min(base, 300) * (1 + 0.5 * self.rng.random()))
        raise errors.ServerBusy(
            f"The queue is full right now ({snapshot.queued} jobs waiting). Please try again in {_duration(wait)}.",
            retry_after=wait,
            headers=_empty(policy, wait),
        )
