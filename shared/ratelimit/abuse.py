"""Abuse blocks as a pure function: refusals inside a window earn a block that grows on repeat."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AbuseRule:
    refusals: int = 30  # refusals inside ``window`` that earn a block
    window: float = 60.0
    ladder: tuple[float, ...] = (60.0, 300.0, 1800.0)  # block lengths, growing on repeat
    forgive_after: float = 86400.0  # quiet time after a block that resets the ladder


@dataclass(frozen=True)
class AbuseState:
    window_start: float = 0.0
    refusals: int = 0
    level: int = 0
    blocked_until: float = 0.0


def record_refusal(state: AbuseState | None, now: float, rule: AbuseRule) -> AbuseState:
    state = state or AbuseState()
    window_start, refusals = state.window_start, state.refusals
    if now - window_start > rule.window:
        window_start, refusals = now, 0
    refusals += 1
    if refusals < rule.refusals:
        return AbuseState(window_start, refusals, state.level, state.blocked_until)
    level = state.level
    if state.blocked_until and now - state.blocked_until > rule.forgive_after:
        level = 0
    level += 1
    length = rule.ladder[min(level, len(rule.ladder)) - 1]
    return AbuseState(now, 0, level, now + length)
