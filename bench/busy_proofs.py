"""What the compressed busy day proves, from what its client recorded (bench/busy_client.py).

* No 5xx: every answer is below 500, except a 503 that carries Retry-After (the queue past
  ``MAX_QUEUE_DEPTH``, a store that is down): the designed way to shed load, reported by tier.
  A request with no answer at all (reset, timeout) counts against the proof too.
* Every 202 reaches a final state: each accepted job was seen succeeded, failed or canceled.
* Queue order by rank: a job X was overtaken when a job Y with a worse rank (``queue_rank``:
  submit time + priority x ``QUEUE_AGING_SECONDS``; donor 1, registered 2, anonymous 3) started
  while X was already queued (its 202 had arrived) and not yet started. A donor job may only be
  passed by an anonymous job submitted more than 2 x the aging before it. Only the client's and
  the server's wall clocks (one machine) are compared; the server stamps ``started_at`` before
  it claims, so the check never blames a claim for a job it could not have seen.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bench.busy_client import JobTrace, Recorder, Sample

PRIORITY = {"donor": 1, "registered": 2, "anonymous": 3}  # shared.domain.TIER_PRIORITY
WHO = ("anonymous", "registered", "donor", "abusive")
MAIN_ROUTES = (
    "POST /generate/text-to-image",
    "POST /generate/image-to-image",
    "POST /generate/text-to-video",
    "POST /generate/image-to-video",
    "POST /generate/text",
    "POST /generate/text (stream)",
    "GET /jobs/{id}",
    "GET /media",
    "POST /events",
    "POST /auth/session",
    "GET (site page)",
    "GET /jobs",
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)] if ordered else 0.0


@dataclass
class Overtake:
    waiting: JobTrace
    passed_by: JobTrace

    def describe(self, aging: float) -> str:
        w, p = self.waiting, self.passed_by
        return (
            f"{w.tier} job {w.job_id} (submitted {w.final['created_at']:.3f}, queued by {w.accepted_at:.3f}, "
            f"started {w.final['started_at']:.3f}) passed by {p.tier} job {p.job_id} (submitted "
            f"{p.final['created_at']:.3f}, started {p.final['started_at']:.3f}), aging {aging:g} s"
        )


def rank(trace: JobTrace, aging: float) -> float:
    assert trace.final is not None
    return trace.final["created_at"] + PRIORITY[trace.tier] * aging


def _started(trace: JobTrace) -> bool:
    return trace.final is not None and trace.final.get("started_at") is not None and trace.final["attempts"] <= 1


def overtakes(jobs: list[JobTrace], aging: float) -> list[Overtake]:
    """Every pair where a worse-ranked job started while a better-ranked one was queued."""
    ran = sorted((t for t in jobs if _started(t)), key=lambda t: t.final["started_at"])  # type: ignore[index]
    found = []
    for i, later in enumerate(ran):
        queued_since, started = later.accepted_at, later.final["started_at"]  # type: ignore[index]
        mine = rank(later, aging)
        for earlier in ran[:i]:
            began = earlier.final["started_at"]  # type: ignore[index]
            if queued_since < began < started and rank(earlier, aging) > mine:
                found.append(Overtake(later, earlier))
    return found


@dataclass
class Verdict:
    """The day's figures and proofs, ready to print and to turn into Figures."""

    seconds: float
    requests: int
    routes: dict[str, dict[str, float]]
    refusals: dict[str, Counter]
    server_errors: list[str]
    busy_503: Counter
    transport_errors: list[str]
    not_final: list[str]
    outcomes: Counter
    donor_overtaken: list[Overtake]
    any_overtaken: list[Overtake]
    aged_passes: int  # anonymous jobs that ran before a queued donor job because they had aged
    donor_passes: int  # donor jobs that ran before an anonymous job submitted earlier
    queue_wait: dict[str, dict[str, float]]
    tier_mismatches: list[str]
    notes: list[str]
    abuse: Counter = field(default_factory=Counter)
    busiest: float = 0.0  # requests answered per second in the busiest 10 s
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def jobs_per_second(self) -> float:
        return sum(self.outcomes.values()) / self.seconds if self.seconds else 0.0


def _routes(samples: list[Sample]) -> dict[str, dict[str, float]]:
    by_route: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        if s.who != "abusive":
            by_route[s.route].append(s.ms)
    return {
        route: {"count": len(ms), "p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99)}
        for route, ms in sorted(by_route.items())
    }


def busiest(samples: list[Sample], window: float = 10.0) -> float:
    """Answers per second in the ``window`` seconds with the most of them."""
    times = sorted(s.at for s in samples)
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] > window:
            first += 1
        best = max(best, last - first + 1)
    return best / window


def _queue_wait(jobs: list[JobTrace]) -> dict[str, dict[str, float]]:
    waits: dict[str, list[float]] = defaultdict(list)
    for t in jobs:
        if _started(t) and t.who != "abusive":
            waits[t.tier].append(t.final["started_at"] - t.final["created_at"])  # type: ignore[index]
    return {tier: {"p50": percentile(w, 0.5), "p99": percentile(w, 0.99), "count": len(w)} for tier, w in waits.items()}


