"""The cleanup's throughput and what it does to the SQLite file; and the same on the Firestore emulator.

SQLite: N jobs past the retention (about 1 KB each, half with an output file, a third with an
input file, in the local media folder) plus N recent ones; one cleanup run deletes the old ones
in CLEANUP_BATCH_SIZE batches. Prints jobs (and files) deleted per second, the file size before
the run, after it, and after the same month of jobs again (it must stay put), and a backup's
time and compressed size. Firestore (unless ``--no-firestore``, or the emulator is not
installed): the same jobs on the emulator, deletes per second and the operations billed per
deleted job.

Figures (``--json`` for bench/run.py; design.md sets no number for the cleanup, these targets are
README's claims): the cleanup deletes jobs at least as fast as the store creates them (the same
jobs and files, measured in the same run), so it never falls behind; the file stays put (after
the same month again and its cleanup, at most 1.1x the size after the first cleanup); on
Firestore each deleted job is billed at most 1 read (1.05: each batch's query that comes back short
or empty is billed one read more) and 1 delete.

Run: .venv/bin/python bench/cleanup.py [--jobs 20000] [--batch 200] [--no-firestore] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import Figure, add_json_argument, emit, noted  # noqa: E402

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


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 1e6


def sqlite(jobs: int, batch: int) -> list[Figure]:
    work = Path(tempfile.mkdtemp(prefix="bench-cleanup-"))
    path = work / "gateway.sqlite3"
    stores = open_sqlite(path)
    media = LocalMediaStore(work / "media", b"k" * 32, "/m", 3600)
    started = time.perf_counter()
    _fill(stores, media, jobs, 31 * DAY)
    created = jobs / (time.perf_counter() - started)
    _fill(stores, media, jobs // 10, DAY)
    full = _mb(path)
    started = time.perf_counter()
    report = _service(stores, media, batch).run()
    seconds = time.perf_counter() - started
    deleted = report.deleted
    files = deleted["media"] + deleted["inputs"]
    rate, after = deleted["jobs"] / seconds, _mb(path)
    print(f"sqlite: {deleted['jobs']} jobs + {files} files deleted in {seconds:.2f} s")
    print(f"  {rate:,.0f} jobs/s ({created:,.0f} created/s), {report.batches} batches of {batch}")
    print(f"  file {full:.1f} MB before, {after:.1f} MB after (compacted {report.compacted_bytes / 1e6:.1f} MB)")
    _fill(stores, media, jobs, 31 * DAY)
    print(f"  the same month again: {_mb(path):.1f} MB full", end="")
    _service(stores, media, batch).run()
    again = _mb(path)
    print(f", {again:.1f} MB after its cleanup")
    started = time.perf_counter()
    backup = BackupService(media, FakeClock(NOW), keep=3, database=path).run(force=True)
    backup_seconds = time.perf_counter() - started
    print(f"  backup: {backup.bytes / 1e3:.0f} kB gzip in {backup_seconds:.2f} s")
    stores.close()
    return [
        noted(
            Figure(
                "cleanup",
                "SQLite: jobs deleted per second",
                rate,
                "jobs/s",
                "jobs created per second",
                created,
                ">= 1",
                on_ratio=True,
            ),
            "the cleanup deletes slower than jobs are made, so it could fall behind: raise CLEANUP_BATCH_SIZE, "
            "or profile CleanupService.run (file deletes, the per-batch transaction)",
        ),
        Figure("cleanup", "SQLite: file after the cleanup", after, "MB", "before it", full),
        noted(
            Figure(
                "cleanup",
                "SQLite: file after the same month again and its cleanup",
                again,
                "MB",
                "after the first cleanup",
                after,
                "<= 1.1",
                on_ratio=True,
            ),
            "the file grows month after month: freed pages are not reused or returned (auto_vacuum, the "
            "incremental_vacuum and the truncating WAL checkpoint after a run)",
        ),
        Figure("cleanup", "SQLite: backup time", backup_seconds, "s"),
        Figure("cleanup", "SQLite: backup size (gzip)", backup.bytes / 1e6, "MB", "the file", again),
    ]


def firestore(jobs: int, batch: int) -> list[Figure]:
    from tests.firestore_emulator import FirestoreEmulator, missing_requirements

    emulator = None
    if not os.environ.get("FIRESTORE_EMULATOR_HOST") and missing_requirements():
        print(f"firestore: skipped ({missing_requirements()})")
        return []
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
        billed = "each deleted job is billed more than the query read and the delete: look for a read per job "
        return [
            Figure("cleanup", "Firestore emulator: jobs deleted per second", n / seconds, "jobs/s"),
            noted(
                Figure("cleanup", "Firestore: reads billed per deleted job", ops.reads / n, "reads", target="<= 1.05"),
                billed + "(a get before the delete) or a query page read twice",
            ),
            noted(
                Figure(
                    "cleanup", "Firestore: deletes billed per deleted job", ops.deletes / n, "deletes", target="<= 1"
                ),
                billed + "(a delete retried one by one after a lost batch)",
            ),
        ]
    finally:
        if emulator is not None:
            emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--no-firestore", action="store_true", help="skip the Firestore emulator part")
    parser.add_argument("--quick", action="store_true", help="3,000 jobs (500 on Firestore)")
    add_json_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.jobs = min(args.jobs, 3000)
    figures = sqlite(args.jobs, args.batch)
    if not args.no_firestore:
        figures += firestore(min(args.jobs // 6 if args.quick else args.jobs, 2000), args.batch)
    emit(figures, args.json)


if __name__ == "__main__":
    main()
