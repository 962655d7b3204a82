"""The SQLite file does not grow without bound: new files are made with auto_vacuum=INCREMENTAL, an
existing file is converted once by migration 6 (a VACUUM), and the cleanup hands the pages it
freed back to the file system."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shared.media import LocalMediaStore
from shared.services.cleanup import CleanupPolicy, CleanupService
from shared.stores.factory import open_sqlite
from shared.stores.sqlite.db import MIGRATIONS, SqliteDatabase
from shared.stores.sqlite.jobs import _INSERT, _job_to_row
from tests.contract.test_job_store import make_job
from tests.fakes.clock import FakeClock

NOW = 1_800_000_000.0
DAY = 86400.0
PROMPT = "a long prompt about a fox in the snow " * 25  # ~1 KB per job row


def _old_jobs(path: Path, count: int, created: float) -> None:
    jobs = [make_job(created + i * 0.001, params={"prompt": PROMPT, "seed": i}) for i in range(count)]
    db = SqliteDatabase(path)
    with db.write() as conn:  # one transaction: the test is about the file, not insert speed
        conn.executemany(_INSERT, [_job_to_row(job) for job in jobs])
    db.close()


def _cleanup(path: Path, tmp: Path) -> CleanupService:
    stores = open_sqlite(path)
    media = LocalMediaStore(tmp / "media", b"k" * 32, "/m", 3600)
    policy = CleanupPolicy(retention_seconds=30 * DAY, batch_size=500, max_seconds=600)
    return CleanupService(stores.jobs, stores.limiter, stores.cache, media, FakeClock(NOW), policy, stores.compact)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def test_an_existing_database_is_migrated_and_converted_once(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)  # a file made by schema 5, auto_vacuum=NONE
    conn.execute("PRAGMA journal_mode=WAL")
    for number, script in enumerate(MIGRATIONS[:5], start=1):
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={number}")
    conn.execute(
        "INSERT INTO jobs (id, owner, tier, priority, mode, status, params, created_at) "
        "VALUES ('j1', 'ip:1.2.3.4', 'anonymous', 3, 'text-to-image', 'queued', '{\"prompt\": \"fox\"}', 1)"
    )
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    conn.close()

    db = SqliteDatabase(path)
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2, "converted to INCREMENTAL"
    indexes = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "jobs_created" in indexes
    assert db.conn.execute("SELECT params FROM jobs WHERE id = 'j1'").fetchone()[0] == '{"prompt": "fox"}'
    db.close()
    fresh = SqliteDatabase(tmp_path / "new.sqlite3")
    assert fresh.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2, "a new file is made incremental"
    fresh.close()


def test_the_file_shrinks_after_a_cleanup_of_many_rows_and_stops_growing(tmp_path):
    path = tmp_path / "gateway.sqlite3"
    _old_jobs(path, 4000, NOW - 40 * DAY)
    full = _size(path)
    assert full > 4_000_000
    report = _cleanup(path, tmp_path).run()
    assert report.complete and report.deleted["jobs"] == 4000
    after = _size(path)
    assert after < full / 10, (full, after)
    assert report.compacted_bytes >= full - after - 65536

    sizes = []
    for _ in range(3):  # a month of jobs, then the cleanup, again and again: the file stays put
        _old_jobs(path, 4000, NOW - 40 * DAY)
        _cleanup(path, tmp_path).run()
        sizes.append(_size(path))
    assert max(sizes) < full / 10, sizes
