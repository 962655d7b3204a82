"""Analytics on every store: the store's contract, and the admin report's numbers for a known
sequence of generations, text requests and site events (``AnalyticsService`` over each store)."""

from __future__ import annotations

import threading
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest

from shared.analytics.counters import UserFigures
from shared.budget.periods import period
from shared.domain import Caller, Job, JobStatus, Mode, Outcome
from shared.services.analytics import AnalyticsService
from shared.stores.base import UserRecord
from tests.contract.test_job_store import make_job
from tests.fakes.clock import FakeClock

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
DAY = 86400.0
UTC = ZoneInfo("UTC")
TODAY = period("day", T0, UTC)
YESTERDAY = period("day", T0 - DAY, UTC)


def test_add_sums_counters_per_day_and_reads_a_window(stores):
    analytics = stores.analytics
    analytics.add(TODAY.label, TODAY.start, {"gen:text:succeeded": 1, "ttr:sum": 2.5})
    analytics.add(TODAY.label, TODAY.start, {"gen:text:succeeded": 1, "ttr:sum": 0.25, "page:/": 1})
    analytics.add(YESTERDAY.label, YESTERDAY.start, {"gen:text:failed": 3})
    assert analytics.counters(TODAY.start, TODAY.end) == {
        TODAY.label: {"gen:text:succeeded": 2, "ttr:sum": 2.75, "page:/": 1}
    }
    both = analytics.counters(YESTERDAY.start, TODAY.end)
    assert both[YESTERDAY.label] == {"gen:text:failed": 3} and set(both) == {TODAY.label, YESTERDAY.label}
    assert analytics.counters(TODAY.end, TODAY.end + DAY) == {}


def test_concurrent_adds_lose_nothing(stores):
    def add() -> None:
        for _ in range(5):
            stores.analytics.add(TODAY.label, TODAY.start, {"n": 1, "cost:x": 0.5})

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stores.analytics.counters(TODAY.start, TODAY.end)[TODAY.label] == {"n": 40, "cost:x": 20.0}


def test_a_visitor_is_marked_once_a_day_and_counted_per_kind(stores):
    analytics = stores.analytics
    assert analytics.mark_visitor(TODAY.label, TODAY.start, "v1", "anonymous") is True
    assert analytics.mark_visitor(TODAY.label, TODAY.start, "v1", "anonymous") is False
    assert analytics.mark_visitor(TODAY.label, TODAY.start, "v2", "signed_in") is True
    assert analytics.mark_visitor(TODAY.label, TODAY.start, "v3", "signed_in") is True
    assert analytics.mark_visitor(YESTERDAY.label, YESTERDAY.start, "v1", "anonymous") is True
    assert analytics.visitors(TODAY.label) == {"anonymous": 1, "signed_in": 2}
    assert analytics.visitors(YESTERDAY.label) == {"anonymous": 1}
    assert analytics.visitors("2000-01-01") == {}


def test_earlier_job_looks_only_at_the_owners_jobs_since_the_start(stores):
    first = make_job(TODAY.start + 10, owner="user:a")
    second = make_job(TODAY.start + 20, owner="user:a")
    other = make_job(TODAY.start + 5, owner="user:b")
    last_night = make_job(TODAY.start - 5, owner="user:a")
    for job in (first, second, other, last_night):
        stores.jobs.create(job)
    analytics = stores.analytics
    assert analytics.earlier_job("user:a", TODAY.start, first) is False
    assert analytics.earlier_job("user:a", TODAY.start, second) is True
    assert analytics.earlier_job("user:b", TODAY.start, other) is False
    assert analytics.earlier_job("user:a", YESTERDAY.start, first) is True


def test_users_by_tier_and_sign_ups_in_a_window(stores):
    users = stores.users
    users.create(UserRecord("a", tier="registered", created_at=T0 - 10 * DAY))
    users.create(UserRecord("b", tier="registered", created_at=T0 - 1))
    users.create(UserRecord("c", tier="donor", created_at=T0 - 2))
    users.create(UserRecord("d", tier="donor", created_at=T0 - 20 * DAY))
    figures = stores.analytics.users(["registered", "donor"], T0 - DAY, T0)
    assert figures.by_tier == {"registered": 2, "donor": 2}
    assert (figures.signed_up, figures.signed_up_donors) == (2, 1)
    assert stores.analytics.users(["registered"], T0, T0 + DAY) == UserFigures({"registered": 2}, 0, 0)


