"""The budget store contract: reservations are all-or-nothing, never pass a cap, settle once.

Runs on every store. Firestore leases budget to the instance in chunks, so its counters show the
whole truth only after ``flush`` (the instance hands back what it holds); SQLite has nothing to
hand back. Both refuse and admit exactly the same reservations.
"""

from __future__ import annotations

import itertools
import threading

from shared.budget.lines import BudgetLine, BudgetUsage, Reservation

NOW = 1_800_000_000.0
DAY = "day:2027-01-15"
MONTH = "month:2027-01"
RESET = NOW + 3600
_ids = itertools.count()


def line(name: str = "deployment", cap: float = 10.0, group: str = DAY, pooled: bool = True) -> BudgetLine:
    return BudgetLine(group, name, cap, RESET, pooled)


def reservation(units: float, *lines: BudgetLine, provider: str = "stability") -> Reservation:
    return Reservation(f"r{next(_ids)}", units, tuple(lines), provider)


def counters(store, *lines: BudgetLine) -> dict[str, tuple[float, float]]:
    """(reserved, spent) per budget once the instance handed back what it holds."""
    store.flush()
    found = store.usage(lines)
    return {b.key: (round(found[b.key].reserved, 6), round(found[b.key].spent, 6)) for b in lines if b.key in found}


def test_a_reservation_within_every_cap_is_made_and_counted(budget_store):
    day, month = line(cap=10), line(cap=100, group=MONTH)
    assert budget_store.reserve(reservation(3, day, month), NOW) is None
    assert counters(budget_store, day, month) == {day.key: (3, 0), month.key: (3, 0)}
    usage = budget_store.usage([day])[day.key]
    assert usage == BudgetUsage(day.key, 10, 3, 0) and usage.remaining == 7


def test_a_reservation_is_all_or_nothing_and_names_the_budget_without_room(budget_store):
    roomy, tight = line("deployment", cap=10), line("provider_stability", cap=2)
    assert budget_store.reserve(reservation(3, roomy, tight), NOW) == tight
    assert budget_store.reserve(reservation(2, roomy, tight), NOW) is None
    assert counters(budget_store, roomy, tight) == {roomy.key: (2, 0), tight.key: (2, 0)}
    assert budget_store.reserve(reservation(0.5, roomy, tight), NOW) == tight


def test_settling_spends_the_real_cost_gives_the_rest_back_and_happens_once(budget_store):
    day = line(cap=10)
    held = reservation(4, day)
    assert budget_store.reserve(held, NOW) is None
    assert budget_store.settle(held, 1.5, NOW + 1) is True
    assert budget_store.settle(held, 1.5, NOW + 2) is False
    assert budget_store.settle(held, 0, NOW + 2) is False
    assert counters(budget_store, day) == {day.key: (0, 1.5)}
    assert budget_store.reserve(reservation(8.5, day), NOW) is None  # exactly what is left
    assert budget_store.reserve(reservation(0.01, day), NOW) == day


def test_a_release_gives_everything_back_and_spend_never_exceeds_the_reservation(budget_store):
    day = line(cap=5)
    first = reservation(5, day)
    assert budget_store.reserve(first, NOW) is None
    assert budget_store.reserve(reservation(1, day), NOW) == day
    budget_store.settle(first, 0, NOW)  # released: the vendor was never paid
    second = reservation(5, day)
    assert budget_store.reserve(second, NOW) is None
    budget_store.settle(second, 7, NOW)  # billed more than reserved: counted as the reservation
    assert counters(budget_store, day) == {day.key: (0, 5)}


def test_a_users_own_budget_is_exact_too(budget_store):
    mine = line("user", cap=3, group="user:u1:month:2027-01", pooled=False)
    shared = line(cap=100)
    held = reservation(2, shared, mine)
    assert budget_store.reserve(held, NOW) is None
    assert budget_store.reserve(reservation(2, shared, mine), NOW) == mine
    budget_store.settle(held, 0.5, NOW)
    assert budget_store.reserve(reservation(2.5, shared, mine), NOW) is None
    assert budget_store.reserve(reservation(0.01, shared, mine), NOW) == mine
    usage = budget_store.usage([mine, shared])
    assert usage[mine.key].remaining == 0
    assert counters(budget_store, shared) == {shared.key: (2.5, 0.5)}  # the refused ones took nothing


def test_periods_and_budgets_are_independent(budget_store):
    today, tomorrow = line(cap=2), line(cap=2, group="day:2027-01-16")
    anonymous = line("anonymous", cap=1)
    assert budget_store.reserve(reservation(2, today), NOW) is None
    assert budget_store.reserve(reservation(1, today), NOW) == today
    assert budget_store.reserve(reservation(2, tomorrow), NOW) is None
    assert budget_store.reserve(reservation(1, anonymous), NOW) is None
    assert budget_store.usage([line("never_used")]) == {}


def _burst(store, lines: tuple[BudgetLine, ...], units: float, callers: int) -> list[Reservation]:
    admitted: list[Reservation] = []
    lock = threading.Lock()
    barrier = threading.Barrier(callers)

    def fire() -> None:
        held = reservation(units, *lines)
        barrier.wait()
        if store.reserve(held, NOW) is None:
            with lock:
                admitted.append(held)

    workers = [threading.Thread(target=fire) for _ in range(callers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return admitted


def test_fifty_concurrent_reservations_worth_three_times_the_budget_admit_exactly_the_affordable(budget_store):
    day, month = line(cap=5.0), line(cap=1000, group=MONTH)
    admitted = _burst(budget_store, (day, month), 0.3, 50)  # 50 x 0.3 = 15 = 3 x the cap
    assert len(admitted) == 16  # 16 x 0.3 = 4.8 <= 5 < 17 x 0.3
    for held in admitted[:6]:
        budget_store.settle(held, 0.1, NOW)  # text that used fewer tokens gives the rest back
    reserved, spent = counters(budget_store, day)[day.key]
    assert spent == 0.6 and reserved == round(10 * 0.3, 6) and reserved + spent <= day.cap
    assert len(_burst(budget_store, (day, month), 0.3, 20)) == 4  # 1.4 left: 4 x 0.3
