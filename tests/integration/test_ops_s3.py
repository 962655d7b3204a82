"""Cleanup and backups on a bucket (S3MediaStore against moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.media_s3 import S3MediaStore, s3_client
from shared.services.backup import BackupService
from shared.services.cleanup import CleanupPolicy, CleanupService
from shared.stores.factory import Stores, open_sqlite
from tests.contract.test_job_store import make_job
from tests.fakes.clock import FakeClock
from tests.helpers import free_port

pytestmark = pytest.mark.slow
DAY = 86400.0


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> S3MediaStore:
    name = f"ops-{request.node.name.replace('_', '-')[:40].lower()}"
    client = s3_client(s3_endpoint, "us-east-1", "test", "test")
    client.create_bucket(Bucket=name)
    return S3MediaStore(client, name, 600, prefix="gw")


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    bundle = open_sqlite(tmp_path / "gateway.sqlite3")
    yield bundle
    bundle.close()


def _cleanup(stores: Stores, media: S3MediaStore, clock: FakeClock) -> CleanupService:
    policy = CleanupPolicy(retention_seconds=30 * DAY, batch_size=3, max_seconds=120)
    return CleanupService(stores.jobs, stores.limiter, stores.cache, media, clock, policy, stores.compact)


def test_cleanup_deletes_old_jobs_outputs_and_inputs_from_the_bucket(stores, bucket):
    now = time.time()  # the bucket stamps objects with the real time
    old, recent = [], []
    for i in range(5):
        for group, age in ((old, 31 * DAY), (recent, 29 * DAY)):
            job = make_job(now - age - i)
            job = job.evolve(input_key=f"inputs/{job.id}.png", result={"key": f"outputs/{job.id}.png"})
            bucket.put(job.input_key, b"in", "image/png")
            bucket.put(job.result["key"], b"out", "image/png")
            stores.jobs.create(job)
            group.append(job)
    report = _cleanup(stores, bucket, FakeClock(now)).run()
    assert report.complete
    assert (report.deleted["jobs"], report.deleted["media"], report.deleted["inputs"]) == (5, 5, 5)
    assert report.deleted["orphan_media"] == 0, "objects of live jobs are never orphans"
    for job in old:
        assert bucket.read(job.input_key) is None and bucket.read(job.result["key"]) is None
    for job in recent:
        assert bucket.read(job.input_key) == b"in" and bucket.read(job.result["key"]) == b"out"
    left = sorted(o.key for prefix in ("inputs/", "outputs/") for o in bucket.objects(prefix))
    assert len(left) == 10


def test_orphans_in_the_bucket_go_by_age_and_backups_stay(stores, bucket):
    for i in range(7):
        bucket.put(f"outputs/orphan{i}.mp4", b"v", "video/mp4")
    later = FakeClock(time.time() + 32 * DAY)  # a month and a day later, nothing refers to them
    bucket.client.put_object(Bucket=bucket.bucket, Key="gw/backups/gateway-20270101T000000Z.sqlite3.gz", Body=b"x")
    pages = [bucket.objects("outputs/", "", 3)]
    pages.append(bucket.objects("outputs/", pages[-1][-1].key, 3))
    pages.append(bucket.objects("outputs/", pages[-1][-1].key, 3))
    assert [len(page) for page in pages] == [3, 3, 1], "listed in key order from the cursor"
    assert len({o.key for page in pages for o in page}) == 7
    report = _cleanup(stores, bucket, later).run()
    assert report.deleted["orphan_media"] == 7 and report.batches > 5  # batches of 3 deletes
    assert bucket.objects("outputs/") == []
    assert [o.key for o in bucket.objects("backups/")] == ["backups/gateway-20270101T000000Z.sqlite3.gz"]


def test_a_backup_in_the_bucket_restores_into_a_fresh_data_directory(stores, bucket, tmp_path):
    job = make_job(1_800_000_000.0)
    stores.jobs.create(job)
    clock = FakeClock(1_800_000_000.0)
    service = BackupService(bucket, clock, keep=2, database=stores.database_path)
    names = []
    for _ in range(3):
        names.append(service.run(force=True).name)
        clock.advance(3600)
    listed = service.backups()
    assert [o.key for o in listed] == [f"backups/{n}" for n in names[:0:-1]], "the newest 2 are kept"
    stored = bucket.client.list_objects_v2(Bucket=bucket.bucket, Prefix="gw/backups/")["Contents"]
    assert len(stored) == 2, "kept under the store's prefix"
    target = tmp_path / "fresh" / "gateway.sqlite3"
    assert service.restore(names[-1], target) is None
    fresh = open_sqlite(target)
    try:
        assert fresh.jobs.get(job.id) == job
    finally:
        fresh.close()
