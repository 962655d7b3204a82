"""Subscriptions and gateway API keys on Firestore.

``subscriptions/{request id}``: the record (queried by (status,) created_at desc, id desc: indexes in
``firestore.indexes.json``); ``payment_events/{event id}``: one per processed webhook event;
``api_keys/{sha256 of the secret}``: so a lookup is ONE document read, never a query. A transition
is a compare-and-set on the document's update time (no transactions).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from shared.stores.base import Contention
from shared.stores.base_money import (
    SUBSCRIPTION_FIELDS,
    ApiKeyRecord,
    SubscriptionRecord,
    api_key_from,
    subscription_from,
)
from shared.stores.firestore.db import MAX_ROUNDS, FirestoreDb, doc_id

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference


class FirestoreSubscriptionStore:
    def __init__(self, db: FirestoreDb) -> None:
        self.db = db

    def _ref(self, request_id: str) -> DocumentReference:
        return self.db.collection("subscriptions").document(doc_id(request_id))

    def create(self, record: SubscriptionRecord) -> bool:
        return self.db.create(self._ref(record.id), asdict(record)) is not None

    def get(self, request_id: str) -> SubscriptionRecord | None:
        data = self.db.get(self._ref(request_id)).to_dict()
        return None if data is None else subscription_from(data)

    def transition(self, request_id: str, expected: str, changes: dict[str, Any]) -> bool:
        unknown = set(changes) - set(SUBSCRIPTION_FIELDS[1:])
        if unknown:
            raise ValueError(f"not subscription fields: {sorted(unknown)}")
        ref = self._ref(request_id)
        for _ in range(MAX_ROUNDS):
            snap = self.db.get(ref)
            data = snap.to_dict()
            if data is None or data.get("status") != expected:
                return False
            if self.db.update(ref, dict(changes), since=snap.update_time) is not None:
                return True
        raise Contention("this subscription")

    def _event(self, event_id: str) -> DocumentReference:
        return self.db.collection("payment_events").document(doc_id(event_id))

    def seen(self, event_id: str) -> bool:
        return self.db.get(self._event(event_id)).exists

    def mark_seen(self, event_id: str, request_id: str, kind: str, now: float) -> None:
        self.db.create(self._event(event_id), {"request_id": request_id, "kind": kind, "at": now})

    def page(
        self, status: str | None, before: tuple[float, str] | None, limit: int
    ) -> tuple[list[SubscriptionRecord], tuple[float, str] | None]:
        from google.cloud.firestore import FieldFilter, Query

        query: Any = self.db.collection("subscriptions")
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status))
        query = query.order_by("created_at", direction=Query.DESCENDING).order_by("id", direction=Query.DESCENDING)
        if before is not None:
            query = query.start_after({"created_at": before[0], "id": before[1]})
        found = [subscription_from(s.to_dict() or {}) for s in self.db.query(query.limit(limit + 1))]
        items = found[:limit]
        return items, ((items[-1].created_at, items[-1].id) if len(found) > limit else None)

    def purge(self, before: float, limit: int | None = None) -> int:
        from google.cloud.firestore import FieldFilter

        stale = self.db.collection("subscriptions").where(filter=FieldFilter("status", "==", "pending"))
        stale = stale.where(filter=FieldFilter("created_at", "<", before)).order_by("created_at")
        if limit is not None:
            stale = stale.limit(limit)
        snaps = self.db.query(stale)
        # only while still pending: a request paid meanwhile is kept
        done = self.db.delete_all([s.reference for s in snaps], [s.update_time for s in snaps])
        return sum(done)


class FirestoreApiKeyStore:
    def __init__(self, db: FirestoreDb) -> None:
        self.db = db

    def _ref(self, digest: str) -> DocumentReference:
        return self.db.collection("api_keys").document(doc_id(digest))

    def create(self, record: ApiKeyRecord) -> None:
        if self.db.create(self._ref(record.digest), asdict(record)) is None:
            raise Contention("this API key")  # 256 random bits: never in practice

    def by_digest(self, digest: str) -> ApiKeyRecord | None:
        data = self.db.get(self._ref(digest)).to_dict()
        return None if data is None else api_key_from(data)

    def list_for(self, user_id: str) -> list[ApiKeyRecord]:
        from google.cloud.firestore import FieldFilter

        query = self.db.collection("api_keys").where(filter=FieldFilter("user_id", "==", user_id))
        found = [api_key_from(s.to_dict() or {}) for s in self.db.query(query)]  # a handful: sorted here
        return sorted(found, key=lambda k: (k.created_at, k.id), reverse=True)

    def delete(self, key_id: str, user_id: str | None = None) -> ApiKeyRecord | None:
        from google.cloud.firestore import FieldFilter

        query = self.db.collection("api_keys").where(filter=FieldFilter("id", "==", key_id)).limit(1)
        for snap in self.db.query(query):
            record = api_key_from(snap.to_dict() or {})
            if user_id is not None and record.user_id != user_id:
                return None
            self.db.delete(snap.reference)  # no precondition: a concurrent touch must not save it
            return record
        return None

    def touch(self, digest: str, now: float) -> None:
        self.db.update(self._ref(digest), {"last_used_at": now})
