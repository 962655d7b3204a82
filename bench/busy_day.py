"""A compressed busy day: 500 visitors' day in a few minutes against the embedded default.

Starts ``python -m shared.devserver`` (every function, the site and the in-process dispatcher in
one process, the offline ``local`` provider) on SQLite, or with ``--store firestore`` on the
gcloud Firestore emulator, beside the Firebase Auth emulator (started here unless
``FIREBASE_AUTH_EMULATOR_HOST`` is set, e.g. under ``python -m tools.auth_emulator --``). Then
500 visitors arrive along a day's curve squeezed into ``--day-seconds``: site visitors signed
in anonymously, token-less scripts, registered users and donors (real accounts; donors made by
the admin route), using all five modes with the site's polling, page views, and abusive
callers (bench/busy_abuse.py). Traffic goes only to 127.0.0.1 and stops by itself.

The real limits stay (TIER_LIMITS, TEXT_TIER_LIMITS, GRACE_REQUESTS, EVENTS_PER_MINUTE, the abuse
rule, MAX_QUEUE_DEPTH, QUEUE_CAPACITY); only time is compressed: the local provider sleeps
``--render-seconds`` (LOCAL_DELAY_SECONDS) per job instead of a vendor's 4-60 s, and
QUEUE_AGING_SECONDS is ``--aging`` instead of 60, so the aging bound stands to the queue's waits
as in production; PROVIDER_CONCURRENCY=4 (the one local provider stands in for several vendors).
TRUSTED_PROXY_HOPS=1: each visitor's address arrives in X-Forwarded-For, as behind Google's front end.
Prints throughput, p50/p99 per route (against the same route on the
idle server, measured first), 429s and 503s by tier, and the proofs (bench/busy_proofs.py).
With Firestore, also what the emulator bounds: its write ceiling and its op latency during the day.

Run: .venv/bin/python bench/busy_day.py [--quick] [--store sqlite|firestore|sqlite,firestore]
     [--visitors 500] [--day-seconds 150] [--render-seconds 0.2] [--aging 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.busy_client import Recorder, Session, new_client, run_day, server_env  # noqa: E402
from bench.busy_emulator import EmulatorProbe, emulator_figures  # noqa: E402
from bench.busy_people import Accounts, DayShape  # noqa: E402
from bench.busy_proofs import Verdict, judge, table  # noqa: E402
from bench.busy_report import figures, idle_baseline, store_comparison  # noqa: E402
from bench.common import add_json_argument, emit  # noqa: E402
from tests.e2e.server import DevServer  # noqa: E402
from tools import auth_emulator  # noqa: E402


@contextmanager
def auth_host() -> Iterator[str]:
    """The Auth emulator's host: the one FIREBASE_AUTH_EMULATOR_HOST names, else one started here."""
    if os.environ.get(auth_emulator.VARIABLE):
        yield os.environ[auth_emulator.VARIABLE]
        return
    problem = auth_emulator.missing()
    if problem:
        sys.exit(f"The Auth emulator cannot start: {problem}")
    with tempfile.TemporaryDirectory(prefix="busy-auth-") as folder:
        emulator = auth_emulator.Emulator(Path(folder))
        try:
            auth_emulator.wait_ready(emulator.host, process=emulator.process)
            yield emulator.host
        finally:
            emulator.stop()


@contextmanager
def firestore_env() -> Iterator[tuple[dict[str, str], str]]:
    from tests.firestore_emulator import FirestoreEmulator, missing_requirements

    problem = missing_requirements()
    if problem:
        sys.exit(problem)
    with tempfile.TemporaryDirectory(prefix="busy-firestore-") as folder:
        emulator = FirestoreEmulator(Path(folder) / "emulator.log")
        try:
            project = f"demo-busy-{uuid.uuid4().hex[:8]}"
            yield (
                {"STORE": "firestore", "FIRESTORE_EMULATOR_HOST": emulator.host, "FIRESTORE_PROJECT": project},
                emulator.host,
            )
        finally:
            emulator.stop()


async def _idle_then_day(url: str, host: str, shape: DayShape, poll_bound: float) -> tuple[dict, Recorder]:
    started = time.monotonic()
    async with new_client() as client:
        idle = await idle_baseline(Session(url, client, poll_bound), Accounts(client, host))
    idle_seconds = time.monotonic() - started
    rec = await run_day(url, host, shape, poll_bound=poll_bound)
    rec.phases = {"idle baseline": idle_seconds, **rec.phases}
    return idle, rec


def one_store(store: str, args: argparse.Namespace, host: str, shape: DayShape) -> tuple[Verdict, list]:
    env = server_env(args.render_seconds, args.aging, host)
    with tempfile.TemporaryDirectory(prefix="busy-day-") as data, _store(store) as (store_env, fs_host):
        server = DevServer(Path(data), **env, **store_env)
        probe = EmulatorProbe(fs_host) if fs_host else None
        try:
            if probe:
                probe.measure_idle()
            started = time.monotonic()
            with probe.during() if probe else _nothing():
                idle, rec = asyncio.run(_idle_then_day(server.url, host, shape, args.poll_bound))
            took = time.monotonic() - started
            print(f"\n{store}: {shape.visitors} visitors, day {shape.day_seconds:g} s, run {took:.0f} s")
        finally:
            code = server.stop()
        if code != 0:
            print(f"the server exited with {code}:\n{server.output()}")
        verdict = judge(rec, args.aging)
        print(table(verdict, args.aging))
        found = figures(store, verdict, idle, args.aging)
        if probe:
            found += emulator_figures(probe)
        return verdict, found


@contextmanager
def _store(store: str) -> Iterator[tuple[dict[str, str], str | None]]:
    if store == "firestore":
        with firestore_env() as (env, host):
            yield env, host
    else:
        yield {}, None


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 visitors in a 30 s day (about 90 s in all)")
    parser.add_argument("--store", default=None, help="sqlite, firestore, or both (the default; --quick: sqlite)")
    parser.add_argument("--visitors", type=int, default=500)
    parser.add_argument("--day-seconds", type=float, default=150.0)
    parser.add_argument("--render-seconds", type=float, default=0.2, help="LOCAL_DELAY_SECONDS")
    parser.add_argument("--aging", type=float, default=3.0, help="QUEUE_AGING_SECONDS")
    parser.add_argument("--poll-bound", type=float, default=120.0, help="a visitor follows a job this long at most")
    parser.add_argument("--seed", type=int, default=16)
    add_json_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.visitors, args.day_seconds = min(args.visitors, 100), min(args.day_seconds, 30.0)
    if args.store is None:  # a full run does the day on both stores, Firestore's figures against SQLite's
        args.store = "sqlite" if args.quick else "sqlite,firestore"
    shape = DayShape(visitors=args.visitors, day_seconds=args.day_seconds, seed=args.seed)
    config = server_env(args.render_seconds, args.aging, "<the Auth emulator>")
    print(f"server config: {config}; every other setting its default")
    found: list = []
    verdicts: dict[str, Verdict] = {}
    with auth_host() as host:
        for store in args.store.split(","):
            verdicts[store.strip()], figures_of_store = one_store(store.strip(), args, host, shape)
            found += figures_of_store
    if {"sqlite", "firestore"} <= set(verdicts):
        found += store_comparison(verdicts["firestore"], verdicts["sqlite"])
    emit(found, args.json)


if __name__ == "__main__":
    main()
