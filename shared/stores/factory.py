"""Open the configured store implementation as one bundle of per-aggregate stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shared.stores.base import JobStore, LimiterStore, UserStore

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.stores.firestore_db import OpCounter


@dataclass
class Stores:
    jobs: JobStore
    limiter: LimiterStore
    users: UserStore
    close: Callable[[], None] = field(default=lambda: None)
    ops: OpCounter | None = None  # store operations counted as billed (Firestore only)


def open_sqlite(path: Path) -> Stores:
    from shared.stores.sqlite_db import SqliteDatabase
    from shared.stores.sqlite_jobs import SqliteJobStore
    from shared.stores.sqlite_limiter import SqliteLimiterStore, SqliteUserStore

    db = SqliteDatabase(path)
    return Stores(SqliteJobStore(db), SqliteLimiterStore(db), SqliteUserStore(db), db.close)


def open_firestore(settings: Settings) -> Stores:
    from shared.stores.firestore_db import FirestoreDb
    from shared.stores.firestore_jobs import FirestoreJobStore
    from shared.stores.firestore_limiter import FirestoreLimiterStore, FirestoreUserStore

    db = FirestoreDb(
        settings.firestore_project,
        settings.firestore_database,
        settings.firestore_prefix,
        settings.firestore_emulator_host,
    )
    limiter = FirestoreLimiterStore(db, settings.firestore_limiter_ttl_seconds)
    return Stores(FirestoreJobStore(db), limiter, FirestoreUserStore(db), db.close, db.ops)