def test_purge_deletes_days_that_began_before_the_cutoff(stores):
    analytics = stores.analytics
    old = period("day", T0 - 40 * DAY, UTC)
    analytics.add(old.label, old.start, {"a": 1, "b": 2})
    analytics.mark_visitor(old.label, old.start, "v", "anonymous")
    analytics.add(TODAY.label, TODAY.start, {"a": 1})
    analytics.mark_visitor(TODAY.label, TODAY.start, "v", "anonymous")
    deleted = 0
    while True:
        batch = analytics.purge(T0 - 30 * DAY, 1)
        assert batch <= 1
        if batch == 0:
            break
        deleted += batch
    assert deleted >= 2  # the visitor mark and the counters (rows or documents)
    assert analytics.counters(old.start, TODAY.end) == {TODAY.label: {"a": 1}}
    assert analytics.visitors(old.label) == {} and analytics.visitors(TODAY.label) == {"anonymous": 1}


# -- the report's numbers for a known sequence ---------------------------------------------------


def _finish(stores, service: AnalyticsService, job: Job, wait: float, took: float, **outcome) -> None:
    """Store ``job``, then report it finished ``wait`` + ``took`` seconds after its submit."""
    stores.jobs.create(job)
    started = job.created_at + wait
    failed_provider = outcome.pop("failed_provider", None)
    status = outcome.pop("status", JobStatus.SUCCEEDED)
    claimed = replace(job, started_at=started, status=JobStatus.RUNNING)
    service.job_finished(claimed, Outcome(status, started + took, **outcome), failed_provider)


def _sequence(stores, clock: FakeClock, service: AnalyticsService) -> None:
    y, t = YESTERDAY.start + 3600, TODAY.start + 3600
    alice, carol, dave = "user:alice", "user:carol", "user:dave"
    failed = JobStatus.FAILED
    _finish(stores, service, make_job(y, owner=alice, tier="registered"), 2, 4, provider="stability", cost_units=3.0)
    video = make_job(y + 10, owner="anon:x", mode=Mode.TEXT_TO_VIDEO)
    _finish(stores, service, video, 30, 60, status=failed, failed_provider="dashscope")
    clock.advance(-DAY)  # yesterday's page view
    visitor = Caller(key="anon:1", tier="anonymous", ip="198.51.100.7")
    service.event("page_view", "/", visitor, "198.51.100.7|Firefox")
    clock.advance(DAY)
    _finish(stores, service, make_job(t, owner=alice, tier="registered"), 1, 2, provider="stability", cost_units=3.0)
    _finish(stores, service, make_job(t + 5, owner=alice, tier="registered"), 1, 19, provider="local")
    i2i = make_job(t + 7, owner=carol, tier="anonymous", mode=Mode.IMAGE_TO_IMAGE)
    _finish(stores, service, i2i, 2, 41, provider="gemini", cost_units=2.0)
    _finish(stores, service, make_job(t + 8, owner=dave, tier="donor"), 0, 3, status=failed, failed_provider="openai")
    alice_caller = Caller(key=alice, tier="registered", ip="203.0.113.1", user_id="alice")
    carol_caller = Caller(key=carol, tier="anonymous", ip="203.0.113.2", user_id="carol")
    nobody = Caller(key="anon:2", tier="anonymous", ip="203.0.113.3")
    service.text_finished(alice_caller, "openai", True, 0.05, clock.now() - 2, False)
    service.text_finished(nobody, "gemini", False, 0.0, clock.now(), False)
    service.text_finished(carol_caller, "openai", True, 0.0, clock.now() - 0.5, True)
    service.event("page_view", "/", visitor, "198.51.100.7|Firefox")
    service.event("page_view", "/donate?from=menu", alice_caller, "203.0.113.1|Chrome")
    service.event("page_view", "/weird", alice_caller, "203.0.113.1|Chrome")
    service.event("donate_click", "/donate", alice_caller, "203.0.113.1|Chrome")
    service.event("sign_up", "/", carol_caller, "203.0.113.2|Chrome")
    stores.users.create(UserRecord("alice", tier="registered", created_at=y - 60))
    stores.users.create(UserRecord("dave", tier="donor", created_at=t - 60))
    stores.users.create(UserRecord("erin", tier="registered", created_at=T0 - 10 * DAY))


