"""The Firestore connection every Firestore store shares, and the operation counter.

One ``google.cloud.firestore.Client`` per instance, created lazily on first use (the import
alone costs ~0.4 s, so functions that never touch the store never pay it). With
``FIRESTORE_EMULATOR_HOST`` in the environment the client library talks to the emulator.

Every store operation goes through the small set of methods here, so ``OpCounter`` sees them
all and counts them the way Firestore bills them: a document read is 1 read, a query costs
one read per document returned (at least 1), a ``count()`` aggregation one read per 1,000
index entries (at least 1); each written document is 1 write, each deleted one 1 delete.
Writes refused by a precondition (a lost compare-and-set) are counted apart as ``conflicts``.
The stores never open transactions; ``transactions`` is there so that stays visible.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import quote

from shared.domain import StoreUnavailable

if TYPE_CHECKING:
    from google.cloud.firestore import Client, CollectionReference, DocumentReference, DocumentSnapshot, Query
    from google.cloud.firestore_v1.types.write import WriteResult

MAX_ROUNDS = 64  # compare-and-set rounds before Contention; each lost round means another writer made progress
EMULATOR_PROJECT = "demo-aiart-gateway"  # "demo-" projects never reach real Google services


@dataclass
class OpCount:
    reads: int = 0
    writes: int = 0
    deletes: int = 0
    transactions: int = 0
    conflicts: int = 0

    def add(self, other: OpCount) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def minus(self, other: OpCount) -> OpCount:
        return OpCount(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    def copy(self) -> OpCount:
        return OpCount(**{f.name: getattr(self, f.name) for f in fields(self)})


_tracked: contextvars.ContextVar[tuple[OpCount, ...]] = contextvars.ContextVar("firestore_ops", default=())


class OpCounter:
    """Running totals for the instance, plus ``track()`` for the operations of one request."""

    def __init__(self) -> None:
        self._total = OpCount()
        self._lock = threading.Lock()

    def record(self, **counts: int) -> None:
        delta = OpCount(**counts)
        with self._lock:
            self._total.add(delta)
            for tally in _tracked.get():
                tally.add(delta)

    def total(self) -> OpCount:
        with self._lock:
            return self._total.copy()

    @contextmanager
    def track(self) -> Iterator[OpCount]:
        """Count the operations made by this thread (or task) inside the block."""
        tally = OpCount()
        token = _tracked.set((*_tracked.get(), tally))
        try:
            yield tally
        finally:
            _tracked.reset(token)


def doc_id(key: str) -> str:
    """A valid, stable document id for any key (ids may not contain '/' or look like '__x__')."""
    quoted = quote(key, safe=":@+-_.~=!$,;")
    if not quoted or quoted in (".", "..") or quoted.startswith("__") or len(quoted) > 400:
        # '%' is never followed by 'h' in a quoted key, so hashed ids cannot collide with those
        return "%h" + hashlib.sha256(key.encode()).hexdigest()
    return quoted


@contextmanager
def answered() -> Iterator[None]:
    """Firestore not answering in time (down, hung, overloaded past the bounded retries) is
    ``StoreUnavailable``: the HTTP edge answers 503 with Retry-After, background loops retry."""
    from google.api_core.exceptions import DeadlineExceeded, ResourceExhausted, RetryError, ServiceUnavailable

    try:
        yield
    except (DeadlineExceeded, ResourceExhausted, RetryError, ServiceUnavailable) as exc:
        raise StoreUnavailable("Firestore") from exc


P = ParamSpec("P")
R = TypeVar("R")


def _answered(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        with answered():
            return method(*args, **kwargs)

    return call


def timestamp(seconds: float) -> datetime:
    """An epoch time as the Timestamp type a Firestore TTL policy needs."""
    return datetime.fromtimestamp(seconds, UTC)


class FirestoreDb:
    def __init__(
        self,
        project: str | None = None,
        database: str = "(default)",
        prefix: str = "",
        emulator_host: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.project = project
        self.timeout_seconds = timeout_seconds
        self._deadline: dict[str, Any] | None = None
        self.database = database
        self.prefix = prefix
        self.emulator_host = emulator_host
        self.ops = OpCounter()
        self._lock = threading.Lock()
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    def _connect(self) -> Client:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore

        if self.emulator_host is None:
            return firestore.Client(project=self.project, database=self.database)
        if os.environ.get("FIRESTORE_EMULATOR_HOST") != self.emulator_host:
            # the client library reads the emulator address from the environment only
            raise ValueError("FIRESTORE_EMULATOR_HOST must be set in the environment to use the emulator")
        return firestore.Client(
            project=self.project or EMULATOR_PROJECT,
            database=self.database,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )

    @property
    def deadline(self) -> dict[str, Any]:
        """``retry`` and ``timeout`` for every call: an unavailable database is retried for at most
        ``timeout_seconds`` in all (the library's own defaults wait 60 to 300 s, then a 500)."""
        if self._deadline is None:
            from google.api_core.exceptions import ResourceExhausted, ServiceUnavailable
            from google.api_core.retry import Retry, if_exception_type

            retry = Retry(
                predicate=if_exception_type(ResourceExhausted, ServiceUnavailable),  # what Commit retries
                initial=0.1,
                maximum=1.0,
                timeout=self.timeout_seconds,
            )
            self._deadline = {"retry": retry, "timeout": self.timeout_seconds}
        return self._deadline

    def collection(self, name: str) -> CollectionReference:
        return self.client.collection(self.prefix + name)

    # -- reads ---------------------------------------------------------------------------

    @_answered
    def get(self, ref: DocumentReference) -> DocumentSnapshot:
        snapshot = ref.get(**self.deadline)
        self.ops.record(reads=1)
        return snapshot

    @_answered
    def query(self, query: Query) -> list[DocumentSnapshot]:
        found = list(query.stream(**self.deadline))
        self.ops.record(reads=max(len(found), 1))
        return found

    def get_some(self, refs: list[DocumentReference]) -> dict[str, DocumentSnapshot]:
        """The documents of ``refs`` (one collection) that exist, by path: ONE query by document
        id, billed one read per document found (at least 1), where a get of each bills one read
        per document asked for, found or not."""
        from google.cloud.firestore import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        parent = refs[0].parent
        found = self.query(parent.where(filter=FieldFilter(FieldPath.document_id(), "in", refs)))
        return {snap.reference.path: snap for snap in found}

    @_answered
    def count(self, query: Query) -> int:
        result = query.count(alias="n").get(**self.deadline)
        value = int(result[0][0].value)
        self.ops.record(reads=max(math.ceil(value / 1000), 1))
        return value

    @_answered
    def count_and_sum(self, query: Query, field: str) -> tuple[int, float]:
        """``count()`` and ``sum(field)`` of one query, in one aggregation (billed as one)."""
        from google.cloud.firestore_v1.aggregation import AggregationQuery

        aggregation = AggregationQuery(query)
        aggregation.count(alias="n").sum(field, alias="total")
        values = {result.alias: result.value for result in aggregation.get(**self.deadline)[0]}
        count = int(values["n"])
        self.ops.record(reads=max(math.ceil(count / 1000), 1))
        return count, float(values["total"])

    # -- writes --------------------------------------------------------------------------

    @_answered
    def create(self, ref: DocumentReference, data: dict[str, Any]) -> WriteResult | None:
        """Write a new document; None when one with this id exists."""
        from google.api_core.exceptions import AlreadyExists

        try:
            result = ref.create(data, **self.deadline)
        except AlreadyExists:
            self.ops.record(conflicts=1)
            return None
        self.ops.record(writes=1)
        return result

    @_answered
    def create_all(self, docs: list[tuple[DocumentReference, dict[str, Any]]]) -> bool:
        """Create several documents atomically (one batch); False when any exists already."""
        from google.api_core.exceptions import AlreadyExists

        batch = self.client.batch()
        for ref, data in docs:
            batch.create(ref, data)
        try:
            batch.commit(**self.deadline)
        except AlreadyExists:
            self.ops.record(conflicts=1)
            return False
        self.ops.record(writes=len(docs))
        return True

    @_answered
    def update(self, ref: DocumentReference, data: dict[str, Any], since: datetime | None = None) -> WriteResult | None:
        """Update an existing document, only if unchanged ``since`` that update time when given.

        None when the document is missing or changed (a lost compare-and-set)."""
        from google.api_core.exceptions import FailedPrecondition, NotFound

        option = self.client.write_option(last_update_time=since) if since is not None else None
        try:
            result = ref.update(data, option=option, **self.deadline)
        except (FailedPrecondition, NotFound):
            self.ops.record(conflicts=1)
            return None
        self.ops.record(writes=1)
        return result

    @_answered
    def merge(self, ref: DocumentReference, data: dict[str, Any]) -> WriteResult:
        """Create or merge into a document (transforms such as ``Increment`` apply atomically)."""
        result = ref.set(data, merge=True, **self.deadline)
        self.ops.record(writes=1)
        return result

    @_answered
    def put(self, ref: DocumentReference, data: dict[str, Any]) -> None:
        ref.set(data, **self.deadline)
        self.ops.record(writes=1)

    @_answered
    def delete(self, ref: DocumentReference, since: datetime | None = None) -> bool:
        from google.api_core.exceptions import FailedPrecondition, NotFound

        option = self.client.write_option(last_update_time=since) if since is not None else None
        try:
            ref.delete(option=option, **self.deadline)
        except (FailedPrecondition, NotFound):
            self.ops.record(conflicts=1)
            return False
        self.ops.record(deletes=1)
        return True

    @_answered
    def delete_all(self, refs: list[DocumentReference], since: list[datetime | None] | None = None) -> list[bool]:
        """Delete documents that exist (and, with ``since``, are unchanged since those update
        times): which of them this call deleted. One batch (at most 500) when every precondition
        holds, else one delete each, so a document gone or changed meanwhile is only skipped."""
        from google.api_core.exceptions import FailedPrecondition, NotFound

        if not refs:
            return []
        options = [
            self.client.write_option(last_update_time=when)
            if when is not None
            else self.client.write_option(exists=True)
            for when in (since or [None] * len(refs))
        ]
        batch = self.client.batch()
        for ref, option in zip(refs, options, strict=True):
            batch.delete(ref, option=option)
        try:
            batch.commit(**self.deadline)
        except (FailedPrecondition, NotFound):
            self.ops.record(conflicts=1)
        else:
            self.ops.record(deletes=len(refs))
            return [True] * len(refs)
        done = []
        for ref, option in zip(refs, options, strict=True):
            try:
                ref.delete(option=option, **self.deadline)
            except (FailedPrecondition, NotFound):
                self.ops.record(conflicts=1)
                done.append(False)
            else:
                self.ops.record(deletes=1)
                done.append(True)
        return done

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def transformed(result: WriteResult, index: int = 0) -> float:
    """The value a transform (``Increment``) left in the document, in the order written."""
    value = result.transform_results[index]
    pb = type(value).pb(value)
    return float(getattr(pb, pb.WhichOneof("value_type")))
