"""Users' provider keys (encrypted) and the response cache, on Firestore.

``user_keys/{user}``: one document per user, a map ``keys.{provider}`` of ``token`` (Fernet),
``hint`` (last 4 characters) and ``updated_at``, so a job reads all of its owner's keys in
ONE document read.

Most users store no key, and every job and text request of a signed-in caller asks: so a user
found WITHOUT keys is remembered for ``NO_KEYS_SECONDS`` on this instance (its own ``put_key``
forgets that at once), and their requests cost no read for it. A key stored through another
instance is used here within that time (the platform's key serves meanwhile, as before it was
stored). Keys that exist are never cached: a deleted key is never used again, on any instance.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from shared.secretbox import KeyCipher, decrypt_key, hint
from shared.stores.base import Contention, StoredKey
from shared.stores.firestore.db import MAX_ROUNDS, FirestoreDb, doc_id

NO_KEYS_SECONDS = 60.0  # as USER_CACHE_SECONDS' default: how long a user found without keys is believed
_NO_KEYS_MAX = 10_000


class FirestoreUserKeyStore:
    def __init__(self, db: FirestoreDb, cipher: KeyCipher) -> None:
        self.db = db
        self.cipher = cipher
        self._none: OrderedDict[str, float] = OrderedDict()  # user -> when found without keys (monotonic)
        self._lock = threading.Lock()

    def _known_without(self, user_id: str) -> bool:
        with self._lock:
            seen = self._none.get(user_id)
            if seen is not None and time.monotonic() - seen < NO_KEYS_SECONDS:
                return True
            self._none.pop(user_id, None)
            return False

    def _without(self, user_id: str, none: bool) -> None:
        with self._lock:
            self._none.pop(user_id, None)
            if none:
                self._none[user_id] = time.monotonic()
                while len(self._none) > _NO_KEYS_MAX:
                    self._none.popitem(last=False)

    def _ref(self, user_id: str) -> Any:
        return self.db.collection("user_keys").document(doc_id(user_id))

    def _entries(self, user_id: str) -> dict[str, dict[str, Any]]:
        data = self.db.get(self._ref(user_id)).to_dict() or {}
        return data.get("keys") or {}

    def keys_for(self, user_id: str) -> dict[str, str]:
        if self._known_without(user_id):
            return {}
        entries = self._entries(user_id)
        self._without(user_id, not entries)
        return {name: decrypt_key(self.cipher, name, entry["token"]) for name, entry in entries.items()}

    def get_key(self, user_id: str, provider: str) -> str | None:
        entry = self._entries(user_id).get(provider)
        return decrypt_key(self.cipher, provider, entry["token"]) if entry else None

    def list_keys(self, user_id: str) -> list[StoredKey]:
        entries = self._entries(user_id)
        return [StoredKey(n, str(e.get("hint", "")), float(e["updated_at"])) for n, e in sorted(entries.items())]

    def put_key(self, user_id: str, provider: str, key: str, now: float) -> None:
        entry = {"token": self.cipher.encrypt(key), "hint": hint(key), "updated_at": float(now)}
        self.db.merge(self._ref(user_id), {"user_id": user_id, "keys": {provider: entry}})
        self._without(user_id, False)

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
