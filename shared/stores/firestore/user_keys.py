"""Users' provider keys (encrypted) and the response cache, on Firestore.

``user_keys/{user}``: one document per user, a map ``keys.{provider}`` of ``token`` (Fernet),
``hint`` (last 4 characters) and ``updated_at``, so a job reads all of its owner's keys in
ONE document read. ``response_cache/{sha256}``: ``value`` (JSON text), ``expire_at`` (a
Timestamp for the TTL policy) and ``expire_at_seconds`` (the exact float the reads compare).
"""

from __future__ import annotations

from typing import Any

from shared.secretbox import KeyCipher, decrypt_key, hint
from shared.stores.base import Contention, StoredKey
from shared.stores.firestore.db import MAX_ROUNDS, FirestoreDb, doc_id


class FirestoreUserKeyStore:
    def __init__(self, db: FirestoreDb, cipher: KeyCipher) -> None:
        self.db = db
        self.cipher = cipher

    def _ref(self, user_id: str) -> Any:
        return self.db.collection("user_keys").document(doc_id(user_id))

    def _entries(self, user_id: str) -> dict[str, dict[str, Any]]:
        data = self.db.get(self._ref(user_id)).to_dict() or {}
        return data.get("keys") or {}

    def keys_for(self, user_id: str) -> dict[str, str]:
        return {name: decrypt_key(self.cipher, name, entry["token"]) for name, entry in self._entries(user_id).items()}

    def get_key(self, user_id: str, provider: str) -> str | None:
        entry = self._entries(user_id).get(provider)
        return decrypt_key(self.cipher, provider, entry["token"]) if entry else None

    def list_keys(self, user_id: str) -> list[StoredKey]:
        entries = self._entries(user_id)
        return [StoredKey(n, str(e.get("hint", "")), float(e["updated_at"])) for n, e in sorted(entries.items())]

    def put_key(self, user_id: str, provider: str, key: str, now: float) -> None:
        entry = {"token": self.cipher.encrypt(key), "hint": hint(key), "updated_at": float(now)}
        self.db.merge(self._ref(user_id), {"user_id": user_id, "keys": {provider: entry}})

    def delete_key(self, user_id: str, provider: str) -> bool:
        from google.cloud.firestore import DELETE_FIELD
        from google.cloud.firestore_v1.field_path import FieldPath

        ref = self._ref(user_id)
        path = FieldPath("keys", provider).to_api_repr()
        for _ in range(MAX_ROUNDS):
            snap = self.db.get(ref)
            if provider not in ((snap.to_dict() or {}).get("keys") or {}):
                return False
            if self.db.update(ref, {path: DELETE_FIELD}, since=snap.update_time) is not None:
                return True
        raise Contention("this user's keys")