def _answers(samples: list[Sample]) -> tuple[dict[str, Counter], list[str], Counter, Counter]:
    """Refusals by caller kind, the 5xx that are not a 503 with Retry-After, those 503s, abusers' statuses."""
    refusals: dict[str, Counter] = {who: Counter() for who in WHO}
    server_errors, busy, abuse = [], Counter(), Counter()
    for s in samples:
        if s.status in (429, 503):
            refusals[s.who][f"{s.status} {s.error_type}"] += 1
        if s.status == 503 and s.retry_after:
            busy[s.who] += 1
        elif s.status >= 500:
            server_errors.append(f"{s.route} ({s.who}): {s.status} {s.error_type}")
        if s.who == "abusive":
            abuse[s.status] += 1
    return refusals, server_errors, busy, abuse


def judge(rec: Recorder, aging: float) -> Verdict:
    refusals, server_errors, busy, abuse = _answers(rec.samples)
    jobs = list(rec.jobs.values())
    passes = overtakes(jobs, aging)
    donor = [o for o in passes if o.waiting.tier == "donor" and o.passed_by.tier == "anonymous"]
    ran = [t for t in jobs if _started(t)]
    donors = [t for t in ran if t.tier == "donor"]
    anons = [t for t in ran if t.tier == "anonymous"]
    aged = sum(
        1
        for d in donors
        for a in anons
        if d.accepted_at < a.final["started_at"] < d.final["started_at"]  # type: ignore[index]
    )
    donor_passes = sum(
        1
        for d in donors
        for a in anons
        if a.final["created_at"] < d.final["created_at"] and d.final["started_at"] < a.final["started_at"]  # type: ignore[index]
    )
    return Verdict(
        seconds=max(rec.ended - rec.started, 1e-9),
        requests=len(rec.samples),
        routes=_routes(rec.samples),
        refusals=refusals,
        server_errors=server_errors,
        busy_503=busy,
        transport_errors=list(rec.transport_errors),
        not_final=[f"{t.job_id} ({t.who}, {t.mode}, gone {t.gone})" for t in jobs if t.final is None],
        outcomes=Counter(t.final["status"] for t in jobs if t.final is not None),
        donor_overtaken=donor,
        any_overtaken=passes,
        aged_passes=aged,
        donor_passes=donor_passes,
        queue_wait=_queue_wait(jobs),
        tier_mismatches=list(rec.tier_mismatches),
        notes=list(rec.notes),
        abuse=abuse,
        busiest=busiest(rec.samples),
        phases=dict(rec.phases),
    )


def table(v: Verdict, aging: float) -> str:
    """The readable report: routes, refusals by tier, queue waits, the proofs."""
    lines = [f"{'route':<34}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}"]
    for route, r in v.routes.items():
        lines.append(f"{route:<34}{r['count']:>7.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}")
    lines.append(
        f"{v.requests} requests in {v.seconds:.0f} s: {v.requests / v.seconds:.1f} req/s; "
        f"{sum(v.outcomes.values())} jobs final ({v.jobs_per_second:.2f}/s): {dict(v.outcomes)}"
    )
    lines.append(f"busiest 10 s: {v.busiest:.1f} req/s; " + ", ".join(f"{k} {t:.0f} s" for k, t in v.phases.items()))
    lines.append(f"{'caller':<11}refusals (status error_type: count)")
    for who in WHO:
        lines.append(f"{who:<11}{dict(v.refusals[who]) or '-'}")
    lines.append(f"abusive answers by status: {dict(sorted(v.abuse.items()))}")
    for tier in ("donor", "registered", "anonymous"):
        w = v.queue_wait.get(tier)
        if w:
            lines.append(f"queue wait {tier:<10} p50 {w['p50']:.2f} s  p99 {w['p99']:.2f} s  ({w['count']:.0f} jobs)")
    lines.append(
        f"PROOF no 5xx: {len(v.server_errors)} 5xx, {len(v.transport_errors)} without an answer, "
        f"{sum(v.busy_503.values())} x 503 with Retry-After {dict(v.busy_503)}"
    )
    lines.append(f"PROOF every 202 final: {len(v.not_final)} not final")
    lines.append(
        f"PROOF donor before anonymous (aging {aging:g} s): {len(v.donor_overtaken)} donor jobs passed inside the "
        f"bound; {len(v.any_overtaken)} passes against rank at all; {v.donor_passes} times a donor job went "
        f"before an earlier anonymous one, {v.aged_passes} aged anonymous jobs went before a queued donor job"
    )
    for problem in [*v.server_errors, *v.transport_errors, *v.not_final, *v.tier_mismatches, *v.notes][:20]:
        lines.append(f"  ! {problem}")
    for o in v.any_overtaken[:5]:
        lines.append(f"  ! {o.describe(aging)}")
    return "\n".join(lines)
