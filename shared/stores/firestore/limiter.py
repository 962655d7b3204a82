"""Limiter, abuse and user state on Firestore: exact under concurrency, no transactions.

Contended read-then-write transactions stall (the emulator) or retry heavily (Firestore), so
every decision is a read followed by ONE atomic write: an ``Increment`` whose new value
comes back in the write result, or a compare-and-set on the document's update time.

Bucket document ``limiter/{key}``: ``tat`` (GCRA theoretical arrival time, seconds),
``grace_used``, ``updated_at``, ``expire_at`` (TTL). ``acquire`` returns exactly what
``shared.ratelimit.bucket.decide`` returns for the state the winning write saw:

* grace: while the read shows ``grace_used < grace``, ``Increment(grace_used, 1)``; the
  request is a grace admission iff the returned count is ``<= grace``. Counts are handed
  out once each, so exactly ``grace`` requests ever get grace.
* idle bucket (``tat < now``): ``decide`` on the read state, written with a compare-and-set
  (``tat = now + interval``). A lost race re-reads, and then sees a busy bucket.
* busy bucket (``tat >= now``): ``Increment(tat, interval)``; admitted iff the returned
  ``tat`` is within the window (``decide``'s own test). A refused increment is given back
  with ``Increment(tat, -interval)``. An increment never admits more than the sequential
  bucket would: while a refused increment is in flight others may be refused too (never
  admitted), so any error is a refusal, not an extra admission.
* a read that already shows no token left is refused without writing anything.

An address's abuse state is ``limiter/abuse:{ip}``, in the same collection as the buckets, so that
``blocked_until(ip, now, bucket)`` reads the block and the caller's bucket with ONE query by
document id: billed one read per document found, at least one (two gets would be two reads, found
or not). The bucket read is kept for this thread's ``acquire`` of that key right after (within
``PREFETCH_SECONDS``, used once): a decision is then one read and one write in all. Any read the
decision rests on may be stale by the time of the write, prefetched or not: the grace count and the
busy bucket are decided on the value the atomic write returns, an idle bucket by a compare-and-set.
(Abuse state written before this layout, in ``abuse/{ip}``, is not read: at most a block running
at the upgrade is forgotten.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.ratelimit.abuse import AbuseRule, AbuseState, record_refusal
from shared.ratelimit.bucket import BucketState, Decision, Policy, decide
from shared.stores.base import Contention
from shared.stores.firestore.db import MAX_ROUNDS, FirestoreDb, doc_id, timestamp, transformed

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, DocumentSnapshot

PREFETCH_SECONDS = 1.0  # how long a bucket read by blocked_until serves this thread's acquire


@dataclass(frozen=True)
class _Read:
    """A bucket as read: its fields, whether it exists, and its update time (for a compare-and-set)."""

    data: dict[str, Any]
    exists: bool
    update_time: datetime | None

    @classmethod
    def of(cls, snap: DocumentSnapshot | None) -> _Read:
        if snap is None or not snap.exists:
            return cls({}, False, None)
        return cls(snap.to_dict() or {}, True, snap.update_time)


class FirestoreLimiterStore:
    def __init__(self, db: FirestoreDb, state_ttl_seconds: float = 7 * 86400) -> None:
        self.db = db
        self.state_ttl = state_ttl_seconds
        self._prefetched = threading.local()  # (key, _Read, monotonic time) from blocked_until

    def _bucket(self, key: str) -> DocumentReference:
        return self.db.collection("limiter").document(doc_id(key))

    def _abuse(self, ip: str) -> DocumentReference:
        return self.db.collection("limiter").document(doc_id(f"abuse:{ip}"))

    def _read(self, ref: DocumentReference, key: str) -> _Read:
        """The bucket ``blocked_until`` read for this thread just now, else a read of it."""
        held = getattr(self._prefetched, "value", None)
        self._prefetched.value = None
        if held is not None and held[0] == key and time.monotonic() - held[2] <= PREFETCH_SECONDS:
            return held[1]
        return _Read.of(self.db.get(ref))

    def _stamp(self, now: float, until: float | None = None) -> dict[str, Any]:
        return {"updated_at": now, "expire_at": timestamp(max(until or now, now) + self.state_ttl)}

    def acquire(self, key: str, now: float, policy: Policy) -> Decision:
        from google.cloud.firestore import Increment

        asked = float(now)
        ref = self._bucket(key)
        read = self._read(ref, key)
        for _ in range(MAX_ROUNDS):
            data = read.data
            # Time never runs backwards for a bucket (as in ``decide``): a request whose clock
            # reading is older than the last decision's is decided at that later time.
            now = max(asked, float(data.get("updated_at", 0.0)))
            state = BucketState(float(data.get("tat", 0.0)), int(data.get("grace_used", 0)))
            if state.grace_used < policy.grace:
                written = self.db.merge(ref, {"grace_used": Increment(1), **self._stamp(now)})
                used = int(transformed(written))
                if used <= policy.grace:
                    return decide(BucketState(state.tat, used - 1), now, policy)[0]
                read = _Read.of(self.db.get(ref))
                continue  # the last grace went to someone else meanwhile: decide on the bucket
            decision, after = decide(state, now, policy)
            if not decision.allowed:
                return decision  # no token even in the state read (which can only be fuller)
            if state.tat < now or "tat" not in data:
                fields = {"tat": after.tat, "grace_used": after.grace_used, **self._stamp(now, after.tat)}
                if read.exists:
                    done = self.db.update(ref, fields, since=read.update_time) is not None
                else:
                    done = self.db.create(ref, fields) is not None
                if done:
                    return decision
                read = _Read.of(self.db.get(ref))
                continue
            written = self.db.update(ref, {"tat": Increment(policy.interval), **self._stamp(now, state.tat)})
            if written is None:
                read = _Read.of(self.db.get(ref))
                continue  # purged meanwhile
            base = transformed(written) - policy.interval
            decision = decide(BucketState(base, policy.grace), now, policy)[0] if base >= now else None
            if decision is not None and decision.allowed:
                return decision
            self.db.update(ref, {"tat": Increment(-policy.interval)})
            if decision is not None:
                return decision
            read = _Read.of(self.db.get(ref))
            # base < now: refusals were given back meanwhile and the bucket went idle; retry
        raise Contention("this caller")

    def blocked_until(self, ip: str, now: float, bucket: str | None = None) -> float | None:
        abuse = self._abuse(ip)
        if bucket is None:
            snap: DocumentSnapshot | None = self.db.get(abuse)
        else:
            ref = self._bucket(bucket)
            found = self.db.get_some([abuse, ref])
            snap = found.get(abuse.path)
            self._prefetched.value = (bucket, _Read.of(found.get(ref.path)), time.monotonic())
        until = float(_Read.of(snap).data.get("blocked_until", 0.0))
        return until if until > now else None

    def record_refusal(self, ip: str, now: float, rule: AbuseRule) -> float | None:
        """A new window (or a first refusal) is a compare-and-set of ``record_refusal``'s result;
        inside a window the count is an ``Increment``, and the refusal whose count reaches the
        threshold (exactly one) starts the block, handing later refusals to the next window."""
        from google.cloud.firestore import Increment

        now = float(now)
        ref = self._abuse(ip)
        for _ in range(MAX_ROUNDS):
            snap = self.db.get(ref)
            data = snap.to_dict()
            before = _abuse_state(data) if data else None
            if before is None or now - before.window_start > rule.window:
                after = record_refusal(before, now, rule)
                fields = {**_abuse_fields(after), **self._stamp(now, after.blocked_until + rule.forgive_after)}
                if before is None:
                    done = self.db.create(ref, fields) is not None
                else:
                    done = self.db.update(ref, fields, since=snap.update_time) is not None
                if not done:
                    continue
                started = before is None or after.blocked_until != before.blocked_until
                return after.blocked_until if started and after.blocked_until > now else None
            written = self.db.update(ref, {"refusals": Increment(1), **self._stamp(now, before.blocked_until)})
            if written is None:
                continue
            count = int(transformed(written))
            if count != rule.refusals:
                return None
            return self._start_block(ref, now, rule, before)
        raise Contention("this address")

    def _start_block(self, ref: Any, now: float, rule: AbuseRule, state: AbuseState) -> float:
        """This refusal's count reached the threshold, which exactly one refusal does: it alone
        writes the block, so no compare-and-set is needed; refusals counted meanwhile stay
        counted, in the next window."""
        from google.cloud.firestore import Increment

        after = record_refusal(
            AbuseState(state.window_start, rule.refusals - 1, state.level, state.blocked_until), now, rule
        )
        fields = {
            **_abuse_fields(after),
            "refusals": Increment(-rule.refusals),
            **self._stamp(now, after.blocked_until + rule.forgive_after),
        }
        self.db.update(ref, fields)
        return after.blocked_until

    def purge(self, before: float, limit: int | None = None) -> int:
        """Deletes are compare-and-sets on the update time read: state touched meanwhile stays.
        ``abuse/`` holds the abuse state written before it moved into ``limiter/``."""
        removed = 0
        for name in ("limiter", "abuse"):
            removed += self._purge(name, before, None if limit is None else limit - removed)
        return removed

    def _purge(self, name: str, before: float, limit: int | None) -> int:
        from google.cloud.firestore import FieldFilter

        removed, after = 0, None
        while limit is None or removed < limit:
            stale = self.db.collection(name).where(filter=FieldFilter("updated_at", "<", before)).order_by("updated_at")
            if after is not None:
                stale = stale.start_after(after)
            want = None if limit is None else limit - removed
            page = self.db.query(stale if want is None else stale.limit(want))
            # a block still running (or recent) stays, and is read past
            snaps = [s for s in page if float((s.to_dict() or {}).get("blocked_until", 0.0)) < before]
            removed += sum(self.db.delete_all([s.reference for s in snaps], [s.update_time for s in snaps]))
            if want is None or len(page) < want:
                break
            after = page[-1]
        return removed


def _abuse_state(data: dict[str, Any]) -> AbuseState:
    return AbuseState(
        float(data.get("window_start", 0.0)),
        int(data.get("refusals", 0)),
        int(data.get("level", 0)),
        float(data.get("blocked_until", 0.0)),
    )


def _abuse_fields(state: AbuseState) -> dict[str, Any]:
    return {
        "window_start": state.window_start,
        "refusals": state.refusals,
        "level": state.level,
        "blocked_until": state.blocked_until,
    }
