"""Analytics on Firestore: sharded daily counters and one document per visitor and day.

- ``analytics_days/{day}~{shard}``: ``c`` (a map of counters, not indexed), ``day``, ``start``,
  ``expire_at`` (TTL). Each add is ONE merge write of ``Increment`` transforms on a shard chosen at
  random, so a day's counters take ``shards`` writes a second; reading a window reads its shards
  (one range query: days x shards documents).
- ``analytics_visitors/{day}~{visitor}``: ``day``, ``kind``, ``start``, ``expire_at``: created once
  (a create that fails when it exists); a day's distinct visitors are ``count()`` aggregations.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from shared.analytics.counters import KINDS, UserFigures
from shared.domain import Job
from shared.stores.firestore.db import FirestoreDb, doc_id, timestamp

DAY = 86400.0


class FirestoreAnalyticsStore:
    def __init__(self, db: FirestoreDb, shards: int = 4, ttl_seconds: float = 30 * DAY) -> None:
        self.db = db
        self.shards = max(shards, 1)
        self.ttl_seconds = ttl_seconds
        self._random = random.Random()

    def _expiry(self, start: float) -> Any:
        return timestamp(start + DAY + self.ttl_seconds)

    def add(self, day: str, start: float, counts: Mapping[str, float]) -> None:
        from google.cloud.firestore import Increment

        shard = self._random.randrange(self.shards)
        ref = self.db.collection("analytics_days").document(doc_id(f"{day}~{shard}"))
        data = {"day": day, "start": start, "expire_at": self._expiry(start)}
        data["c"] = {name: Increment(value) for name, value in counts.items()}
        self.db.merge(ref, data)

    def mark_visitor(self, day: str, start: float, visitor: str, kind: str) -> bool:
        ref = self.db.collection("analytics_visitors").document(doc_id(f"{day}~{visitor}"))
        data = {"day": day, "kind": kind, "start": start, "expire_at": self._expiry(start)}
        return self.db.create(ref, data) is not None

    def earlier_job(self, owner: str, since: float, job: Job) -> bool:
        from google.cloud.firestore import FieldFilter, Query

        query = (
            self.db.collection("jobs")
            .where(filter=FieldFilter("owner", "==", owner))
            .where(filter=FieldFilter("created_at", ">=", since))
            .where(filter=FieldFilter("created_at", "<", job.created_at))
            .order_by("created_at", direction=Query.DESCENDING)  # the (owner, created_at desc) index
            .limit(1)
        )
        return bool(self.db.query(query))

    def counters(self, since: float, until: float) -> dict[str, dict[str, float]]:
        from google.cloud.firestore import FieldFilter

        query = (
            self.db.collection("analytics_days")
            .where(filter=FieldFilter("start", ">=", since))
            .where(filter=FieldFilter("start", "<", until))
        )
        found: dict[str, dict[str, float]] = {}
        for snap in self.db.query(query):
            data = snap.to_dict() or {}
            day = found.setdefault(str(data["day"]), {})
            for name, value in (data.get("c") or {}).items():
                day[name] = day.get(name, 0.0) + float(value)
        return found

    def visitors(self, day: str) -> dict[str, int]:
        from google.cloud.firestore import FieldFilter

        found = {}
        for kind in KINDS:
            query = (
                self.db.collection("analytics_visitors")
                .where(filter=FieldFilter("day", "==", day))
                .where(filter=FieldFilter("kind", "==", kind))
            )
            count = self.db.count(query)
            if count:
                found[kind] = count
        return found

    def users(self, tiers: Sequence[str], since: float, until: float) -> UserFigures:
        from google.cloud.firestore import FieldFilter

        users = self.db.collection("users")
        by_tier = {tier: self.db.count(users.where(filter=FieldFilter("tier", "==", tier))) for tier in tiers}
        made = users.where(filter=FieldFilter("created_at", ">=", since)).where(
            filter=FieldFilter("created_at", "<", until)
        )
        donors = made.where(filter=FieldFilter("tier", "==", "donor"))  # index: users (tier, created_at)
        return UserFigures(by_tier, self.db.count(made), self.db.count(donors))

    def purge(self, before: float, limit: int | None = None) -> int:
        from google.cloud.firestore import FieldFilter

        deleted = 0
        for collection in ("analytics_visitors", "analytics_days"):
            left = None if limit is None else limit - deleted
            if left is not None and left <= 0:
                break
            query = self.db.collection(collection).where(filter=FieldFilter("start", "<", before))
            refs = [s.reference for s in self.db.query(query.limit(left) if left is not None else query)]
            for first in range(0, len(refs), 500):  # a batch holds at most 500 writes
                deleted += sum(self.db.delete_all(refs[first : first + 500]))
        return deleted