@pytest.fixture
def analytics(stores):
    clock = FakeClock(T0)
    service = AnalyticsService(stores.analytics, clock, "UTC", b"k" * 32, ["/", "/donate"], ["registered", "donor"], 0)
    return stores, clock, service


def test_the_report_matches_a_known_sequence(analytics):
    stores, clock, service = analytics
    _sequence(stores, clock, service)
    report = service.report(2)
    assert (report.start, report.end) == (YESTERDAY.start, TODAY.end)
    yesterday, today = report.days
    assert (yesterday.day, yesterday.active_anonymous, yesterday.active_signed_in) == (YESTERDAY.label, 1, 1)
    assert (yesterday.generations, yesterday.succeeded, yesterday.failed, yesterday.page_views) == (2, 1, 1, 1)
    assert (today.day, today.active_anonymous, today.active_signed_in) == (TODAY.label, 2, 2)
    assert (today.generations, today.succeeded, today.failed, today.page_views) == (7, 5, 2, 3)
    assert today.by_mode == {"image-to-image": 1, "text": 3, "text-to-image": 3}
    assert report.generations == 9 and report.success_rate == round(6 / 9, 4)
    assert report.by_mode == {"image-to-image": 1, "text": 3, "text-to-image": 4, "text-to-video": 1}
    ttr = report.time_to_result  # 6, 3, 20, 43, 2, 0.5 s (succeeded only)
    assert (ttr.count, ttr.average, ttr.p95) == (6, round(74.5 / 6, 3), 45.0)
    wait = report.queue_wait  # 2, 30, 1, 1, 2, 0 s (jobs only)
    assert (wait.count, wait.average, wait.p95) == (6, 6.0, 30.0)
    providers = {name: (p.generations, p.failed, p.error_rate, p.cost_units) for name, p in report.providers.items()}
    assert providers == {
        "dashscope": (1, 1, 1.0, 0.0),
        "gemini": (2, 1, 0.5, 2.0),
        "local": (1, 0, 0.0, 0.0),
        "openai": (2, 1, 0.5, 0.05),
        "stability": (2, 0, 0.0, 6.0),
    }
    assert report.cached_text == 1
    assert report.generations_by_tier == {"anonymous": 4, "donor": 1, "registered": 4}
    assert report.users_by_tier == {"donor": 1, "registered": 2}
    funnel = report.funnel
    assert (funnel.visitors, funnel.generated, funnel.signed_up, funnel.donors) == (6, 4, 2, 1)
    assert report.page_views == {"/": 2, "/donate": 1, "other": 1}
    assert report.events == {"donate_click": 1, "page_view": 4, "sign_up": 1}


def test_a_days_window_reaches_back_whole_calendar_days(analytics):
    stores, clock, service = analytics
    _sequence(stores, clock, service)
    today_only = service.report(1)
    assert [d.day for d in today_only.days] == [TODAY.label] and today_only.generations == 7
    week = service.report(7)
    assert len(week.days) == 7 and week.days[-1].day == TODAY.label and week.generations == 9


def test_text_requests_are_summed_in_memory_and_written_once_per_flush(stores):
    """A busy text route costs the store one counter write per flush, not one per request."""
    clock = FakeClock(T0)
    service = AnalyticsService(stores.analytics, clock, "UTC", b"k" * 32, ["/"], ["registered", "donor"], 10)
    nobody = Caller(key="anon:1", tier="anonymous", ip="203.0.113.9")
    for _ in range(50):
        service.text_finished(nobody, "openai", True, 0.01, clock.now(), False)
    assert stores.analytics.counters(TODAY.start, TODAY.end) == {}  # nothing written yet
    clock.advance(10)
    service.text_finished(nobody, "openai", True, 0.01, clock.now(), False)  # due: this one writes them all
    counters = stores.analytics.counters(TODAY.start, TODAY.end)[TODAY.label]
    assert counters["gen:text:succeeded"] == 51
    service.text_finished(nobody, "gemini", False, 0.0, clock.now(), False)
    service.flush()  # what Gateway.close (registered at exit) does when a worker shuts down
    assert stores.analytics.counters(TODAY.start, TODAY.end)[TODAY.label]["gen:text:failed"] == 1
