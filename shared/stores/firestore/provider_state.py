"""Provider circuit breakers on Firestore, shared by every instance; no transactions.

``provider_breakers/{provider}``: ``failures``, ``opened_until``, ``probe_until``. A failure is
a read and a compare-and-set on the update time (a lost race re-reads); the half-open probe is
a compare-and-set too, so exactly one caller wins it. ``breakers()`` is one query: the
collection only holds providers that are failing or open (a success deletes the document).
"""

from __future__ import annotations

from typing import Any

from shared.stores.base import BreakerState, Contention
from shared.stores.firestore.db import MAX_ROUNDS, FirestoreDb, doc_id


def _state(provider: str, data: dict[str, Any]) -> BreakerState:
    return BreakerState(provider, int(data.get("failures", 0)), data.get("opened_until"), data.get("probe_until"))


class FirestoreProviderStateStore:
    def __init__(self, db: FirestoreDb) -> None:
        self.db = db

    def _ref(self, provider: str) -> Any:
        return self.db.collection("provider_breakers").document(doc_id(provider))

    def breakers(self) -> dict[str, BreakerState]:
        found = self.db.query(self.db.collection("provider_breakers"))
        states = [_state(str((s.to_dict() or {}).get("provider", s.id)), s.to_dict() or {}) for s in found]
        return {state.provider: state for state in states}

    def record_failure(self, provider: str, now: float, threshold: int, open_seconds: float) -> BreakerState:
        ref = self._ref(provider)
        for _ in range(MAX_ROUNDS):
            snap = self.db.get(ref)
            current = _state(provider, snap.to_dict() or {})
            failures = current.failures + 1
            opened_until = current.opened_until
            if failures >= threshold or current.opened_until is not None:
                opened_until = float(now) + open_seconds
            fields = {"provider": provider, "failures": failures, "opened_until": opened_until, "probe_until": None}
            if snap.exists:
                done = self.db.update(ref, fields, since=snap.update_time) is not None
            else:
                done = self.db.create(ref, fields) is not None
            if done:
                return BreakerState(provider, failures, opened_until, None)
        raise Contention("this provider's breaker")

    def record_success(self, provider: str) -> None:
        self.db.delete(self._ref(provider))

    def try_probe(self, provider: str, now: float, probe_seconds: float) -> bool:
        ref = self._ref(provider)
        snap = self.db.get(ref)
        state = _state(provider, snap.to_dict() or {})
        if state.opened_until is None or state.opened_until > now:
            return False
        if state.probe_until is not None and state.probe_until > now:
            return False
        return self.db.update(ref, {"probe_until": float(now) + probe_seconds}, since=snap.update_time) is not None
