"""Token-bucket math as a pure function of (state, now, policy). No clock, no I/O.

The bucket is kept in its GCRA form (one number, the "theoretical arrival time" ``tat``),
which is exactly a token bucket of capacity ``limit`` refilled at ``limit / 60`` per second:
with ``T = 60 / limit`` seconds per token, the tokens left at ``now`` are
``(now + 60 - max(tat, now)) / T``. A request is admitted when one whole token is left,
and then ``tat`` moves ``T`` forward. Halving the limit doubles ``T``; the 60-second window
stays, so a state written under one limit stays meaningful under another.

Grace: a caller's first ``grace`` requests ever are admitted whatever the bucket says and
do not draw from it.

Time never runs backwards for a bucket: ``seen`` is the latest ``now`` it was decided at, and
a request that read the clock a moment before another one committed is decided at ``seen``.
Without that, concurrent callers (threads, processes, instances with skewed clocks) would be
refused spuriously when their earlier clock reading meets a later ``tat``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WINDOW = 60.0
EPSILON = 1e-9


@dataclass(frozen=True)
class BucketState:
    tat: float = 0.0
    grace_used: int = 0
    seen: float = 0.0


@dataclass(frozen=True)
class Policy:
    name: str
    limit: int  # requests per WINDOW, already adjusted for load
    grace: int = 5

    @property
    def interval(self) -> float:
        return WINDOW / max(self.limit, 1)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: Policy
    remaining: int
    reset_after: float  # seconds until the bucket is full again
    retry_after: float  # seconds until one token is back (0 when allowed)
    grace: bool = False


def tokens_left(tat: float, now: float, interval: float) -> float:
    return (now + WINDOW - max(tat, now)) / interval


def _summary(tat: float, now: float, policy: Policy) -> tuple[int, float, float]:
    interval = policy.interval
    remaining = max(int(math.floor(tokens_left(tat, now, interval) + EPSILON)), 0)
    reset_after = max(tat - now, 0.0)
    retry_after = 0.0 if remaining >= 1 else max(tat - now - WINDOW + interval, 0.0)
    return min(remaining, policy.limit), reset_after, retry_after


def decide(state: BucketState | None, now: float, policy: Policy) -> tuple[Decision, BucketState]:
    state = state or BucketState()
    now = max(now, state.seen)
    if state.grace_used < policy.grace:
        remaining, reset_after, _ = _summary(state.tat, now, policy)
        decision = Decision(True, policy, remaining, reset_after, 0.0, grace=True)
        return decision, BucketState(state.tat, state.grace_used + 1, now)
    tat = max(state.tat, now)
    new_tat = tat + policy.interval
    if new_tat - now <= WINDOW + EPSILON:
        remaining, reset_after, _ = _summary(new_tat, now, policy)
        return Decision(True, policy, remaining, reset_after, 0.0), BucketState(new_tat, state.grace_used, now)
    remaining, reset_after, retry_after = _summary(tat, now, policy)
    return Decision(False, policy, 0, reset_after, retry_after), state
