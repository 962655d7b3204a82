"""The busy day's baseline (the same routes on the idle server, first) and its Figures."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from bench.busy_client import API, Caller, Session
from bench.busy_people import MEDIA_MODES, Accounts, Action, VisitorPlan
from bench.busy_proofs import MAIN_ROUTES, WHO, Verdict, percentile
from bench.common import Figure

BENCH = "busy_day"


async def idle_baseline(session: Session, accounts: Accounts, rounds: int = 2) -> dict[str, dict[str, float]]:
    """Each main route a few times on the idle server, one request at a time (own addresses):
    p50 and the worst, per route. A first round warms up (imports, first reads) and is not counted;
    the jobs are polled every 0.25 s (not at the ETA, which is the default guess before any job
    ran) and are all final before the day starts."""
    traces = []
    for r in range(rounds + 1):
        if r == 1:
            await _finish(session, traces)
            traces.clear()
            session.rec.samples.clear()
        for i, mode in enumerate(MEDIA_MODES):
            caller = Caller(f"172.16.{r}.{i + 1}", "anonymous", "anonymous")
            body = session._request(mode, f"idle {mode} {r}", random.Random(r))
            trace = await session.submit(caller, mode, body, f"idle-{r}-{i}")
            if trace is not None:
                traces.append(trace)
        signed = await session.sign_in(accounts, _anonymous(r), None)
        await session.page(signed, "/")
        await session.text(signed, Action("text", prompt=f"idle text {r}"))
        await session.text(signed, Action("text", prompt=f"idle stream {r}", stream=True))
        await session.call(signed, "GET /jobs", "GET", f"{API}/jobs")
    await _finish(session, traces)
    by_route: dict[str, list[float]] = defaultdict(list)
    for s in session.rec.samples:
        by_route[s.route].append(s.ms)
    return {route: {"p50": percentile(ms, 0.5), "max": max(ms)} for route, ms in by_route.items()}


async def _finish(session: Session, traces: list) -> None:
    for trace in traces:
        while trace.final is None and not trace.gone:
            await asyncio.sleep(0.25)
            await session.poll(trace)
        if trace.final and (trace.final.get("result") or {}).get("url"):
            await session.call(trace.caller, "GET /media", "GET", trace.final["result"]["url"])


def _anonymous(r: int) -> VisitorPlan:
    """A plan for ``sign_in``: an anonymous site visitor on its own address."""
    return VisitorPlan(-1 - r, "anonymous", 0.0, f"172.17.0.{r + 1}")


def figures(store: str, v: Verdict, idle: dict[str, dict[str, float]], aging: float) -> list[Figure]:
    s = f"{store}: "
    out = [
        Figure(BENCH, s + "requests answered per second (the whole day)", v.requests / v.seconds, "req/s"),
        Figure(BENCH, s + "requests answered per second (the busiest 10 s)", v.busiest, "req/s"),
        Figure(BENCH, s + "jobs finished per second", v.jobs_per_second, "jobs/s"),
        Figure(
            BENCH,
            s + "5xx answers (a 503 with Retry-After aside)",
            len(v.server_errors),
            "",
            target="<= 0",
            note="each one is a bug: the bench prints the route and error type",
        ),
        Figure(BENCH, s + "requests that got no answer", len(v.transport_errors), "", target="<= 0"),
        Figure(
            BENCH,
            s + "202s not final at the end",
            len(v.not_final),
            "jobs",
            target="<= 0",
            note="followed until final, bounded; the bench prints each one",
        ),
        Figure(
            BENCH,
            s + f"donor jobs passed by an anonymous job inside the aging bound (2 x {aging:g} s)",
            len(v.donor_overtaken),
            "jobs",
            target="<= 0",
        ),
        Figure(
            BENCH, s + "jobs started out of rank order while another waited", len(v.any_overtaken), "", target="<= 0"
        ),
        Figure(BENCH, s + "donor jobs that went before an earlier anonymous job", v.donor_passes, "pairs"),
        Figure(
            BENCH, s + "requests served as another tier than the caller's", len(v.tier_mismatches), "", target="<= 0"
        ),
        Figure(BENCH, s + "abusive requests answered outside the contract", len(v.notes), "", target="<= 0"),
    ]
    return out + _refusals_and_waits(s, v) + _routes(s, v, idle)


def _refusals_and_waits(s: str, v: Verdict) -> list[Figure]:
    out = []
    for who in WHO:
        for status in (429, 503):
            count = sum(n for key, n in v.refusals[who].items() if key.startswith(str(status)))
            out.append(Figure(BENCH, s + f"{status}s to {who} callers", count, "answers"))
    for tier in ("donor", "registered", "anonymous"):
        wait = v.queue_wait.get(tier)
        if wait:
            out.append(Figure(BENCH, s + f"queue wait p99, {tier}", wait["p99"], "s"))
    return out


def _routes(s: str, v: Verdict, idle: dict[str, dict[str, float]]) -> list[Figure]:
    """p50 and p99 of each main route, against the same route on the idle server (first)."""
    out = []
    for route in MAIN_ROUTES:
        r = v.routes.get(route)
        if not r:
            continue
        base = idle.get(route)
        p50_base = ("idle p50", base["p50"]) if base else ("", None)
        p99_base = ("idle worst", base["max"]) if base else ("", None)
        out.append(Figure(BENCH, s + f"{route} p50", r["p50"], "ms", *p50_base))
        out.append(Figure(BENCH, s + f"{route} p99", r["p99"], "ms", *p99_base))
    return out


def store_comparison(firestore: Verdict, sqlite: Verdict) -> list[Figure]:
    """Firestore (the emulator) against SQLite in the same run: what the emulator's round trips cost."""
    s, base = "firestore vs sqlite: ", "sqlite, same day"
    out = [
        Figure(BENCH, s + "requests per second, busiest 10 s", firestore.busiest, "req/s", base, sqlite.busiest),
        Figure(
            BENCH, s + "jobs finished per second", firestore.jobs_per_second, "jobs/s", base, sqlite.jobs_per_second
        ),
    ]
    for route in ("POST /generate/text-to-image", "POST /generate/text", "GET /jobs/{id}", "POST /events"):
        fs, sq = firestore.routes.get(route), sqlite.routes.get(route)
        if fs and sq:
            out.append(Figure(BENCH, s + f"{route} p50", fs["p50"], "ms", base, sq["p50"]))
    wait_fs, wait_sq = firestore.queue_wait.get("anonymous"), sqlite.queue_wait.get("anonymous")
    if wait_fs and wait_sq:
        out.append(Figure(BENCH, s + "anonymous queue wait p50", wait_fs["p50"], "s", base, wait_sq["p50"]))
    return out
