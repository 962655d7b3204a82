"""The cleanup use case (shared.services.cleanup) on every store, with a fake clock and the local
media folder: it deletes exactly what is past its time and nothing else, in bounded batches that
resume, and two runs at once delete (and count) everything once."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.domain import Job, JobStatus
from shared.media import LocalMediaStore
from shared.ratelimit.bucket import Policy
from shared.services.cleanup import CleanupPolicy, CleanupService
from shared.stores.factory import Stores
from tests.contract.test_job_store import make_job
from tests.fakes.clock import FakeClock

NOW = 1_800_000_000.0
DAY = 86400.0
RETENTION = 30 * DAY


@dataclass
class World:
    """What a month and a half of use leaves behind, old and recent side by side."""

    old: list[Job]
    recent: list[Job]
    files: dict[str, Path]  # key -> path of every file made


def _job(stores: Stores, media: LocalMediaStore, files: dict[str, Path], age: float, i: int, **kw: object) -> Job:
    created = NOW - age
    job = make_job(created, expire_at=created + RETENTION, **kw)
    if i % 3 == 0:  # an image-to-image job: its uploaded input
        job = job.evolve(input_key=f"inputs/{job.id}-in.png")
    if i % 2 == 0:  # succeeded: its output
        job = job.evolve(status=JobStatus.SUCCEEDED, result={"key": f"outputs/{job.id}.png", "mime_type": "image/png"})
    stores.jobs.create(job)
    for key in filter(None, [job.input_key, (job.result or {}).get("key")]):
        media.put(key, b"\x89PNG...", "image/png")
        files[key] = media.path_for(key)
        os.utime(files[key], (created, created))
    return job


def _world(stores: Stores, media: LocalMediaStore, n_old: int = 7, n_recent: int = 5) -> World:
    files: dict[str, Path] = {}
    old = [
        _job(stores, media, files, RETENTION + DAY + i, i, idempotency_key=f"old-{i}" if i % 2 else None)
        for i in range(n_old)
    ]
    recent = [
        _job(stores, media, files, RETENTION - DAY - i, i, idempotency_key=f"new-{i}" if i % 2 else None)
        for i in range(n_recent)
    ]
    policy = Policy("anonymous", 3, grace=1)
    for i in range(4):
        stores.limiter.acquire(f"ip:10.0.0.{i}", NOW - 8 * DAY, policy)  # idle past the limiter TTL
    stores.limiter.acquire("ip:10.0.1.1", NOW - DAY, policy)
    for i in range(3):
        stores.cache.put(f"{i:064x}", {"text": "old"}, NOW - 10)
    stores.cache.put("f" * 64, {"text": "fresh"}, NOW + 600)
    return World(old, recent, files)


def _service(stores: Stores, media: LocalMediaStore, clock: FakeClock, batch: int = 4) -> CleanupService:
    policy = CleanupPolicy(retention_seconds=RETENTION, limiter_idle_seconds=7 * DAY, batch_size=batch, max_seconds=60)
    return CleanupService(stores.jobs, stores.limiter, stores.cache, media, clock, policy, compact=stores.compact)


def _expected(world: World) -> dict[str, int]:
    return {
        "jobs": len(world.old),
        "media": sum(1 for j in world.old if j.result),
        "inputs": sum(1 for j in world.old if j.input_key),
        "limiter": 4,
        "cache": 3,
        "pending_subscriptions": 0,
        "orphan_media": 0,
        **dict.fromkeys(("metrics", "alerts", "analytics"), 0),  # the operations history (tested on its own)
    }


def _check_only_the_old_is_gone(stores: Stores, world: World) -> None:
    for job in world.old:
        assert stores.jobs.get(job.id) is None
        for key in filter(None, [job.input_key, (job.result or {}).get("key")]):
            assert not world.files[key].exists(), key
    for job in world.recent:
        assert stores.jobs.get(job.id) == job
        for key in filter(None, [job.input_key, (job.result or {}).get("key")]):
            assert world.files[key].exists(), key
    assert stores.cache.get("f" * 64, NOW) == {"text": "fresh"}
    policy = Policy("anonymous", 3, grace=1)
    assert not stores.limiter.acquire("ip:10.0.1.1", NOW, policy).grace, "recent limiter state stays (grace used)"
    assert stores.limiter.acquire("ip:10.0.0.1", NOW, policy).grace, "idle state went: grace again"
    for job in world.old:  # the old jobs' idempotency keys are free: a new submit makes a new job
        if job.idempotency_key:
            again, created = stores.jobs.create(make_job(NOW, owner=job.owner, idempotency_key=job.idempotency_key))
            assert created and again.id != job.id
    for job in world.recent:  # the recent ones still hold theirs
        if job.idempotency_key:
            again, created = stores.jobs.create(make_job(NOW, owner=job.owner, idempotency_key=job.idempotency_key))
            assert not created and again.id == job.id


@pytest.fixture
def media(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media", b"k" * 32, "/api/v1/media", 3600)


def test_cleanup_deletes_exactly_what_is_past_its_time(stores, media):
    world = _world(stores, media)
    report = _service(stores, media, FakeClock(NOW)).run()
    assert report.complete and report.stopped_in is None
    counts = dict(report.deleted)
    idempotency = counts.pop("idempotency")
    assert counts == _expected(world)
    assert idempotency in (0, sum(1 for j in world.old if j.idempotency_key))  # Firestore: marker documents
    _check_only_the_old_is_gone(stores, world)
    again = _service(stores, media, FakeClock(NOW)).run()
    assert sum(again.deleted.values()) == 0, "a second run finds nothing"


def test_batches_stop_at_the_budget_and_the_next_run_resumes(stores, media):
    world = _world(stores, media, n_old=9)
    clock = FakeClock(NOW)
    first = _service(stores, media, clock, batch=2).run(max_batches=3)
    assert not first.complete and first.stopped_in == "jobs" and first.batches == 3
    assert first.deleted["jobs"] == 6
    second = _service(stores, media, clock, batch=2).run()
    assert second.complete
    assert first.deleted["jobs"] + second.deleted["jobs"] == 9
    assert first.deleted["media"] + second.deleted["media"] == _expected(world)["media"]
    assert second.deleted["limiter"] == 4 and second.deleted["cache"] == 3
    _check_only_the_old_is_gone(stores, world)


def test_a_time_budget_stops_a_run_between_batches(stores, media):
    _world(stores, media, n_old=6)

    class SlowClock(FakeClock):
        def now(self) -> float:  # every reading is 10 s later: the 25 s budget fits 2 batches
            self.advance(10)
            return super().now()

    report = _service(stores, media, SlowClock(NOW), batch=2).run(max_seconds=25)
    assert not report.complete and report.deleted["jobs"] in (2, 4)


def test_two_runs_at_once_delete_everything_once(stores, media):
    world = _world(stores, media, n_old=14)
    reports = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        reports.append(_service(stores, media, FakeClock(NOW), batch=3).run())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(reports) == 2 and all(r.complete for r in reports)
    total = {kind: sum(r.deleted[kind] for r in reports) for kind in reports[0].deleted}
    total.pop("idempotency")
    assert total == _expected(world), "no row deleted or counted twice"
    _check_only_the_old_is_gone(stores, world)


def test_orphan_files_past_the_retention_go_and_backups_stay(stores, media):
    orphans, young = [], []
    for i in range(5):  # files whose job is gone already (Firestore's TTL deleted it first)
        key = f"outputs/orphan{i}.png"
        media.put(key, b"x", "image/png")
        os.utime(media.path_for(key), (NOW - RETENTION - 2 * DAY, NOW - RETENTION - 2 * DAY))
        orphans.append(media.path_for(key))
    for key in ("outputs/young.png", "inputs/young.webp"):  # just uploaded: their job is being made
        media.put(key, b"x", "image/png")
        os.utime(media.path_for(key), (NOW - 60, NOW - 60))
        young.append(media.path_for(key))
    backup = media.root / "backups" / "gateway-20260101T000000Z.sqlite3.gz"
    backup.parent.mkdir(parents=True)
    backup.write_bytes(b"gz")
    os.utime(backup, (NOW - 400 * DAY, NOW - 400 * DAY))
    report = _service(stores, media, FakeClock(NOW)).run()
    assert report.deleted["orphan_media"] == 5
    assert not any(p.exists() for p in orphans) and all(p.exists() for p in young) and backup.exists()


def test_the_orphan_sweep_resumes_from_its_cursor(stores, media, monkeypatch):
    import shared.services.cleanup as cleanup

    monkeypatch.setattr(cleanup, "LIST_PAGE", 3)
    for i in range(8):
        key = f"outputs/o{i}.png"
        media.put(key, b"x", "image/png")
        os.utime(media.path_for(key), (NOW - RETENTION - 2 * DAY, NOW - RETENTION - 2 * DAY))
    service = _service(stores, media, FakeClock(NOW), batch=50)
    first = service.run(max_batches=4)  # jobs, idempotency, limiter, cache: 4 batches
    assert first.deleted["orphan_media"] == 0 and first.stopped_in == "orphan_media"
    second = service.run(max_batches=5)  # 4 + one page of 3 files
    assert second.deleted["orphan_media"] == 3 and not second.complete
    third = service.run()
    assert third.complete and third.deleted["orphan_media"] == 5
    assert media.objects("outputs/") == []


def test_orphans_are_deleted_at_most_a_batch_at_a_time(stores, media):
    for i in range(5):
        key = f"inputs/orphan{i}.webp"
        media.put(key, b"x", "image/webp")
        os.utime(media.path_for(key), (NOW - RETENTION - 2 * DAY, NOW - RETENTION - 2 * DAY))
    service = _service(stores, media, FakeClock(NOW), batch=2)
    first = service.run(max_batches=4 + 3)  # jobs, idempotency, limiter, cache, outputs/, two batches of inputs/
    assert first.deleted["orphan_media"] == 4 and not first.complete
    second = service.run()
    assert second.complete and second.deleted["orphan_media"] == 1
    assert media.objects("inputs/") == []
