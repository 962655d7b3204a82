"""Usage on Firestore: text requests in ``usage/{id}``; media jobs read from ``jobs`` (their own record).

Indexed queries only: ``usage`` by (owner, at desc) and ``jobs`` by (owner, created_at desc) for
pages, (owner, mode, status, created_at) for the per-mode totals (``firestore.indexes.json``).
A page reads at most ``limit + 1`` documents from each source; totals are aggregations (billed as
one read per 1,000 entries counted).
"""

from __future__ import annotations

from typing import Any

from shared.domain import Mode
from shared.stores.base import UsageRecord
from shared.stores.firestore.db import FirestoreDb, doc_id
from shared.stores.firestore.jobs import _to_job
from shared.stores.usage_pages import Cursor, job_usage, merge_page

_FIELDS = "owner at mode provider model duration cost_units quantity cached".split()


def _record(usage_id: str, data: dict[str, Any]) -> UsageRecord:
    values = {name: data.get(name) for name in _FIELDS}
    return UsageRecord(usage_id, **{**values, "mode": Mode(data["mode"]), "cached": bool(data.get("cached"))})


def _after(items: list[Any], key: Any, before: Cursor | None, limit: int) -> tuple[list[Any], Cursor | None]:
    """Drop what the cursor already returned; keep ``limit``; the last key read when the page is full."""
    if before is not None:
        items = [i for i in items if key(i) < before]
    kept = items[:limit]
    return kept, (key(kept[-1]) if len(kept) == limit else None)


class FirestoreUsageStore:
    def __init__(self, db: FirestoreDb) -> None:
        self.db = db

    def record(self, usage: UsageRecord) -> None:
        data = {name: getattr(usage, name) for name in _FIELDS}
        data["mode"] = usage.mode.value
        self.db.put(self.db.collection("usage").document(doc_id(usage.id)), data)

    def _query(self, collection: str, at: str, owner: str, start: float, end: float, before: Cursor | None) -> Any:
        from google.cloud.firestore import FieldFilter, Query

        query = self.db.collection(collection).where(filter=FieldFilter("owner", "==", owner))
        query = query.where(filter=FieldFilter(at, ">=", start))
        if before is not None:
            query = query.where(filter=FieldFilter(at, "<=", before[0]))
        else:
            query = query.where(filter=FieldFilter(at, "<", end))
        return query.order_by(at, direction=Query.DESCENDING)

    def page(
        self, owner: str, start: float, end: float, before: Cursor | None, limit: int
    ) -> tuple[list[UsageRecord], Cursor | None]:
        extra = 1 if before is not None else 0  # the cursor's own record comes back once
        snaps = self.db.query(self._query("usage", "at", owner, start, end, before).limit(limit + extra))
        found = [_record(s.id, s.to_dict() or {}) for s in snaps]
        texts, text_last = _after(found, lambda r: (r.at, r.id), before, limit)
        snaps = self.db.query(self._query("jobs", "created_at", owner, start, end, before).limit(limit + extra))
        read = [_to_job(s.to_dict() or {}) for s in snaps]
        jobs, job_last = _after(read, lambda j: (j.created_at, j.id), before, limit)
        records = [u for u in (job_usage(j) for j in jobs) if u is not None]
        return merge_page([(texts, text_last), (records, job_last)], limit)

    def totals(self, owner: str, start: float, end: float) -> dict[Mode, tuple[int, float]]:
        from google.cloud.firestore import FieldFilter

        found: dict[Mode, tuple[int, float]] = {}
        count, cost = self.db.count_and_sum(self._query("usage", "at", owner, start, end, None), "cost_units")
        if count:
            found[Mode.TEXT] = (count, cost)
        for mode in (m for m in Mode if m is not Mode.TEXT):
            query = self._query("jobs", "created_at", owner, start, end, None)
            query = query.where(filter=FieldFilter("mode", "==", mode.value))
            query = query.where(filter=FieldFilter("status", "==", "succeeded"))
            count, cost = self.db.count_and_sum(query, "cost_units")
            if count:
                found[mode] = (count, cost)
        return found

    def purge(self, before: float, limit: int | None = None) -> int:
        from google.cloud.firestore import FieldFilter

        stale = self.db.collection("usage").where(filter=FieldFilter("at", "<", before)).order_by("at")
        if limit is not None:
            stale = stale.limit(limit)
        return sum(self.db.delete(snap.reference) for snap in self.db.query(stale))
