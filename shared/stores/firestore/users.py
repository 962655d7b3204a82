"""User records (tier, expiry, limit overrides, activity) on Firestore: ``users/{uid}``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.stores.base import USER_FIELDS, UserRecord
from shared.stores.firestore.db import FirestoreDb, doc_id

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference


def _record(user_id: str, data: dict[str, Any]) -> UserRecord:
    return UserRecord(user_id, **{name: data[name] for name in USER_FIELDS if name in data})


def _fields(user: UserRecord) -> dict[str, Any]:
    return {name: getattr(user, name) for name in USER_FIELDS}


class FirestoreUserStore:
    def __init__(self, db: FirestoreDb) -> None:
        self.db = db

    def _ref(self, user_id: str) -> DocumentReference:
        return self.db.collection("users").document(doc_id(user_id))

    def get(self, user_id: str) -> UserRecord | None:
        data = self.db.get(self._ref(user_id)).to_dict()
        return None if data is None else _record(user_id, data)

    def put(self, user: UserRecord) -> None:
        self.db.merge(self._ref(user.id), _fields(user))

    def create(self, user: UserRecord) -> UserRecord:
        """One write when new; a record made meanwhile by another instance wins (one more read)."""
        if self.db.create(self._ref(user.id), _fields(user)) is not None:
            return user
        stored = self.get(user.id)
        return stored if stored is not None else user

    def update(self, user_id: str, changes: dict[str, Any]) -> bool:
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError(f"not user fields: {sorted(unknown)}")
        return self.db.update(self._ref(user_id), dict(changes)) is not None

    def ids(self, after: str | None, limit: int) -> list[str]:
        query = self.db.collection("users").order_by("__name__").limit(limit)
        if after is not None:
            query = query.start_after({"__name__": self._ref(after)})
        return [snap.id for snap in self.db.query(query)]  # Firebase uids are their own document ids
