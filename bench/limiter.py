"""Limiter decisions per second: our SQLite store (durable, exact across processes) vs the
``limits`` library's moving window on its in-memory storage (one process only), same run.

Also fires 50 concurrent callers at one fresh bucket and prints the over-admission count
(must be 0). Run: .venv/bin/python bench/limiter.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from limits import RateLimitItemPerMinute  # noqa: E402
from limits.storage import MemoryStorage  # noqa: E402
from limits.strategies import MovingWindowRateLimiter  # noqa: E402

from shared.ratelimit.bucket import Policy  # noqa: E402
from shared.stores.factory import open_sqlite  # noqa: E402

KEYS = 1000


def limits_rate(seconds: float) -> float:
    limiter = MovingWindowRateLimiter(MemoryStorage())
    item = RateLimitItemPerMinute(10)
    count, deadline = 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for i in range(100):
            limiter.hit(item, f"ip:{(count + i) % KEYS}")
        count += 100
    return count / (time.perf_counter() - started)


def ours_rate(path: str, seconds: float, offset: int = 0) -> int:
    stores = open_sqlite(path)
    policy = Policy("donor", 10, grace=5)
    count, deadline = 0, time.perf_counter() + seconds
    now = 1_800_000_000.0
    while time.perf_counter() < deadline:
        for i in range(100):
            stores.limiter.acquire(f"media:ip:{offset + (count + i) % KEYS}", now + count * 1e-4, policy)
        count += 100
    stores.close()
    return count


def _proc(path: str, seconds: float, offset: int, out) -> None:
    out.put(ours_rate(path, seconds, offset))


def over_admission(path: str, callers: int) -> int:
    stores = open_sqlite(path)
    policy = Policy("anonymous", 3, grace=5)
    admitted = 0
    lock = threading.Lock()
    barrier = threading.Barrier(callers)

    def fire() -> None:
        nonlocal admitted
        barrier.wait()
        if stores.limiter.acquire("media:ip:fresh", 1_900_000_000.0, policy).allowed:
            with lock:
                admitted += 1

    threads = [threading.Thread(target=fire) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return admitted - (policy.grace + policy.limit)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-limiter-"))
    baseline = limits_rate(args.seconds)
    single = ours_rate(str(folder / "one.sqlite3"), args.seconds) / args.seconds
    path = str(folder / "two.sqlite3")
    open_sqlite(path).close()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_proc, args=(path, args.seconds, i * KEYS, out)) for i in range(2)]
    for p in procs:
        p.start()
    multi = sum(out.get() for _ in procs) / args.seconds
    for p in procs:
        p.join()
    print(f"limits MovingWindow, memory (1 process)  {baseline:>10.0f} decisions/s  1.00x")
    print(f"ours, SQLite WAL, 1 process             {single:>10.0f} decisions/s  {single / baseline:.2f}x")
    print(f"ours, SQLite WAL, 2 processes, one file {multi:>10.0f} decisions/s  {multi / baseline:.2f}x")
    print(f"over-admission with 50 concurrent callers: {over_admission(str(folder / 'burst.sqlite3'), 50)}")


if __name__ == "__main__":
    main()
