"""The spend guard's pure rules: periods in a time zone, which budgets apply, estimates, prefetch."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from shared.budget.decision import exhausted_message, free_allowed, retry_after
from shared.budget.lines import BudgetLine, BudgetUsage, Reservation
from shared.budget.periods import period
from shared.budget.rules import BudgetCaps, Spender, lines_for, text_spent, text_tokens, video_units
from shared.budget.status import status
from shared.stores.firestore.budgets import prefetch

NY = ZoneInfo("America/New_York")


def _at(zone: ZoneInfo, *parts: int) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()


def test_a_day_runs_from_local_midnight_to_local_midnight_and_knows_daylight_saving():
    day = period("day", _at(NY, 2027, 3, 14, 12), NY)  # the spring-forward day: 23 hours
    assert (day.label, day.start, day.end) == ("2027-03-14", _at(NY, 2027, 3, 14), _at(NY, 2027, 3, 15))
    assert day.end - day.start == 23 * 3600
    autumn = period("day", _at(NY, 2027, 11, 7, 12), NY)
    assert autumn.end - autumn.start == 25 * 3600
    utc = period("day", _at(ZoneInfo("UTC"), 2027, 1, 15, 23, 59, 59), ZoneInfo("UTC"))
    assert utc.group == "day:2027-01-15"


def test_a_month_runs_to_the_first_of_the_next_one_across_the_year():
    december = period("month", _at(NY, 2027, 12, 31, 23, 30), NY)
    assert (december.group, december.end) == ("month:2027-12", _at(NY, 2028, 1, 1))
    # 03:00 UTC on Feb 1st is still January in New York
    january = period("month", _at(ZoneInfo("UTC"), 2027, 2, 1, 3), NY)
    assert january.label == "2027-01"


def test_which_budgets_a_call_falls_under():
    caps = BudgetCaps(
        daily=100, monthly=1000, provider_daily={"stability": 30}, anonymous_daily=10, user_monthly={"registered": 5}
    )
    now = _at(ZoneInfo("UTC"), 2027, 1, 15, 8)
    anonymous = lines_for(caps, "stability", Spender("anonymous"), now)
    assert [(b.group, b.name, b.cap) for b in anonymous] == [
        ("day:2027-01-15", "deployment", 100),
        ("month:2027-01", "deployment", 1000),
        ("day:2027-01-15", "provider_stability", 30),
        ("day:2027-01-15", "anonymous", 10),
    ]
    user = lines_for(caps, "dashscope", Spender("registered", "u1"), now)
    assert [(b.name, b.cap, b.pooled) for b in user] == [
        ("deployment", 100, True),
        ("deployment", 1000, True),
        ("user", 5, False),
    ]
    assert user[-1].group == "user:u1:month:2027-01"
    assert lines_for(caps, "dashscope", Spender("donor", "u2"), now)[-1].name == "deployment"  # no donor cap
    assert lines_for(caps, "dashscope", Spender("donor", "u2", override=7), now)[-1].cap == 7  # the record wins
    assert not BudgetCaps().enabled and BudgetCaps(provider_daily={"x": 1}).enabled


def test_estimates_are_upper_bounds_of_what_a_vendor_bills():
    assert video_units(2.0, 2.0) == 4.0
    assert video_units(2.0, 2.5) == 6.0  # vendors bill whole seconds: round(2.5) may be 3
    assert video_units(2.0, 0.2) == 2.0  # at least one second
    prompt = "héllo"  # 6 bytes: a byte-level tokenizer never makes more tokens than bytes
    assert text_tokens([prompt], 100) == 6 + 4 + 3 + 100
    assert text_spent(0.05, [prompt], 10, 20, "ignored") == pytest.approx(0.05 * 30 / 1000)
    assert text_spent(0.05, [prompt], 0, 0, "ok") == pytest.approx(0.05 * (13 + 2) / 1000)  # no usage reported


def test_prefetch_takes_whole_reservations_and_none_near_the_cap():
    assert prefetch(1.0, 99.0) == 8.0
    assert prefetch(1.0, 19.0) == 2.0
    assert prefetch(1.0, 7.9) == 0.0
    assert prefetch(0.0, 100.0) == 0.0


def test_what_a_refusal_says():
    day = BudgetLine("day:x", "deployment", 3, 1_000_000 + 7200)
    month = BudgetLine("month:x", "deployment", 3, 1_000_000 + 86400 * 20)
    assert retry_after([month, day], 1_000_000) == 7200
    assert "2 hours" in exhausted_message([day], 7200)
    assert "Your account" in exhausted_message([BudgetLine("user:u:month:x", "user", 1, 0, False)], 5)
    assert free_allowed(False, "refuse") and free_allowed(True, "local") and not free_allowed(True, "refuse")


def test_a_reservation_travels_on_its_job_as_a_dict():
    held = Reservation("r1", 3.0, (BudgetLine("day:x", "deployment", 10, 5.0), BudgetLine("u", "user", 2, 6, False)))
    assert Reservation.from_dict(held.as_dict()) == held


def test_a_budgets_status_has_what_the_report_and_the_alerts_need():
    line = BudgetLine("day:2027-01-15", "deployment", 100.0, 86400.0)
    found = status(line, BudgetUsage(line.key, 100.0, reserved=10.0, spent=40.0), started=0.0, now=8 * 3600.0)
    assert (found.name, found.period, found.cap, found.remaining) == ("deployment", "day", 100.0, 50.0)
    assert found.burn_rate_per_hour == 5.0 and found.used_fraction == 0.5 and found.resets_at == 86400.0
    assert status(line, None, 0.0, 60.0).remaining == 100.0
