"""Spend budgets on Firestore: budget leased to instances in chunks, so that no document takes a
write per reservation (Firestore sustains about one write per second on a document).

Document ``budgets/{group}``, one per period (``day:2026-11-24``, ``month:2026-11``) and one per
user and month, holds a map per budget, ``{name: {cap, granted, spent}}``, plus ``resets_at`` and
``expire_at`` (TTL). ``granted`` counts every unit that left the budget: leased to an instance,
reserved for a call, or spent. ``granted <= cap`` is the invariant that keeps spend under the cap,
and only a compare-and-set that read ``granted`` ever raises it.

Each instance keeps a *pool* per pooled budget: units granted to it and not reserved yet.

* reserve: under the instance's lock, take the units from the pools of every budget the call
  falls under. Pools short of them are refilled with ONE compare-and-set per document (all its
  short budgets at once), taking what is missing plus a prefetch: up to ``PREFETCH`` more
  reservations' worth, and at most 1/``SPREAD`` of what is left (none in the last ``SPREAD + 1``
  reservations' worth: there every reservation is its own compare-and-set, nothing is stranded
  in a pool). A budget without room refuses the whole reservation, nothing is taken.
* settle: the unspent part goes into this instance's pool (it is granted already) and the spent
  part is remembered, to reach the document with the next compare-and-set on it, or with one
  ``Increment`` write (no read) once pending for ``FLUSH_SECONDS``; a pool left unused that long
  is handed back in the same write, and every pool at shutdown (``flush``).
* a user's own budget (not pooled: one caller, who may reach any instance) is reserved with a
  compare-and-set on the user's document, and its unspent part given back at once.

What leasing costs: units in one instance's pool are not available to another until given back
(at most a prefetch per instance and budget, within ``FLUSH_SECONDS``), and a killed instance's
pool stays granted until the period ends: what it held cannot be told apart from what a vendor
already billed for without a write per reservation, so it is never handed to anyone else.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.budget.lines import BudgetLine, BudgetUsage, Reservation
from shared.stores.base import Contention
from shared.stores.firestore.db import MAX_ROUNDS, FirestoreDb, doc_id, timestamp

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference

PREFETCH = 8  # reservations' worth a refill may take beyond what it needs
SPREAD = 8  # ... and at most this fraction (1/SPREAD) of what is left in the budget
FLUSH_SECONDS = 300.0  # pending give-backs and spend reach the document at least this often
RETENTION_SECONDS = 40 * 86400  # a period's document outlives its reset this long (TTL), for reports
EPSILON = 1e-9
_SETTLED_MEMORY = 20000


@dataclass
class _Pool:
    units: float = 0.0  # granted to this instance, not reserved
    spent: float = 0.0  # settled here, not written yet
    spent_since: float | None = None  # when the oldest spend not written yet was settled
    used_at: float = 0.0  # the last reservation or settlement that touched it

    def due(self, now: float, after: float) -> bool:
        """Whether to write back now: spend pending for ``after`` seconds, or units idle as long."""
        stale_spend = self.spent_since is not None and now - self.spent_since >= after
        return stale_spend or (self.units > EPSILON and now - self.used_at >= after)


def _fits(granted: float, units: float, cap: float) -> bool:
    return granted + units <= cap + EPSILON * max(cap, 1.0)


def prefetch(units: float, spare: float) -> float:
    """Whole reservations' worth to take beyond the need, from ``spare`` units left after it."""
    if units <= 0 or spare <= 0:
        return 0.0
    return min(PREFETCH, int(spare / (units * SPREAD))) * units


def _by_group(lines: Iterable[BudgetLine]) -> dict[str, list[BudgetLine]]:
    groups: dict[str, list[BudgetLine]] = defaultdict(list)
    for line in lines:
        groups[line.group].append(line)
    return dict(sorted(groups.items()))


