"""Firestore operations per completed generation, the client's polling included.

Runs the real functions (in one process, as ``make dev`` mounts them) on the Firestore
emulator with the real clock: each generation is a text-to-image submit by a new visitor, the
worker function run as Cloud Tasks would call it (``POST /api/v1/tasks/run-job``), and the
visitor polling ``GET /api/v1/jobs/{id}`` at the pace the API tells it (``poll_after(eta_seconds)``
after submit, then each answer's ``poll_after_seconds``) until the job is done. The op
counter counts as Firestore bills (see ``shared/stores/firestore/db.py``).

Goal: at most 4 writes and 10 reads per generation (5,000 generations a day within the free
20K writes / 50K reads). Also prints limiter decisions per second on the emulator, and what
analytics costs (bench/analytics_ops.py): its share of each generation, the visitor's page view
sent before each submit (not counted in the generation), and each analytics operation on its own.

Run: .venv/bin/python bench/store_ops.py [--generations 12] [--render-seconds 4]
(starts the emulator unless FIRESTORE_EMULATOR_HOST is set).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.test import Client  # noqa: E402

from bench.analytics_ops import AnalyticsShare, print_unit_costs  # noqa: E402
from shared import wiring  # noqa: E402
from shared.jobs.eta import poll_after  # noqa: E402
from shared.ratelimit.bucket import Policy  # noqa: E402
from shared.stores.factory import open_firestore  # noqa: E402
from shared.stores.firestore.db import OpCount  # noqa: E402

TOKEN = "bench-task-token-0123456789"
PHASES = ("submit", "worker", "polls", "background")
EXTRA = ("site events", "analytics", "metrics")  # the visitor's page view; shares of the phases above
ANALYTICS_GOAL = 1  # analytics may add one write per generation (README "Analytics")
WRITES_GOAL, READS_GOAL = 4, 10


def _configure(host: str, data_dir: str, render_seconds: float) -> str:
    project = f"demo-bench-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        {
            "STORE": "firestore",
            "FIRESTORE_EMULATOR_HOST": host,
            "FIRESTORE_PROJECT": project,
            "DISPATCHER": "none",  # production: Cloud Tasks calls the worker function
            "TASKS_TOKEN": TOKEN,
            "DATA_DIR": data_dir,
            "LOG_LEVEL": "WARNING",
            "LOCAL_DELAY_SECONDS": str(render_seconds),
        }
    )
    wiring.reset()
    return project


def one_generation(client: Client, ops, index: int) -> tuple[dict[str, OpCount], int]:
    ip = f"203.0.113.{index % 250 + 1}"
    phase: dict[str, OpCount] = {}
    with ops.track() as viewed:  # a new visitor's page view first (the site's beacon), outside the total
        view = client.post("/api/v1/events", json={"type": "page_view", "page": "/"}, environ_base={"REMOTE_ADDR": ip})
    assert view.status_code == 204, view.get_data(as_text=True)
    phase["site events"] = viewed
    before = ops.total()
    with ops.track() as tally:
        submitted = client.post(
            "/api/v1/generate/text-to-image",
            json={"prompt": f"a fox, take {index}"},
            environ_base={"REMOTE_ADDR": ip},
        )
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    phase["submit"] = tally
    accepted = submitted.get_json()

    def work() -> None:
        with ops.track() as worker_tally:
            answer = client.post(
                "/api/v1/tasks/run-job",
                json={"job_id": accepted["job_id"]},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        assert answer.status_code == 200, answer.get_data(as_text=True)
        phase["worker"] = worker_tally

    worker = threading.Thread(target=work)
    worker.start()
    polls, wait = 0, poll_after(accepted["eta_seconds"])
    with ops.track() as poll_tally:
        while True:
            time.sleep(wait)
            view = client.get(f"/api/v1/jobs/{accepted['job_id']}", environ_base={"REMOTE_ADDR": ip}).get_json()
            polls += 1
            if view["status"] in ("succeeded", "failed", "canceled"):
                break
            wait = view["poll_after_seconds"] or 1.0
    phase["polls"] = poll_tally
    worker.join()
    assert view["status"] == "succeeded", view
    total = ops.total().minus(before)
    counted = OpCount()
    for name in ("submit", "worker", "polls"):
        counted.add(phase[name])
    phase["background"] = total.minus(counted)  # lease renewals, on their own thread
    phase["total"] = total
    return phase, polls


def limiter_rate(host: str, seconds: float, threads: int) -> tuple[float, int]:
    """Decisions/s on the emulator (distinct callers), and admitted of 50 at one fresh caller."""
    settings = wiring.Settings(store="firestore", firestore_emulator_host=host, firestore_project="demo-bench-limiter")
    stores = open_firestore(settings)
    policy = Policy("donor", 10, grace=5)
    count = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def run(worker: int) -> None:
        done = 0
        while time.perf_counter() < deadline:
            stores.limiter.acquire(f"media:ip:{worker}-{done % 50}", 1_800_000_000.0 + done * 0.01, policy)
            done += 1
        with lock:
            count[0] += done

    started = time.perf_counter()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    rate = count[0] / (time.perf_counter() - started)
    admitted = [0]
    barrier = threading.Barrier(50)

    def fire() -> None:
        barrier.wait()
        if stores.limiter.acquire("media:ip:burst", 1_800_000_000.0, policy).allowed:
            with lock:
                admitted[0] += 1

    burst = [threading.Thread(target=fire) for _ in range(50)]
    for w in burst:
        w.start()
    for w in burst:
        w.join()
    stores.close()
    return rate, admitted[0]


def _row(name: str, count: OpCount, n: int) -> str:
    return (
        f"  {name:<11} writes {count.writes / n:5.2f}  reads {count.reads / n:5.2f}  "
        f"deletes {count.deletes / n:4.2f}  transactions {count.transactions / n:4.2f}  "
        f"lost CAS {count.conflicts / n:4.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generations", type=int, default=12)
    parser.add_argument("--render-seconds", type=float, default=4.0, help="how long the local provider takes")
    parser.add_argument("--limiter-seconds", type=float, default=3.0)
    args = parser.parse_args()

    emulator = None
    host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if host is None:
        from tests.firestore_emulator import FirestoreEmulator, missing_requirements

        problem = missing_requirements()
        if problem:
            sys.exit(problem)
        emulator = FirestoreEmulator(Path(tempfile.mkdtemp()) / "emulator.log")
        host = emulator.host
        os.environ["FIRESTORE_EMULATOR_HOST"] = host
    try:
        from shared.devserver import build_app

        with tempfile.TemporaryDirectory() as data_dir:
            _configure(host, data_dir, args.render_seconds)
            client = Client(build_app())
            ops = wiring.gateway().stores.ops
            assert ops is not None
            sums = {name: OpCount() for name in (*PHASES, "total", *EXTRA)}
            polls = 0
            with AnalyticsShare(ops) as share:
                for index in range(args.generations):
                    phase, count = one_generation(client, ops, index)
                    polls += count
                    for name, tally in phase.items():
                        sums[name].add(tally)
            sums["analytics"], sums["metrics"] = share.jobs, share.metrics
            wiring.reset()
        n = args.generations
        print(f"Firestore operations per completed generation ({n} text-to-image generations, ")
        print(f"render {args.render_seconds:g} s, {polls / n:.1f} client polls each, emulator {host}):")
        for name in PHASES:
            print(_row(name, sums[name], n))
        total = sums["total"]
        print(_row("TOTAL", total, n))
        print(_row("analytics", sums["analytics"], n) + "   (its part of the phases above)")
        print(_row("metrics", sums["metrics"], n) + "   (the instance's points, once a minute: in background)")
        print(_row("site events", sums["site events"], n) + "   (a new visitor's page view, beside each)")
        total = total.minus(sums["metrics"])  # per minute and instance, not per generation
        ok_w, ok_r = total.writes / n <= WRITES_GOAL + ANALYTICS_GOAL, total.reads / n <= READS_GOAL
        print(
            f"  goal: <= {WRITES_GOAL} + {ANALYTICS_GOAL} (analytics) writes ({'met' if ok_w else 'MISSED'}), "
            f"<= {READS_GOAL} reads ({'met' if ok_r else 'MISSED'}) -> "
            f"{int(min(20000 / max(total.writes / n, 1e-9), 50000 / max(total.reads / n, 1e-9)))} "
            "generations/day on the free tier"
        )
        rate, admitted = limiter_rate(host, args.limiter_seconds, threads=8)
        print(f"limiter decisions per second on the emulator, 8 threads: {rate:,.0f}")
        print(f"50 concurrent requests at one fresh donor caller (5 grace + 10): admitted {admitted} (exact: 15)")
        print_unit_costs(host)
    finally:
        if emulator is not None:
            emulator.stop()


if __name__ == "__main__":
    main()
