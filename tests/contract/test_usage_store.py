"""The usage store and the user records' account fields: the same contract on SQLite and Firestore.

Text requests are usage records of their own; a succeeded media job is its own usage record; a
month pages newest first across both with a cursor, and totals per mode count both.
"""

from __future__ import annotations

from shared.domain import Job, JobStatus, Mode, Outcome
from shared.stores.base import UsageRecord, UserRecord

JAN = 1_798_761_600.0  # 2027-01-01 00:00 UTC
FEB = 1_801_440_000.0  # 2027-02-01 00:00 UTC


def _text(n: int, at: float, owner: str = "user:u1") -> UsageRecord:
    return UsageRecord(f"t{n:03d}", owner, at, Mode.TEXT, "openai", "chat", 0.5, 0.01 * n, 100.0 * n)


def _job(stores, n: int, at: float, owner: str = "user:u1", finish: bool = True) -> Job:
    job = Job(f"job-{n:03d}-xxxxxxxxxxxx", owner, "registered", 2, Mode.TEXT_TO_IMAGE, {"prompt": "x"}, at)
    stores.jobs.create(job)
    if finish:
        assert stores.jobs.claim(job.id, "w", at, 30) is not None
        outcome = Outcome(JobStatus.SUCCEEDED, at + 4, {"key": "k"}, provider="stability", model="core", cost_units=3.0)
        assert stores.jobs.finish(job.id, "w", outcome)
    return job


def _all_pages(stores, owner: str, start: float, end: float, limit: int) -> list[str]:
    seen, cursor = [], None
    while True:
        items, cursor = stores.usage.page(owner, start, end, cursor, limit)
        assert len(items) <= limit
        seen += [i.id for i in items]
        if cursor is None:
            return seen


def test_a_month_pages_newest_first_across_text_and_jobs(stores):
    for n in range(5):
        stores.usage.record(_text(n, JAN + 100 + n * 10))
    jobs = [_job(stores, n, JAN + 105 + n * 10) for n in range(3)]
    _job(stores, 9, JAN + 500, finish=False)  # queued: no usage yet
    stores.usage.record(_text(7, FEB + 1))  # next month
    stores.usage.record(_text(8, JAN + 50, owner="user:someone-else"))
    expected = sorted(
        [(JAN + 100 + n * 10, f"t{n:03d}") for n in range(5)] + [(j.created_at, j.id) for j in jobs], reverse=True
    )
    for limit in (1, 2, 3, 50):
        assert _all_pages(stores, "user:u1", JAN, FEB, limit) == [key for _, key in expected], limit
    first, _ = stores.usage.page("user:u1", JAN, FEB, None, 50)
    image = next(i for i in first if i.mode is Mode.TEXT_TO_IMAGE)
    assert (image.provider, image.model, image.cost_units, image.quantity, image.duration) == (
        "stability",
        "core",
        3.0,
        1.0,
        4.0,
    )
    assert [i.id for i in stores.usage.page("user:u1", FEB, FEB + 86400 * 28, None, 10)[0]] == ["t007"]


def test_totals_per_mode_count_text_and_succeeded_jobs(stores):
    for n in range(1, 4):
        stores.usage.record(_text(n, JAN + n))
    _job(stores, 1, JAN + 10)
    _job(stores, 2, JAN + 20)
    _job(stores, 3, JAN + 30, finish=False)
    totals = stores.usage.totals("user:u1", JAN, FEB)
    assert totals[Mode.TEXT][0] == 3 and abs(totals[Mode.TEXT][1] - 0.06) < 1e-9
    assert totals[Mode.TEXT_TO_IMAGE] == (2, 6.0)
    assert stores.usage.totals("user:nobody", JAN, FEB) == {}
    assert stores.usage.purge(JAN + 2) == 1


def test_user_records_are_made_once_and_updated_field_by_field(stores):
    made = stores.users.create(UserRecord("u9", email="a@example.com", created_at=JAN, last_active=JAN))
    assert made.email == "a@example.com"
    again = stores.users.create(UserRecord("u9", email="other@example.com", created_at=FEB))
    assert again.email == "a@example.com" and again.created_at == JAN, "the first record wins"
    assert stores.users.update("u9", {"tier": "donor", "tier_expires_at": FEB})
    assert stores.users.update("u9", {"last_active": JAN + 86400})
    record = stores.users.get("u9")
    assert (record.tier, record.tier_expires_at, record.last_active, record.email) == (
        "donor",
        FEB,
        JAN + 86400,
        "a@example.com",
    )
    assert not stores.users.update("nobody", {"tier": "donor"})
