"""The response cache on Firestore.

``response_cache/{sha256}``: ``value`` (JSON text), ``expire_at`` (a Timestamp for the TTL policy)
and ``expire_at_seconds`` (the exact float the reads compare).
"""

from __future__ import annotations

import json
from typing import Any

from shared.stores.firestore.db import FirestoreDb, doc_id, timestamp


class FirestoreCacheStore:
    def __init__(self, db: FirestoreDb) -> None:
        self.db = db

    def _ref(self, key: str) -> Any:
        return self.db.collection("response_cache").document(doc_id(key))

    def get(self, key: str, now: float) -> dict[str, Any] | None:
        data = self.db.get(self._ref(key)).to_dict()
        if not data or float(data.get("expire_at_seconds", 0.0)) <= now:
            return None
        return json.loads(data["value"])

    def put(self, key: str, value: dict[str, Any], expire_at: float) -> None:
        doc = {
            "value": json.dumps(value, separators=(",", ":")),
            "expire_at": timestamp(expire_at),
            "expire_at_seconds": float(expire_at),
        }
        self.db.put(self._ref(key), doc)

    def purge(self, before: float, limit: int | None = None) -> int:
        from google.cloud.firestore import FieldFilter

        stale = (
            self.db.collection("response_cache")
            .where(filter=FieldFilter("expire_at_seconds", "<", before))
            .order_by("expire_at_seconds")
        )
        if limit is not None:
            stale = stale.limit(limit)
        snaps = self.db.query(stale)  # a put meanwhile renews the entry: compare-and-set deletes
        return sum(self.db.delete_all([s.reference for s in snaps], [s.update_time for s in snaps]))
