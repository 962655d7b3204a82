"""User records (tier, limit overrides) on Firestore: ``users/{uid}``."""

from __future__ import annotations

from shared.stores.base import UserRecord
from shared.stores.firestore.db import FirestoreDb, doc_id


class FirestoreUserStore:
    def __init__(self, db: FirestoreDb) -> None:
        self.db = db

    def get(self, user_id: str) -> UserRecord | None:
        snap = self.db.get(self.db.collection("users").document(doc_id(user_id)))
        data = snap.to_dict()
        if data is None:
            return None
        return UserRecord(
            user_id,
            data["tier"],
            data.get("limit_override"),
            data.get("text_limit_override"),
            data.get("email"),
            data.get("budget_override"),
        )

    def put(self, user: UserRecord) -> None:
        self.db.merge(
            self.db.collection("users").document(doc_id(user.id)),
            {
                "tier": user.tier,
                "limit_override": user.limit_override,
                "text_limit_override": user.text_limit_override,
                "email": user.email,
                "budget_override": user.budget_override,
            },
        )
