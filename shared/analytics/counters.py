"""Daily counters: what one generation or one site event adds, and the report made from them.

A day's counters are one flat map of ``name -> number`` (summed with atomic increments, so one
generation is one write). Durations are kept as a count, a sum and a histogram over fixed bounds,
so averages are exact and the p95 is the upper bound of the histogram bucket that holds it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Seconds: bucket i holds durations <= BOUNDS[i] (and > BOUNDS[i-1]); the last bucket is "longer".
BOUNDS = (1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)
EVENT_TYPES = (
    "page_view",
    "generate_click",
    "sign_in_click",
    "sign_up",
    "donate_click",
    "donate_complete",
    "share",
    "download",
)
KINDS = ("anonymous", "signed_in")  # who is active: a signed-in account, or anyone else
OTHER_PAGE = "other"


def bucket(seconds: float) -> int:
    for index, bound in enumerate(BOUNDS):
        if seconds <= bound:
            return index
    return len(BOUNDS)


def percentile(histogram: Mapping[int, float], q: float) -> float | None:
    """The upper bound of the bucket holding the ``q`` quantile (the longest bound past the last)."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank, seen = max(math.ceil(q * total - 1e-9), 1), 0.0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return float(BOUNDS[min(index, len(BOUNDS) - 1)])
    return float(BOUNDS[-1])


@dataclass(frozen=True)
class Generation:
    """One finished generation (a job, or a text request) as analytics counts it."""

    mode: str
    succeeded: bool
    provider: str | None  # who served it, or the provider that failed last; None: none was reached
    cost_units: float
    tier: str
    time_to_result: float  # submit (or request) to result, seconds
    queue_wait: float | None = None  # submit to start (jobs only)
    first_of_day: str | None = None  # "anonymous" / "signed_in": its visitor's first generation of the day
    cached: bool = False  # a text answer from the response cache: no provider was called


def _timing(counts: dict[str, float], name: str, seconds: float) -> None:
    seconds = max(seconds, 0.0)
    counts[f"{name}:n"] = 1
    counts[f"{name}:sum"] = round(seconds, 6)
    counts[f"{name}:h{bucket(seconds)}"] = 1


def generation_counts(g: Generation) -> dict[str, float]:
    status = "succeeded" if g.succeeded else "failed"
    counts: dict[str, float] = {f"gen:{g.mode}:{status}": 1, f"tier:{g.tier}": 1}
    if g.cached:
        counts["cached"] = 1
    elif g.provider:
        counts[f"prov:{g.provider}:{'ok' if g.succeeded else 'failed'}"] = 1
        if g.cost_units:
            counts[f"cost:{g.provider}"] = round(g.cost_units, 6)
    if g.succeeded:
        _timing(counts, "ttr", g.time_to_result)
    if g.queue_wait is not None:
        _timing(counts, "wait", g.queue_wait)
    if g.first_of_day:
        counts[f"first:{g.first_of_day}"] = 1
    return counts


def event_counts(kind: str, page: str) -> dict[str, float]:
    counts: dict[str, float] = {f"event:{kind}": 1}
    if kind == "page_view":
        counts[f"page:{page}"] = 1
    return counts


def page_name(page: str, known: Iterable[str]) -> str:
    """The page as counted: its path without query, fragment, trailing slash, ``.html`` or ``index``
    (``/donate/``, ``/account.html``, ``/index.html`` are ``/donate``, ``/account``, ``/``), if it is
    one of ``known``; else ``other``."""
    path = page.split("?", 1)[0].split("#", 1)[0].removesuffix(".html")
    path = path.removesuffix("/index") if path.endswith("/index") else path
    path = path.rstrip("/") or "/"
    return path if path in set(known) else OTHER_PAGE


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    count: int
    average: float | None
    p95: float | None


@dataclass(frozen=True)
class ProviderFigures:
    generations: int
    failed: int
    error_rate: float | None
    cost_units: float


@dataclass(frozen=True)
class DayFigures:
    day: str
    active_anonymous: int
    active_signed_in: int
    generations: int
    succeeded: int
    failed: int
    by_mode: dict[str, int]
    page_views: int


@dataclass(frozen=True)
class Funnel:
    visitors: int  # visitor-days: each visitor counts once per day they were active
    generated: int  # visitor-days with a generation
    signed_up: int  # accounts made in the window
    donors: int  # of those, donors now


