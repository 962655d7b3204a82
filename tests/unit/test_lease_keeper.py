"""Lease renewal with a fake clock on a real SQLite store."""

from shared.domain import Mode
from shared.jobs.runner import LeaseKeeper
from shared.stores.base import Job
from shared.stores.factory import open_sqlite
from tests.fakes.clock import FakeClock


def test_only_leases_a_third_old_are_renewed_and_lost_ones_are_dropped(tmp_path):
    clock = FakeClock()
    stores = open_sqlite(tmp_path / "l.sqlite3")
    jobs = stores.jobs
    job = Job(
        id="lease-job-000000",
        owner="ip:1.1.1.1",
        tier="anonymous",
        priority=3,
        mode=Mode.TEXT_TO_IMAGE,
        params={"prompt": "x"},
        created_at=clock.now(),
    )
    jobs.create(job)
    claimed = jobs.claim_next("w", clock.now(), 30)
    keeper = LeaseKeeper(jobs, clock, 30)
    keeper.hold(claimed.id, "w")
    keeper.renew_all()
    assert jobs.get(job.id).lease_expires_at == claimed.lease_expires_at, "a fresh lease is not renewed"
    clock.advance(10)
    keeper.renew_all()
    assert jobs.get(job.id).lease_expires_at == clock.now() + 30
    clock.advance(5)
    keeper.renew_all()
    assert jobs.get(job.id).lease_expires_at == clock.now() + 25, "renewed 5 s ago: left alone"
    jobs.cancel(job.id, clock.now())
    clock.advance(10)
    keeper.renew_all()
    assert keeper.held() == {}, "a canceled job's lease is dropped, not renewed"
    keeper.stop()
    stores.close()
