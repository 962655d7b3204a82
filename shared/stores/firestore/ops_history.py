"""The metrics history and the alerts on Firestore.

- ``metrics/{id}``: ``at``, ``source``, ``values`` (a map, not indexed), ``expire_at`` (TTL).
- ``alerts/{id}``: the alert (``AlertRecord``'s fields), ``expire_at`` once closed (TTL).
- ``alert_locks/{rule}``: ``alert_id`` of the rule's open alert. Opening is one batch that creates
  the lock and the alert (it fails as a whole when the lock exists); closing is one batch that
  deletes the lock (precondition: unchanged since it was read) and closes the alert, so exactly
  one caller opens, and one closes, whatever runs at once.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, replace
from typing import Any

from shared.analytics.records import AlertRecord, MetricsPoint
from shared.domain import Job
from shared.stores.firestore.db import FirestoreDb, answered, doc_id, timestamp
from shared.stores.firestore.jobs import _to_job

DAY = 86400.0


class FirestoreMetricsStore:
    def __init__(self, db: FirestoreDb, ttl_seconds: float = 30 * DAY) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds

    def add(self, point: MetricsPoint) -> None:
        data = {"at": point.at, "source": point.source, "values": dict(point.values)}
        data["expire_at"] = timestamp(point.at + self.ttl_seconds + DAY)
        self.db.put(self.db.collection("metrics").document(uuid.uuid4().hex), data)

    def points(self, since: float, limit: int) -> list[MetricsPoint]:
        from google.cloud.firestore import FieldFilter, Query

        query = (
            self.db.collection("metrics")
            .where(filter=FieldFilter("at", ">=", since))
            .order_by("at", direction=Query.DESCENDING)
            .limit(limit)
        )
        found = [s.to_dict() or {} for s in self.db.query(query)]
        return [MetricsPoint(float(d["at"]), str(d["source"]), dict(d.get("values") or {})) for d in reversed(found)]

    def recent_jobs(self, since: float, limit: int) -> list[Job]:
        from google.cloud.firestore import FieldFilter, Query

        query = (
            self.db.collection("jobs")
            .where(filter=FieldFilter("finished_at", ">=", since))
            .order_by("finished_at", direction=Query.DESCENDING)
            .limit(limit)
        )
        return [_to_job(s.to_dict() or {}) for s in self.db.query(query)]

    def purge(self, before: float, limit: int | None = None) -> int:
        from google.cloud.firestore import FieldFilter

        query = self.db.collection("metrics").where(filter=FieldFilter("at", "<", before))
        refs = [s.reference for s in self.db.query(query.limit(min(limit or 500, 500)))]
        return sum(self.db.delete_all(refs))


def _record(data: dict[str, Any]) -> AlertRecord:
    return AlertRecord(**{name: data.get(name) for name in AlertRecord.__dataclass_fields__})


class FirestoreAlertStore:
    def __init__(self, db: FirestoreDb, ttl_seconds: float = 30 * DAY) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds

    def _lock(self, rule: str) -> Any:
        return self.db.collection("alert_locks").document(doc_id(rule))

    def _alert(self, alert_id: str) -> Any:
        return self.db.collection("alerts").document(doc_id(alert_id))

    def open(self, alert: AlertRecord) -> bool:
        return self.db.create_all(
            [
                (self._lock(alert.rule), {"alert_id": alert.id}),
                (self._alert(alert.id), asdict(replace(alert, state="open"))),
            ]
        )

    def close(self, rule: str, at: float, value: float) -> AlertRecord | None:
        from google.api_core.exceptions import FailedPrecondition, NotFound

        lock = self.db.get(self._lock(rule))
        if not lock.exists:
            return None
        alert_ref = self._alert(str((lock.to_dict() or {})["alert_id"]))
        changes = {"state": "closed", "closed_at": at, "closing_value": value}
        batch = self.db.client.batch()
        batch.delete(lock.reference, option=self.db.client.write_option(last_update_time=lock.update_time))
        batch.update(alert_ref, {**changes, "expire_at": timestamp(at + self.ttl_seconds + DAY)})
        try:
            with answered():
                batch.commit(**self.db.deadline)
        except (FailedPrecondition, NotFound):  # another caller closed it first
            self.db.ops.record(conflicts=1)
            return None
        self.db.ops.record(writes=1, deletes=1)
        data = self.db.get(alert_ref).to_dict() or {}
        return _record(data)

    def list(self, open_only: bool, limit: int) -> list[AlertRecord]:
        from google.cloud.firestore import FieldFilter, Query

        query: Any = self.db.collection("alerts")
        if open_only:
            query = query.where(filter=FieldFilter("state", "==", "open"))
        else:
            query = query.order_by("opened_at", direction=Query.DESCENDING).limit(limit)
        found = [_record(s.to_dict() or {}) for s in self.db.query(query)]
        return sorted(found, key=lambda a: (a.opened_at, a.id), reverse=True)[:limit]

    def purge(self, before: float, limit: int | None = None) -> int:
        from google.cloud.firestore import FieldFilter

        query = self.db.collection("alerts").where(filter=FieldFilter("closed_at", "<", before))
        refs = [s.reference for s in self.db.query(query.limit(min(limit or 500, 500)))]  # only closed ones have it
        return sum(self.db.delete_all(refs))
