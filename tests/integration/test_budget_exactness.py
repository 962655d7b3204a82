"""Budgets stay exact across processes (one SQLite file) and across instances (the Firestore
emulator, one client and one lease pool each): never more reserved than the cap, nothing lost.

Each round asks for three times what the budget affords, from every process or instance at once.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Iterator

import pytest

from shared.budget.lines import BudgetLine, Reservation
from shared.stores.factory import Stores, open_firestore, open_sqlite
from tests.firestore_emulator import FirestoreEmulator

pytestmark = pytest.mark.slow
NOW = 1_800_000_000.0
DAY = BudgetLine("day:2027-01-15", "deployment", 16.0, NOW + 3600)
MONTH = BudgetLine("month:2027-01", "deployment", 1000.0, NOW + 86400)
ANONYMOUS = BudgetLine("day:2027-01-15", "anonymous", 500.0, NOW + 3600)
LINES = (DAY, MONTH, ANONYMOUS)


def _reserve_all(stores: Stores, prefix: str, count: int) -> list[Reservation]:
    """``count`` reservations of one unit at once (threads) through one store instance."""
    admitted: list[Reservation] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def fire(index: int) -> None:
        held = Reservation(f"{prefix}-{index}", 1.0, LINES, "stability")
        barrier.wait()
        if stores.budgets.reserve(held, NOW) is None:
            with lock:
                admitted.append(held)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return admitted


def _process(path: str, prefix: str, start, results) -> None:
    stores = open_sqlite(path)
    start.wait()
    results.put([held.id for held in _reserve_all(stores, prefix, 12)])
    stores.close()


def test_four_processes_on_one_sqlite_file_reserve_exactly_the_budget(tmp_path):
    path = str(tmp_path / "shared.sqlite3")
    open_sqlite(path).close()  # migrate once up front
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(path, f"p{i}", start, results)) for i in range(4)]
    for proc in procs:
        proc.start()
    start.set()
    admitted = [held for _ in procs for held in results.get(timeout=120)]
    for proc in procs:
        proc.join(timeout=60)
    assert len(admitted) == 16  # 48 asked for, 16 fit
    stores = open_sqlite(path)
    for held in admitted[:8]:  # spent a quarter each, gave three quarters back
        assert stores.budgets.settle(Reservation(held, 1.0, LINES), 0.25, NOW)
    usage = stores.budgets.usage(LINES)
    assert (usage[DAY.key].reserved, usage[DAY.key].spent) == (16 - 8, 2.0)  # 8 settled: 6 given back
    assert usage[MONTH.key].reserved + usage[MONTH.key].spent == 10 and usage[DAY.key].remaining == 6
    more = _reserve_all(stores, "late", 12)
    assert len(more) == 6
    stores.close()


@pytest.fixture
def instances(firestore_emulator: FirestoreEmulator) -> Iterator[list[Stores]]:  # noqa: F811
    settings = firestore_emulator.settings()
    bundles = [open_firestore(settings) for _ in range(4)]
    yield bundles
    for bundle in bundles:
        bundle.close()
    firestore_emulator.reset(settings.firestore_project)


def test_four_firestore_instances_never_pass_the_cap_and_lose_nothing(instances):
    rounds: list[int] = []
    for round_number in range(2):
        counts = [0] * len(instances)

        def run(i: int, stores: Stores, r: int = round_number, counts: list[int] = counts) -> None:
            counts[i] = len(_reserve_all(stores, f"r{r}-i{i}", 12))

        threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(instances)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rounds.append(sum(counts))
        for stores in instances:  # what each instance still holds goes back (as at shutdown)
            stores.budgets.flush()
        usage = instances[0].budgets.usage(LINES)[DAY.key]
        assert usage.reserved + usage.spent == sum(rounds) <= DAY.cap, (rounds, usage)
    # Units leased to an instance that had no more callers are not another instance's to use until
    # handed back; once handed back they are admitted: over both rounds, exactly the budget.
    assert sum(rounds) == 16, rounds
    assert rounds[0] >= 16 - 3 * 2, rounds  # at most a 2-unit prefetch was idle in each other instance


def test_what_budget_operations_cost_on_firestore(instances):
    """A reservation from the instance's pool costs nothing; a refill one read and one write (a
    compare-and-set for every budget of the document); settling costs nothing until the spend
    has waited FLUSH_SECONDS, then one write; a pool idle that long goes back in the same write."""
    from shared.stores.firestore.budgets import FLUSH_SECONDS

    submit, worker = instances[0], instances[1]

    def cost(stores: Stores, action) -> tuple[int, int]:
        with stores.ops.track() as tally:
            action()
        return tally.reads, tally.writes

    held = [Reservation(f"c{i}", 1.0, LINES, "stability") for i in range(12)]
    assert cost(submit, lambda: submit.budgets.reserve(held[0], NOW)) == (2, 2)  # day and month documents
    assert cost(submit, lambda: submit.budgets.reserve(held[1], NOW)) == (0, 0)  # from the pool
    assert cost(worker, lambda: worker.budgets.settle(held[0], 1.0, NOW)) == (0, 0)
    assert cost(worker, lambda: worker.budgets.settle(held[1], 0.5, NOW + FLUSH_SECONDS)) == (0, 2)
    tomorrow = Reservation("t", 1.0, (BudgetLine("day:2027-01-16", "deployment", 16.0, NOW + 90000),), "stability")
    later = NOW + 2 * FLUSH_SECONDS  # yesterday's pools went idle: handed back, one write per document
    assert cost(submit, lambda: submit.budgets.reserve(tomorrow, later)) == (1, 3)
    usage = worker.budgets.usage(LINES)
    assert (usage[DAY.key].spent, usage[DAY.key].reserved) == (1.5, 0)  # 1 + 0.5 spent, 0.5 given back
    assert usage[ANONYMOUS.key].reserved == 0 and usage[MONTH.key].spent == 1.5