@dataclass(frozen=True)
class UserFigures:
    by_tier: dict[str, int]  # every user record, by tier now
    signed_up: int
    signed_up_donors: int


@dataclass
class AnalyticsReport:
    start: float
    end: float
    days: list[DayFigures]
    generations: int
    by_mode: dict[str, int]
    success_rate: float | None
    time_to_result: Timing
    queue_wait: Timing
    providers: dict[str, ProviderFigures]
    generations_by_tier: dict[str, int]
    users_by_tier: dict[str, int]
    funnel: Funnel
    page_views: dict[str, int]
    events: dict[str, int]
    cached_text: int = 0
    notes: list[str] = field(default_factory=list)


def _prefixed(counts: Mapping[str, float], prefix: str) -> dict[str, float]:
    return {name[len(prefix) :]: value for name, value in counts.items() if name.startswith(prefix)}


def _timing_of(counts: Mapping[str, float], name: str) -> Timing:
    n = int(counts.get(f"{name}:n", 0))
    histogram = {int(k): v for k, v in _prefixed(counts, f"{name}:h").items()}
    average = round(counts.get(f"{name}:sum", 0.0) / n, 3) if n else None
    return Timing(n, average, percentile(histogram, 0.95))


def _by_status(counts: Mapping[str, float]) -> tuple[dict[str, int], int, int]:
    by_mode: dict[str, int] = {}
    ok = failed = 0
    for name, value in _prefixed(counts, "gen:").items():
        mode, status = name.rsplit(":", 1)
        by_mode[mode] = by_mode.get(mode, 0) + int(value)
        ok += int(value) if status == "succeeded" else 0
        failed += int(value) if status == "failed" else 0
    return by_mode, ok, failed


def _providers(counts: Mapping[str, float]) -> dict[str, ProviderFigures]:
    outcomes = _prefixed(counts, "prov:")
    costs = _prefixed(counts, "cost:")
    names = sorted({name.rsplit(":", 1)[0] for name in outcomes} | set(costs))
    found = {}
    for name in names:
        ok, failed = int(outcomes.get(f"{name}:ok", 0)), int(outcomes.get(f"{name}:failed", 0))
        rate = round(failed / (ok + failed), 4) if ok + failed else None
        found[name] = ProviderFigures(ok + failed, failed, rate, round(costs.get(name, 0.0), 6))
    return found


def _ints(values: Mapping[str, float]) -> dict[str, int]:
    return {name: int(value) for name, value in sorted(values.items())}


def day_figures(day: str, counts: Mapping[str, float], active: Mapping[str, int]) -> DayFigures:
    by_mode, ok, failed = _by_status(counts)
    views = int(sum(_prefixed(counts, "page:").values()))
    anonymous, signed_in = active.get("anonymous", 0), active.get("signed_in", 0)
    return DayFigures(day, anonymous, signed_in, ok + failed, ok, failed, dict(sorted(by_mode.items())), views)


def build_report(
    window: tuple[float, float],
    days: list[tuple[str, Mapping[str, float], Mapping[str, int]]],
    users: UserFigures,
) -> AnalyticsReport:
    """``days``: each day's label, counters and distinct active visitors by kind, oldest first."""
    total: dict[str, float] = {}
    for _, counts, _ in days:
        for name, value in counts.items():
            total[name] = total.get(name, 0.0) + value
    figures = [day_figures(label, counts, active) for label, counts, active in days]
    by_mode, ok, failed = _by_status(total)
    visitors = sum(d.active_anonymous + d.active_signed_in for d in figures)
    generated = int(sum(_prefixed(total, "first:").values()))
    return AnalyticsReport(
        start=window[0],
        end=window[1],
        days=figures,
        generations=ok + failed,
        by_mode=dict(sorted(by_mode.items())),
        success_rate=round(ok / (ok + failed), 4) if ok + failed else None,
        time_to_result=_timing_of(total, "ttr"),
        queue_wait=_timing_of(total, "wait"),
        providers=_providers(total),
        generations_by_tier=_ints(_prefixed(total, "tier:")),
        users_by_tier=dict(sorted(users.by_tier.items())),
        funnel=Funnel(visitors, generated, users.signed_up, users.signed_up_donors),
        page_views=_ints(_prefixed(total, "page:")),
        events=_ints(_prefixed(total, "event:")),
        cached_text=int(total.get("cached", 0)),
    )
