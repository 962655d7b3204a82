"""Open the configured store implementation as one bundle of per-aggregate stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared.stores.base import JobStore, LimiterStore, UserStore


@dataclass
class Stores:
    jobs: JobStore
    limiter: LimiterStore
    users: UserStore
    close: Callable[[], None] = field(default=lambda: None)


def open_sqlite(path: Path) -> Stores:
    from shared.stores.sqlite_db import SqliteDatabase
    from shared.stores.sqlite_jobs import SqliteJobStore
    from shared.stores.sqlite_limiter import SqliteLimiterStore, SqliteUserStore

    db = SqliteDatabase(path)
    return Stores(SqliteJobStore(db), SqliteLimiterStore(db), SqliteUserStore(db), db.close)