def _nested(fields: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (a create takes no field paths)."""
    data: dict[str, Any] = {}
    for path, value in fields.items():
        head, _, tail = path.partition(".")
        if tail:
            data.setdefault(head, {})[tail] = value
        else:
            data[head] = value
    return data


class FirestoreBudgetStore:
    def __init__(self, db: FirestoreDb, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.db = db
        self.flush_seconds = flush_seconds
        self._pools: dict[str, dict[str, _Pool]] = {}  # group -> budget name -> pool
        self._resets: dict[str, float] = {}
        self._lock = threading.RLock()
        self._settled: OrderedDict[str, None] = OrderedDict()

    def _ref(self, group: str) -> DocumentReference:
        return self.db.collection("budgets").document(doc_id(group))

    def _pool(self, line: BudgetLine) -> _Pool:
        self._resets[line.group] = line.resets_at
        return self._pools.setdefault(line.group, {}).setdefault(line.name, _Pool())

    def _stamp(self, group: str) -> dict[str, Any]:
        resets = self._resets[group]
        return {"resets_at": resets, "expire_at": timestamp(resets + RETENTION_SECONDS)}

    # -- reserve -------------------------------------------------------------------------

    def reserve(self, reservation: Reservation, now: float) -> BudgetLine | None:
        units = float(reservation.units)
        pooled = [line for line in reservation.lines if line.pooled]
        direct = [line for line in reservation.lines if not line.pooled]
        with self._lock:
            for group, lines in _by_group(pooled).items():
                short = {line.name: units - self._pool(line).units for line in lines}
                short = {name: need for name, need in short.items() if need > EPSILON}
                if short:
                    refused = self._refill(group, lines, short, units)
                    if refused is not None:
                        return refused
            for line in pooled:  # every pool holds the units now: take them, all at once
                pool = self._pool(line)
                pool.units = max(pool.units - units, 0.0)
                pool.used_at = now
        done: list[BudgetLine] = []
        for line in direct:
            if not self._take_direct(line, units):
                for taken in done:
                    self._give_direct(taken, units, 0.0)
                self._give_pooled(pooled, units, 0.0, now)
                return line
            done.append(line)
        self._flush_stale(now)
        return None

    def _refill(self, group: str, lines: list[BudgetLine], short: dict[str, float], units: float) -> BudgetLine | None:
        """One compare-and-set raising ``granted`` of the short budgets of ``group`` (and writing
        this instance's pending spend there); the first budget without room refuses, writing nothing."""
        ref = self._ref(group)
        for _ in range(MAX_ROUNDS):
            snap = self.db.get(ref)
            data = snap.to_dict() or {}
            fields: dict[str, Any] = {}
            takes: dict[str, float] = {}
            for line in lines:
                if line.name not in short:
                    continue
                granted = float((data.get(line.name) or {}).get("granted", 0.0))
                need = short[line.name]
                if not _fits(granted, need, line.cap):
                    return line
                takes[line.name] = need + prefetch(units, line.cap - granted - need)
                fields[f"{line.name}.granted"] = granted + takes[line.name]
                fields[f"{line.name}.cap"] = line.cap
            pools = self._pools[group]
            for name, pool in pools.items():
                if pool.spent:
                    fields[f"{name}.spent"] = float((data.get(name) or {}).get("spent", 0.0)) + pool.spent
            fields.update(self._stamp(group))
            if snap.exists:
                written = self.db.update(ref, fields, since=snap.update_time) is not None
            else:
                written = self.db.create(ref, _nested(fields)) is not None
            if written:
                for name, take in takes.items():
                    pools[name].units += take
                for pool in pools.values():  # the spend pending is written now
                    pool.spent, pool.spent_since = 0.0, None
                return None
        raise Contention("this budget")

    def _take_direct(self, line: BudgetLine, units: float) -> bool:
        ref = self._ref(line.group)
        with self._lock:
            self._resets[line.group] = line.resets_at
            stamp = self._stamp(line.group)
        for _ in range(MAX_ROUNDS):
            snap = self.db.get(ref)
            granted = float(((snap.to_dict() or {}).get(line.name) or {}).get("granted", 0.0))
            if not _fits(granted, units, line.cap):
                return False
            fields = {f"{line.name}.granted": granted + units, f"{line.name}.cap": line.cap, **stamp}
            if snap.exists:
                written = self.db.update(ref, fields, since=snap.update_time) is not None
            else:
                written = self.db.create(ref, _nested(fields)) is not None
            if written:
                return True
        raise Contention("this budget")

    # -- settle --------------------------------------------------------------------------

    def settle(self, reservation: Reservation, spent: float, now: float) -> bool:
        with self._lock:
            if reservation.id in self._settled:
                return False
            self._settled[reservation.id] = None
            while len(self._settled) > _SETTLED_MEMORY:
                self._settled.popitem(last=False)
        units = float(reservation.units)
        used = min(max(float(spent), 0.0), units)
        self._give_pooled([line for line in reservation.lines if line.pooled], units, used, now)
        for line in reservation.lines:
            if not line.pooled:
                self._give_direct(line, units, used)
        self._flush_stale(now)
        return True

    def _give_pooled(self, lines: Sequence[BudgetLine], units: float, used: float, now: float) -> None:
        """The unspent part stays granted, in this instance's pool; the spent part is written later."""
        with self._lock:
            for line in lines:
                pool = self._pool(line)
                pool.units += units - used
                pool.spent += used
                pool.used_at = now
                if used > 0 and pool.spent_since is None:
                    pool.spent_since = now

    def _give_direct(self, line: BudgetLine, units: float, used: float) -> None:
        from google.cloud.firestore import Increment

        if units - used <= EPSILON:
            return  # nothing to give back: what was granted is spent
        fields = {f"{line.name}.granted": Increment(-(units - used)), f"{line.name}.spent": Increment(used)}
        self.db.update(self._ref(line.group), fields)

    # -- hand back -----------------------------------------------------------------------

    def _flush_group(self, group: str) -> None:
        """Give back this instance's pools of ``group`` and write its pending spend: one write."""
        from google.cloud.firestore import Increment

        pools = self._pools.get(group, {})
        fields: dict[str, Any] = {}
        for name, pool in pools.items():
            if pool.units > EPSILON:
                fields[f"{name}.granted"] = Increment(-pool.units)
            if pool.spent > EPSILON:
                fields[f"{name}.spent"] = Increment(pool.spent)
        if fields:
            self.db.update(self._ref(group), fields)  # None when the document expired: nothing to give back to
        pools.clear()

    def _flush_stale(self, now: float) -> None:
        with self._lock:
            for group, pools in list(self._pools.items()):
                if any(pool.due(now, self.flush_seconds) for pool in pools.values()):
                    self._flush_group(group)

    def flush(self) -> None:
        with self._lock:
            for group in list(self._pools):
                self._flush_group(group)

    # -- report --------------------------------------------------------------------------

    def usage(self, lines: Sequence[BudgetLine]) -> dict[str, BudgetUsage]:
        found: dict[str, BudgetUsage] = {}
        for group, members in _by_group(lines).items():
            data = self.db.get(self._ref(group)).to_dict() or {}
            for line in members:
                counters = data.get(line.name)
                if counters is None:
                    continue
                with self._lock:
                    local = self._pools.get(group, {}).get(line.name)
                    pending = local.spent if local is not None else 0.0
                spent = float(counters.get("spent", 0.0)) + pending
                granted = float(counters.get("granted", 0.0))
                found[line.key] = BudgetUsage(line.key, line.cap, max(granted - spent, 0.0), spent)
        return found
