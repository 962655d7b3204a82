"""SQLite backups: made with the online backup API while writers run, gzip-compressed into the
media folder, the newest BACKUP_KEEP kept, and restored by ``python -m shared.backup`` into a
fresh data directory, where the jobs read back."""

from __future__ import annotations

import gzip
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shared.media import LocalMediaStore
from shared.services.backup import BackupService, made_at
from shared.stores.factory import open_sqlite
from tests.contract.test_job_store import make_job
from tests.fakes.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0


def _cli(data_dir: Path, media_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(data_dir), "MEDIA_DIR": str(media_dir), "LOG_LEVEL": "WARNING"}
    for name in ("STORE", "SQLITE_PATH", "MEDIA_BACKEND"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "shared.backup", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def site(tmp_path: Path):
    """A running deployment's data dir: its database with jobs, and its media folder."""
    data = tmp_path / "site"
    stores = open_sqlite(data / "gateway.sqlite3")
    media = LocalMediaStore(data / "media", b"k" * 32, "/api/v1/media", 3600)
    yield data, stores, media
    stores.close()


def test_a_backup_restores_into_a_fresh_data_directory(site, tmp_path):
    data, stores, media = site
    jobs = [make_job(NOW + i, params={"prompt": f"fox {i}", "seed": i}) for i in range(50)]
    for job in jobs:
        stores.jobs.create(job)
    service = BackupService(media, FakeClock(NOW), keep=3, database=stores.database_path)
    result = service.run()
    assert result.kind == "sqlite" and result.name == "gateway-20270115T080000Z.sqlite3.gz"
    packed = (data / "media" / "backups" / result.name).read_bytes()
    assert len(packed) == result.bytes and gzip.decompress(packed)[:16] == b"SQLite format 3\x00"

    listed = _cli(tmp_path / "fresh", data / "media", "list")
    assert listed.returncode == 0 and listed.stdout.split("\t")[0] == result.name
    restored = _cli(tmp_path / "fresh", data / "media", "restore", result.name)
    assert restored.returncode == 0, restored.stderr
    fresh = open_sqlite(tmp_path / "fresh" / "gateway.sqlite3")
    try:
        assert fresh.jobs.get(jobs[17].id) == jobs[17]
        assert len(fresh.jobs.expired(NOW + 100, 1000)) == 50
    finally:
        fresh.close()


def test_restore_refuses_to_replace_a_database_unless_forced(site, tmp_path):
    data, stores, media = site
    before = make_job(NOW)
    stores.jobs.create(before)
    name = BackupService(media, FakeClock(NOW), keep=3, database=stores.database_path).run().name
    after = make_job(NOW + 60)
    stores.jobs.create(after)  # written after the backup, while the "server" has the file open

    refused = _cli(data, data / "media", "restore", name)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert stores.jobs.get(after.id) == after, "nothing changed"
    forced = _cli(data, data / "media", "restore", name, "--force")
    assert forced.returncode == 0, forced.stderr
    assert stores.jobs.get(before.id) == before, "the open store reads the restored database"
    assert stores.jobs.get(after.id) is None
    kept = list(data.glob("gateway.sqlite3.before-restore-*"))
    assert len(kept) == 1 and str(kept[0]) in forced.stdout
    old = open_sqlite(kept[0])
    try:
        assert old.jobs.get(after.id) == after, "the replaced database is kept"
    finally:
        old.close()
    assert _cli(data, data / "media", "restore", "gateway-20000101T000000Z.sqlite3.gz").returncode == 1
    assert _cli(data, data / "media", "restore", "../../etc/passwd").returncode == 1


def test_a_damaged_backup_is_refused_before_anything_is_replaced(site, tmp_path):
    data, stores, media = site
    name = "gateway-20270101T000000Z.sqlite3.gz"
    (data / "media" / "backups").mkdir(parents=True)
    (data / "media" / "backups" / name).write_bytes(gzip.compress(b"not a database" * 100))
    answer = _cli(tmp_path / "fresh", data / "media", "restore", name)
    assert answer.returncode == 1 and "cannot be restored" in answer.stderr
    assert not (tmp_path / "fresh" / "gateway.sqlite3").exists()


def test_the_newest_backups_are_kept_and_a_recent_one_makes_the_scheduled_run_wait(site):
    data, stores, media = site
    stores.jobs.create(make_job(NOW))
    clock = FakeClock(NOW)
    service = BackupService(media, clock, keep=2, database=stores.database_path)
    names = []
    for _ in range(4):
        names.append(service.run().name)
        clock.advance(86400)
    assert [o.key.removeprefix("backups/") for o in service.backups()] == names[:1:-1]
    clock.advance(-86400 + 3600)  # an hour after the last one: the daily run waits
    assert service.run().kind == "skipped"
    assert service.run(force=True).kind == "sqlite"
    assert made_at(names[0]) == NOW


def test_backups_are_consistent_while_writers_run(site):
    data, stores, media = site
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        while not stop.is_set():
            stores.jobs.create(make_job(NOW, params={"prompt": "x" * 500, "seed": written[0]}))
            written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        clock = FakeClock(NOW)
        results = []
        for _ in range(3):
            low = written[0]
            results.append((low, BackupService(media, clock, keep=5, database=stores.database_path).run()))
            clock.advance(86400)
    finally:
        stop.set()
        thread.join(30)
    for low, result in results:
        raw = data / "check.sqlite3"
        raw.write_bytes(gzip.decompress((data / "media" / "backups" / result.name).read_bytes()))
        conn = sqlite3.connect(raw)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] >= low
        conn.close()
        raw.unlink()
