"""The cleanup's throughput and what it does to the SQLite file; and the same on the Firestore emulator.

SQLite: N jobs past the retention (about 1 KB each, half with an output file, a third with an
input file, in the local media folder) plus N recent ones; one cleanup run deletes the old ones
in CLEANUP_BATCH_SIZE batches. Prints jobs (and files) deleted per second, the file size before
the run, after it, and after the same month of jobs again (it must stay put), and a backup's
time and compressed size. Firestore (``--firestore``): the same jobs on the emulator, deletes
per second and the operations billed per deleted job.

Run: .venv/bin/python bench/cleanup.py [--jobs 20000] [--batch 200] [--firestore]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.media import LocalMediaStore  # noqa: E402
from shared.services.backup import BackupService  # noqa: E402
from shared.services.cleanup import CleanupPolicy, CleanupService  # noqa: E402
from shared.stores.factory import Stores, open_firestore, open_sqlite  # noqa: E402
from tests.contract.test_job_store import make_job  # noqa: E402
from tests.fakes.clock import FakeClock  # noqa: E402

NOW = 1_800_000_000.0
DAY = 86400.0
PROMPT = "a long prompt about a red fox walking through fresh snow at dawn " * 15


def _fill(stores: Stores, media: LocalMediaStore, count: int, age: float) -> None:
    for i in range(count):
        job = make_job(NOW - age - i * 0.01, params={"prompt": PROMPT, "seed": i})
        if i % 2 == 0:
            job = job.evolve(result={"key": f"outputs/{job.id}.png", "mime_type": "image/png"})
            media.put(job.result["key"], b"\x89PNG" + b"\0" * 2000, "image/png")
        if i % 3 == 0:
            job = job.evolve(input_key=f"inputs/{job.id}.png")
            media.put(job.input_key, b"\x89PNG" + b"\0" * 2000, "image/png")
        stores.jobs.create(job)


def _service(stores: Stores, media: LocalMediaStore, batch: int) -> CleanupService:
    policy = CleanupPolicy(retention_seconds=30 * DAY, batch_size=batch, max_seconds=3600)
    return CleanupService(stores.jobs, stores.limiter, stores.cache, media, FakeClock(NOW), policy, stores.compact)


def _mb(path: Path) -> str:
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    return f"{size / 1e6:.1f} MB"


def sqlite(jobs: int, batch: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-cleanup-"))
    path = work / "gateway.sqlite3"
    stores = open_sqlite(path)
    media = LocalMediaStore(work / "media", b"k" * 32, "/m", 3600)
    _fill(stores, media, jobs, 31 * DAY)
    _fill(stores, media, jobs // 10, DAY)
    full = _mb(path)
    started = time.perf_counter()
    report = _service(stores, media, batch).run()
    seconds = time.perf_counter() - started
    deleted = report.deleted
    files = deleted["media"] + deleted["inputs"]
    print(f"sqlite: {deleted['jobs']} jobs + {files} files deleted in {seconds:.2f} s")
    print(f"  {deleted['jobs'] / seconds:,.0f} jobs/s, {report.batches} batches of {batch}")
    print(f"  file {full} before, {_mb(path)} after (compacted {report.compacted_bytes / 1e6:.1f} MB)")
    _fill(stores, media, jobs, 31 * DAY)
    print(f"  the same month again: {_mb(path)} full", end="")
    _service(stores, media, batch).run()
    print(f", {_mb(path)} after its cleanup")
    started = time.perf_counter()
    backup = BackupService(media, FakeClock(NOW), keep=3, database=path).run(force=True)
    print(f"  backup: {backup.bytes / 1e3:.0f} kB gzip in {time.perf_counter() - started:.2f} s")
    stores.close()


def firestore(jobs: int, batch: int) -> None:
    from tests.firestore_emulator import FirestoreEmulator

    emulator = None
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        emulator = FirestoreEmulator(Path(tempfile.mkdtemp()) / "emulator.log")
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        from shared.config import Settings
        from shared.secretbox import KeyCipher

        settings = Settings(
            store="firestore",
            firestore_project=f"demo-bench-{int(time.time())}",
            firestore_emulator_host=os.environ["FIRESTORE_EMULATOR_HOST"],
        )
        stores = open_firestore(settings, KeyCipher.of(KeyCipher.generate()))
        media = LocalMediaStore(Path(tempfile.mkdtemp()) / "media", b"k" * 32, "/m", 3600)
        _fill(stores, media, jobs, 31 * DAY)
        assert stores.ops is not None
        before = stores.ops.total()
        started = time.perf_counter()
        report = _service(stores, media, batch).run()
        seconds = time.perf_counter() - started
        ops = stores.ops.total().minus(before)
        n = report.deleted["jobs"]
        print(f"firestore (emulator): {n} jobs deleted in {seconds:.2f} s, {n / seconds:,.0f} jobs/s")
        print(f"  billed per deleted job: {ops.reads / n:.2f} reads, {ops.deletes / n:.2f} deletes")
        stores.close()
    finally:
        if emulator is not None:
            emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--firestore", action="store_true")
    args = parser.parse_args()
    sqlite(args.jobs, args.batch)
    if args.firestore:
        firestore(min(args.jobs, 2000), args.batch)


if __name__ == "__main__":
    main()
