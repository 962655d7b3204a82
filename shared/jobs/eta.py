"""ETAs: a queued job waits for the jobs ahead of it to drain through the workers, then runs.

A mode's run time is a moving average of its recent runs (``finished_at - started_at``: the time
a worker holds the job, a provider's throttle included); a video's is scaled to its clip length
once runs of several lengths were seen. ``DurationCache`` keeps them per instance:
loaded from the store (``recent_durations``, at most once per TTL; sooner while a mode has no runs
at all) and refreshed by the jobs it sees finish (their last poll), which costs no read. It also remembers the
modes of the last jobs it saw waiting or running: the mix that drains ahead of a queued job, so
an image behind videos waits for videos, not for images.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable

from shared.domain import Job, JobStatus, Mode

DEFAULT_SECONDS = {
    Mode.TEXT_TO_IMAGE: 4.0,
    Mode.IMAGE_TO_IMAGE: 4.0,
    Mode.TEXT_TO_VIDEO: 10.0,
    Mode.IMAGE_TO_VIDEO: 10.0,
    Mode.TEXT: 2.0,
}
MIN_SAMPLES = 5  # clip runs needed before a video's run is scaled to its length
EMPTY_TTL = 15.0  # a mode with no runs at all (a new site) is looked up again this soon, not after the TTL
HEAD_GRACE = 1.0  # a job at the head of the queue this long after its submit is waiting for a worker
MIX_JOBS = 64  # the queue's mix of modes: the last this many distinct jobs seen waiting or running
SEEN_RUNS = 256  # finished jobs remembered, so a job polled twice counts once
MAX_RUNS = 64  # runs kept per mode (the moving average hardly weighs older ones)


def clip_seconds(job: Job) -> float | None:
    """The clip length a video job asked for (its run grows with it); None for an image."""
    if not job.mode.is_video:
        return None
    try:
        return float(job.params.get("duration_seconds", 2.0))
    except (TypeError, ValueError):
        return None


def clip_fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """``run = base + per_second x seconds`` by least squares over (clip seconds, run) points; None
    unless there are MIN_SAMPLES points over several lengths, a run growing with its length and a
    positive run for every length seen."""
    if len(points) < MIN_SAMPLES:
        return None
    mean_s = sum(s for s, _ in points) / len(points)
    mean_r = sum(r for _, r in points) / len(points)
    spread = sum((s - mean_s) ** 2 for s, _ in points)
    if spread <= 0:
        return None
    per_second = sum((s - mean_s) * (r - mean_r) for s, r in points) / spread
    base = mean_r - per_second * mean_s
    if per_second <= 0 or any(base + per_second * s <= 0 for s, _ in points):
        return None
    return base, per_second


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


def queued_eta(
    position: int, own: float, concurrency: int, ahead: float | None = None, *, waited: bool = False
) -> float:
    """Seconds until a job with ``position`` queued jobs ahead of it is done.

    Busy workers finish a job every ``ahead / concurrency`` seconds (``ahead``: the mean run of the
    jobs ahead, ``own`` by default), the first about half of that from now: the job starts after
    ``position + 1`` of them, then runs ``own`` seconds. At the head of the queue a just-submitted
    job may find a free worker (no wait); one that has ``waited`` there finds them all busy.
    """
    step = (own if ahead is None else ahead) / max(concurrency, 1)
    wait = (position + 0.5) * step if position or waited else 0.0
    return round(wait + own, 1)


def remaining(durations: list[float], elapsed: float, default: float) -> float:
    """The expected rest of a run ``elapsed`` seconds in: what the recent runs that lasted longer
    ran beyond ``elapsed`` (newest weigh most); if none did, a tenth of the typical run."""
    weight, total, norm = 1.0, 0.0, 0.0
    for value in durations:
        if value > elapsed:
            total += (value - elapsed) * weight
            norm += weight
        weight *= 0.8
    if norm:
        return total / norm
    return max(moving_average(durations, default) - elapsed, moving_average(durations, default) / 10)


def running_eta(started_at: float, now: float, durations: list[float], default: float) -> float:
    """Seconds until a run that started at ``started_at`` is done (a fifth of a second at least)."""
    return round(max(remaining(durations, now - started_at, default), 0.2), 1)


def poll_after(eta_seconds: float) -> float:
    """How long a client should wait before polling again: when the job should be done.

    Polling at the ETA rather than before it keeps a generation to a few store reads
    (Firestore's free tier counts them); the result still shows up within a poll of the ETA.
    """
    return round(min(max(eta_seconds, 1.0), 15.0), 1)


class DurationCache:
    """Per-instance run times per mode and the recent mix of modes; stats are advisory."""

    def __init__(self, load: Callable[[Mode], list[float]], now: Callable[[], float], ttl: float = 15.0) -> None:
        self._load = load
        self._now = now
        self._ttl = ttl
        self._runs: dict[Mode, tuple[float, list[float]]] = {}  # mode -> (loaded at, durations newest first)
        self._mix: OrderedDict[str, Mode] = OrderedDict()  # job id -> mode, oldest first
        self._finished: deque[str] = deque(maxlen=SEEN_RUNS)
        self._clips: dict[Mode, deque[tuple[float, float]]] = {}  # video mode -> (clip seconds, run), newest first
        self._lock = threading.Lock()

    def _durations(self, mode: Mode) -> list[float]:
        now = self._now()
        with self._lock:
            hit = self._runs.get(mode)
        if hit is not None:
            loaded_at, runs = hit
            if now - loaded_at < (self._ttl if runs else min(self._ttl, EMPTY_TTL)):
                return runs
        runs = list(self._load(mode))
        with self._lock:
            self._runs[mode] = (now, runs)
        return runs

    def average(self, mode: Mode) -> float:
        return moving_average(self._durations(mode), DEFAULT_SECONDS[mode])

    def observe(self, job: Job) -> None:
        """A job as a read found it: waiting or running, it joins the mix; finished, its run counts."""
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            with self._lock:
                if job.id not in self._mix:
                    self._mix[job.id] = job.mode
                    if len(self._mix) > MIX_JOBS:
                        self._mix.popitem(last=False)
            return
        if job.status is not JobStatus.SUCCEEDED or job.started_at is None or job.finished_at is None:
            return
        run = max(job.finished_at - job.started_at, 0.0)
        seconds = clip_seconds(job)
        with self._lock:  # no load here: a finished job's read must not cost the store more reads
            if job.id in self._finished:
                return
            self._finished.append(job.id)
            if seconds is not None:
                self._clips.setdefault(job.mode, deque(maxlen=MAX_RUNS)).appendleft((seconds, run))
            hit = self._runs.get(job.mode)
            if hit is not None:
                self._runs[job.mode] = (hit[0], [run, *hit[1]][:MAX_RUNS])

    def runs_for(self, job: Job) -> list[float]:
        """What runs like ``job``'s took: its mode's recent runs; for a clip, once runs of several
        lengths were seen, the run fitted to its length times each seen run's ratio to its own fit."""
        runs = self._durations(job.mode)
        seconds = clip_seconds(job)
        with self._lock:
            points = list(self._clips.get(job.mode, ()))
        fit = clip_fit(points) if seconds is not None else None
        if fit is None or seconds is None:
            return runs
        base, per_second = fit
        return [(base + per_second * seconds) * run / (base + per_second * s) for s, run in points]

    def mix_average(self) -> float | None:
        """The mean run of the recent mix of modes (None before any job was seen)."""
        with self._lock:
            modes = list(self._mix.values())
        if not modes:
            return None
        averages = {mode: self.average(mode) for mode in set(modes)}
        return sum(averages[mode] for mode in modes) / len(modes)

    def eta(self, job: Job, position: int | None, now: float, concurrency: int) -> float | None:
        """The ETA of ``job`` as a read found it (``position``: queued jobs ahead), after observing it."""
        self.observe(job)
        if job.status is JobStatus.QUEUED:
            own = moving_average(self.runs_for(job), DEFAULT_SECONDS[job.mode])
            waited = now - job.created_at > HEAD_GRACE
            return queued_eta(position or 0, own, concurrency, self.mix_average(), waited=waited)
        if job.status is JobStatus.RUNNING and job.started_at is not None:
            return running_eta(job.started_at, now, self.runs_for(job), DEFAULT_SECONDS[job.mode])
        return None
