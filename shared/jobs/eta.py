"""Queue position to ETA, from a moving average of recent durations per mode."""

from __future__ import annotations

import threading
from collections.abc import Callable

from shared.domain import Mode

DEFAULT_SECONDS = {
    Mode.TEXT_TO_IMAGE: 4.0,
    Mode.IMAGE_TO_IMAGE: 4.0,
    Mode.TEXT_TO_VIDEO: 10.0,
    Mode.IMAGE_TO_VIDEO: 10.0,
    Mode.TEXT: 2.0,
}


def moving_average(durations: list[float], default: float) -> float:
    """Exponentially weighted, newest first: recent runs count most."""
    if not durations:
        return default
    weight, total, norm = 1.0, 0.0, 0.0
    for value in durations:
        total += value * weight
        norm += weight
        weight *= 0.8
    return total / norm


def queued_eta(position: int, average: float, concurrency: int) -> float:
    """Seconds until a job ``position`` places back is done: the rounds ahead of it plus its own."""
    rounds = position // max(concurrency, 1) + 1
    return round(rounds * average, 1)


def running_eta(started_at: float, now: float, average: float) -> float:
    return round(max(average - (now - started_at), 0.5), 1)


def poll_after(eta_seconds: float) -> float:
    """How long a client should wait before polling again: when the job should be done.

    Polling at the ETA rather than before it keeps a generation to a few store reads
    (Firestore's free tier counts them); the result still shows up within a poll of the ETA.
    """
    return round(min(max(eta_seconds, 1.0), 15.0), 1)


class DurationCache:
    """Per-instance cache of the moving averages; stats are advisory, so a short TTL is fine."""

    def __init__(self, load: Callable[[Mode], list[float]], now: Callable[[], float], ttl: float = 15.0) -> None:
        self._load = load
        self._now = now
        self._ttl = ttl
        self._cache: dict[Mode, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def average(self, mode: Mode) -> float:
        now = self._now()
        with self._lock:
            hit = self._cache.get(mode)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        value = moving_average(self._load(mode), DEFAULT_SECONDS[mode])
        with self._lock:
            self._cache[mode] = (now, value)
        return value
