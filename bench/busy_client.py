"""The compressed busy day's client: visitors as the site behaves, on asyncio + httpx, 127.0.0.1 only.

Each visitor arrives at its planned time (bench/busy_people.py), loads a page and sends the
site's page-view beacon, signs in as the site does (Firebase anonymous sign-in, or an email
account, then ``POST /auth/session`` for the ``__session`` cookie; scripts send no credential),
and works through its actions: a generation is submitted with an ``Idempotency-Key``, followed
at the pace the API asks (``poll_after_seconds``; the 202 only has the ETA, clamped to 1..15 s
as site/js/job.js does), and its result is fetched like the browser's ``<img>``. A 429 or 503 is
recorded and the visitor moves on. Every request is timed per route and caller kind.

``run_day`` runs the visitors and the abusive callers (bench/busy_abuse.py) together, then
polls every accepted job that its visitor stopped following until it is final (bounded), and
returns the ``Recorder`` the proofs (bench/busy_proofs.py) read.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.busy_people import Account, Accounts, Action, DayShape, VisitorPlan, plan_day, sample_png

API = "/api/v1"


def server_env(render_seconds: float, aging: float, auth_host: str) -> dict[str, str]:
    """The server's settings on a compressed day: the product's defaults and real limits, with time
    compressed (a vendor's 4-60 s render and the 60 s aging step shrink alike), and each visitor's
    address in X-Forwarded-For as Google's front end sends it."""
    return {
        "LOCAL_DELAY_SECONDS": str(render_seconds),
        "QUEUE_AGING_SECONDS": str(aging),
        "PROVIDER_CONCURRENCY": "4",  # the one local provider stands in for the vendors' several
        "TRUSTED_PROXY_HOPS": "1",
        "FIREBASE_AUTH_EMULATOR_HOST": auth_host,
    }


TERMINAL = {"succeeded", "failed", "canceled"}
RETRY_SECONDS = (2, 4, 8, 15)  # site/js/job.js, after a failed poll


@dataclass
class Sample:
    route: str
    who: str  # the caller's tier, or "abusive"
    status: int
    ms: float
    error_type: str = ""
    retry_after: bool = False
    at: float = field(default_factory=time.monotonic)  # when the answer was complete


@dataclass
class JobTrace:
    job_id: str
    tier: str
    who: str
    mode: str
    accepted_at: float  # wall clock when the 202 arrived: the job was queued by then
    caller: Caller
    eta: float | None = None  # the 202's ETA: the site polls first at clamp(eta, 1, 15)
    final: dict | None = None
    gone: int = 0  # a poll's status other than 200/429/503 (e.g. 404): the job was lost


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    jobs: dict[str, JobTrace] = field(default_factory=dict)
    transport_errors: list[str] = field(default_factory=list)
    tier_mismatches: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    notes: list[str] = field(default_factory=list)  # answers outside the contract
    phases: dict[str, float] = field(default_factory=dict)  # seconds each part of the run took


@dataclass
class Caller:
    """Who sends a request: an address (X-Forwarded-For, as Google's front end appends it) and,
    for a signed-in visitor, the session cookie or a bearer token."""

    address: str
    tier: str
    who: str
    cookie: str | None = None
    bearer: str | None = None

    def headers(self, origin: str) -> dict[str, str]:
        out = {"X-Forwarded-For": self.address, "Origin": origin}
        if self.cookie:
            out["Cookie"] = f"__session={self.cookie}"
        if self.bearer:
            out["Authorization"] = f"Bearer {self.bearer}"
        return out


class NoCookies(http.cookiejar.DefaultCookiePolicy):
    """One client serves every visitor: it must keep nobody's cookie (each visitor sends its own)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def new_client() -> httpx.AsyncClient:
    jar = http.cookiejar.CookieJar(policy=NoCookies())
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=32)
    return httpx.AsyncClient(cookies=jar, limits=limits, timeout=httpx.Timeout(90.0), trust_env=False)


def _error_type(response: httpx.Response) -> str:
    if response.status_code < 400 or "json" not in response.headers.get("Content-Type", ""):
        return ""
    try:
        body = response.json()
    except ValueError:
        return "not json"
    if isinstance(body, dict):
        return str(body.get("error_type") or body.get("error", {}).get("type") or "")
    return ""


class Session:
    """The day's shared state: the server, the client, the recorder, the bounds."""

    def __init__(
        self, base_url: str, client: httpx.AsyncClient, poll_bound: float, think: tuple[float, float] = (0.3, 2.0)
    ) -> None:
        self.base = base_url.rstrip("/")
        self.think = think
        self.client = client
        self.rec = Recorder()
        self.poll_bound = poll_bound
        self.pngs = [sample_png(seed) for seed in range(8)]

    async def call(self, caller: Caller, route: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        headers = {**caller.headers(self.base), **kwargs.pop("headers", {})}
        started = time.perf_counter()
        try:
            response = await self.client.request(method, self.base + path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            self.rec.transport_errors.append(f"{route} ({caller.who}): {type(error).__name__} {error}")
            return None
        ms = (time.perf_counter() - started) * 1000
        kind = _error_type(response)
        retry = "Retry-After" in response.headers
        self.rec.samples.append(Sample(route, caller.who, response.status_code, ms, kind, retry))
        return response

    def check_tier(self, caller: Caller, response: httpx.Response) -> None:
        """The tier the server applied (RateLimit-Policy names it) is the caller's."""
        policy = response.headers.get("RateLimit-Policy", "")
        applied = policy.split(";")[0].strip('"').removeprefix("text-")
        if policy and applied != caller.tier:
            self.rec.tier_mismatches.append(f"{caller.who} sent as {caller.tier}, served as {applied}")

    # --- generations -----------------------------------------------------------------------

    def _request(self, mode: str, prompt: str, rng: random.Random) -> dict[str, Any]:
        if mode in ("text-to-image", "text-to-video"):
            return {"json": {"prompt": prompt}}
        fields = {"prompt": prompt, "strength": "0.6"} if mode == "image-to-image" else {"prompt": prompt}
        image = rng.choice(self.pngs)
        return {"data": fields, "files": {"image": ("upload.png", image, "image/png")}}

    async def submit(self, caller: Caller, mode: str, body: dict[str, Any], key: str) -> JobTrace | None:
        route = f"POST /generate/{mode}"
        response = await self.call(
            caller, route, "POST", f"{API}/generate/{mode}", headers={"Idempotency-Key": key}, **body
        )
        if response is None or response.status_code not in (200, 202):
            return None
        self.check_tier(caller, response)
        accepted = response.json()
        if response.status_code == 200 and accepted["job_id"] in self.rec.jobs:
            return self.rec.jobs[accepted["job_id"]]
        trace = JobTrace(
            accepted["job_id"], caller.tier, caller.who, mode, time.time(), caller, accepted.get("eta_seconds")
        )
        self.rec.jobs[trace.job_id] = trace
        return trace

    async def generate(self, caller: Caller, action: Action, rng: random.Random) -> None:
        body, key = self._request(action.mode, action.prompt, rng), uuid.uuid4().hex
        trace = await self.submit(caller, action.mode, body, key)
        if trace is None:
            return
        if action.double:  # the same request again (a retry after a lost answer): the same job
            again = await self.submit(caller, action.mode, body, key)
            if again is not None and again.job_id != trace.job_id:
                self.rec.notes.append(f"a repeated Idempotency-Key made a second job: {trace.job_id}")
        if action.cancel:
            await self.call(caller, "DELETE /jobs/{id}", "DELETE", f"{API}/jobs/{trace.job_id}")
        view = await self.follow(trace)
        if view and view["status"] == "succeeded" and view.get("result", {}).get("url"):
            await self.call(caller, "GET /media", "GET", view["result"]["url"])

    async def poll(self, trace: JobTrace) -> tuple[dict | None, float]:
        """One poll: (view, when to poll again)."""
        response = await self.call(trace.caller, "GET /jobs/{id}", "GET", f"{API}/jobs/{trace.job_id}")
        if response is None:
            return None, 2.0
        if response.status_code in (429, 503):
            return None, float(response.headers.get("Retry-After") or 2)
        if response.status_code != 200:
            trace.gone = response.status_code
            return None, 0.0
        view = response.json()
        if view["status"] in TERMINAL:
            trace.final = view
        return view, view.get("poll_after_seconds") or _clamp(view.get("eta_seconds"))

    async def follow(self, trace: JobTrace) -> dict | None:
        """Poll as site/js/job.js does until the job is final, the job is gone, or the bound passes."""
        deadline = time.monotonic() + self.poll_bound
        wait = _clamp(trace.eta)
        while trace.final is None and not trace.gone:
            if time.monotonic() + wait > deadline:
                return None  # the sweep after the day finishes following it
            await asyncio.sleep(wait)
            _, wait = await self.poll(trace)
        return trace.final

    # --- the rest of a visit ---------------------------------------------------------------

    async def page(self, caller: Caller, page: str) -> None:
        await self.call(caller, "GET (site page)", "GET", page if page != "/history" else "/")
        beacon = {"type": "page_view", "page": page}
        await self.call(caller, "POST /events", "POST", f"{API}/events", json=beacon)

    async def text(self, caller: Caller, action: Action) -> None:
        body = {"prompt": action.prompt, "max_tokens": 96, "stream": action.stream}
        if not action.stream:
            response = await self.call(caller, "POST /generate/text", "POST", f"{API}/generate/text", json=body)
            if response is not None and response.status_code == 200:
                self.check_tier(caller, response)
            return
        headers = caller.headers(self.base)
        started = time.perf_counter()
        try:
            async with self.client.stream("POST", f"{self.base}{API}/generate/text", json=body, headers=headers) as r:
                await r.aread()
        except httpx.HTTPError as error:
            self.rec.transport_errors.append(f"POST /generate/text (stream): {type(error).__name__} {error}")
            return
        ms = (time.perf_counter() - started) * 1000
        sample = Sample("POST /generate/text (stream)", caller.who, r.status_code, ms, _error_type(r))
        sample.retry_after = "Retry-After" in r.headers
        self.rec.samples.append(sample)

    async def sign_in(self, accounts: Accounts, plan: VisitorPlan, donor: Account | None) -> Caller:
        caller = Caller(plan.address, plan.tier, plan.tier)
        if plan.kind == "script":
            return caller
        if plan.kind == "anonymous":
            account = await accounts.anonymous()
        elif plan.kind == "registered":
            account = await accounts.sign_up()
        else:
            assert donor is not None
            account = await accounts.sign_in(donor)
        response = await self.call(
            caller, "POST /auth/session", "POST", f"{API}/auth/session", json={"id_token": account.id_token}
        )
        if response is not None and response.status_code == 200:
            caller.cookie = response.cookies.get("__session") or _cookie(response)
        return caller


def _clamp(eta: float | None) -> float:
    return min(max(eta if eta is not None else 2.0, 1.0), 15.0)


def _cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == "__session":
            return rest.split(";")[0]
    return None


async def visit(session: Session, accounts: Accounts, plan: VisitorPlan, start: float, donor: Account | None) -> None:
    rng = random.Random(plan.index)
    await asyncio.sleep(max(0.0, start + plan.arrival - time.monotonic()))
    caller = await session.sign_in(accounts, plan, donor)
    tabs = []  # a heavy visitor's generations, each followed in its own tab
    for action in plan.actions:
        if action.kind == "generate" and plan.heavy:
            tabs.append(asyncio.create_task(session.generate(caller, action, rng)))
            await asyncio.sleep(rng.uniform(0.1, 0.4))
            continue
        if action.kind == "generate":
            await session.generate(caller, action, rng)
        elif action.kind == "text":
            await session.text(caller, action)
        elif action.kind == "page":
            await session.page(caller, action.page)
        elif action.kind == "history":
            await session.call(caller, "GET /jobs", "GET", f"{API}/jobs")
        await asyncio.sleep(rng.uniform(*session.think))
    await asyncio.gather(*tabs)


async def make_donors(session: Session, accounts: Accounts, count: int) -> list[Account]:
    """Real accounts with the donor tier, set the way an admin sets it (POST /admin/users/{uid}/tier)."""
    admin = await accounts.sign_up()
    await accounts.set_claims(admin.uid, {"admin": True})
    admin = await accounts.sign_in(admin)  # a fresh ID token carries the claim
    staff = Caller("127.0.0.1", "registered", "setup", bearer=admin.id_token)
    gate = asyncio.Semaphore(6)

    async def one() -> Account:
        async with gate:
            donor = await accounts.sign_up()
            own = Caller("127.0.0.1", "registered", "setup", bearer=donor.id_token)
            await session.call(own, "setup", "GET", f"{API}/user/me")  # the record is made on first sight
            made = await session.call(
                staff, "setup", "POST", f"{API}/admin/users/{donor.uid}/tier", json={"tier": "donor"}
            )
            if made is None or made.status_code != 200:
                raise RuntimeError(f"could not make a donor: {made and made.text}")
            return donor

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def sweep(session: Session, bound: float) -> None:
    """Follow every accepted job that is not final yet (its visitor stopped), once a second, bounded."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        open_jobs = [t for t in session.rec.jobs.values() if t.final is None and not t.gone]
        if not open_jobs:
            return
        await asyncio.gather(*(session.poll(t) for t in open_jobs))
        await asyncio.sleep(1.0)


async def run_day(
    base_url: str, auth_host: str, shape: DayShape, poll_bound: float = 120.0, sweep_bound: float = 90.0
) -> Recorder:
    from bench.busy_abuse import abusers

    plans = plan_day(shape)
    async with new_client() as client:
        session = Session(base_url, client, poll_bound, shape.think)
        accounts = Accounts(client, auth_host)
        began = time.monotonic()
        donors = await make_donors(session, accounts, sum(p.kind == "donor" for p in plans))
        session.rec.samples = [s for s in session.rec.samples if s.route != "setup"]
        pool = iter(donors)
        start = time.monotonic()
        session.rec.phases["donor accounts"] = start - began
        session.rec.started = time.time()
        tasks = [visit(session, accounts, p, start, next(pool) if p.kind == "donor" else None) for p in plans]
        tasks += abusers(session, accounts, shape, start)
        await asyncio.gather(*tasks)
        session.rec.ended = time.time()
        session.rec.phases["the day, until the last visitor left"] = time.monotonic() - start
        swept = time.monotonic()
        await sweep(session, sweep_bound)
        session.rec.phases["following the jobs left"] = time.monotonic() - swept
    return session.rec
