"""Exactness across processes: four processes deciding for one fresh caller on one SQLite file."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from shared.ratelimit.bucket import Policy
from shared.stores.factory import open_sqlite

pytestmark = pytest.mark.slow
NOW = 1_800_000_000.0


def _worker(path: str, key: str, attempts: int, start, results) -> None:
    stores = open_sqlite(path)
    policy = Policy("donor", 10, grace=5)
    start.wait()
    admitted = sum(stores.limiter.acquire(key, NOW, policy).allowed for _ in range(attempts))
    results.put(admitted)
    stores.close()


def test_four_processes_admit_exactly_grace_plus_capacity(tmp_path):
    path = str(tmp_path / "shared.sqlite3")
    open_sqlite(path).close()  # migrate once up front
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(path, "media:ip:5.5.5.5", 25, start, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    totals = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert sum(totals) == 15, totals
