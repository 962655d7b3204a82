"""The embedded SQLite database: one file, WAL, safe under threads and several processes.

Each thread gets its own connection (re-opened after ``fork``). Writes run inside
``BEGIN IMMEDIATE`` transactions so a read-decide-write is one atomic step across processes.
Schema changes are numbered migrations tracked in ``PRAGMA user_version``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.domain import Contention

log = logging.getLogger("gateway.stores")
INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL

# Append only: each entry is one migration, applied once, in order.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        tier TEXT NOT NULL,
        priority INTEGER NOT NULL,
        mode TEXT NOT NULL,
        status TEXT NOT NULL,
        params TEXT NOT NULL,
        created_at REAL NOT NULL,
        input_key TEXT,
        idempotency_key TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_expires_at REAL,
        started_at REAL,
        finished_at REAL,
        provider TEXT,
        model TEXT,
        vendor_task_id TEXT,
        result TEXT,
        error TEXT,
        cost_units REAL NOT NULL DEFAULT 0,
        expire_at REAL,
        extra TEXT NOT NULL DEFAULT '{}'
    );
    CREATE UNIQUE INDEX jobs_idempotency ON jobs(owner, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX jobs_queue ON jobs(status, priority, created_at, id);
    CREATE INDEX jobs_owner ON jobs(owner, created_at DESC);
    CREATE INDEX jobs_lease ON jobs(status, lease_expires_at);
    CREATE INDEX jobs_mode_done ON jobs(mode, status, finished_at DESC);
    """,
    """
    CREATE TABLE limiter_buckets (
        key TEXT PRIMARY KEY,
        tat REAL NOT NULL,
        grace_used INTEGER NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX limiter_buckets_updated ON limiter_buckets(updated_at);
    CREATE TABLE abuse (
        ip TEXT PRIMARY KEY,
        window_start REAL NOT NULL,
        refusals INTEGER NOT NULL,
        level INTEGER NOT NULL,
        blocked_until REAL NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        tier TEXT NOT NULL,
        limit_override INTEGER,
        text_limit_override INTEGER,
        email TEXT
    ) WITHOUT ROWID;
    """,
    """
    CREATE TABLE provider_breakers (
        provider TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        opened_until REAL,
        probe_until REAL
    ) WITHOUT ROWID;
    """,
    """
    CREATE TABLE user_keys (
        user_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        token TEXT NOT NULL,
        hint TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (user_id, provider)
    ) WITHOUT ROWID;
    CREATE TABLE response_cache (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        expire_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX response_cache_expire ON response_cache(expire_at);
    """,
    """
    ALTER TABLE jobs ADD COLUMN budget TEXT;
    ALTER TABLE users ADD COLUMN budget_override REAL;
    CREATE TABLE budget_lines (
        key TEXT PRIMARY KEY,
        cap REAL NOT NULL,
        reserved REAL NOT NULL,
        spent REAL NOT NULL,
        resets_at REAL NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE budget_reservations (
        id TEXT PRIMARY KEY,
        keys TEXT NOT NULL,
        units REAL NOT NULL,
        created_at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 6: the cleanup's retention query (shared.services.cleanup); after this migration the file is
    # converted to auto_vacuum=INCREMENTAL once (``_convert_to_incremental_vacuum``)
    """
    CREATE INDEX jobs_created ON jobs(created_at);
    """,
    # 7: accounts (shared.services.users, shared.services.usage)
    """
    ALTER TABLE users ADD COLUMN tier_expires_at REAL;
    ALTER TABLE users ADD COLUMN created_at REAL;
    ALTER TABLE users ADD COLUMN last_active REAL;
    ALTER TABLE users ADD COLUMN signed_out_at REAL;
    CREATE TABLE usage (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        at REAL NOT NULL,
        mode TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        duration REAL NOT NULL,
        cost_units REAL NOT NULL,
        quantity REAL NOT NULL,
        cached INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX usage_owner ON usage(owner, at DESC, id DESC);
    CREATE INDEX usage_at ON usage(at);
    """,
    # 8: queue order by rank = submit time + priority x QUEUE_AGING_SECONDS (shared.domain.queue_rank),
    # fixed at submit; rows from before get the default aging (60 s)
    """
    ALTER TABLE jobs ADD COLUMN rank REAL;
    UPDATE jobs SET rank = created_at + priority * 60.0;
    DROP INDEX jobs_queue;
    CREATE INDEX jobs_rank ON jobs(status, rank, id);
    """,
    # 9: payments (shared.services.payments) and gateway API keys (shared.services.api_keys)
    """
    CREATE TABLE subscriptions (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        plan TEXT NOT NULL,
        tier TEXT NOT NULL,
        price REAL NOT NULL,
        days INTEGER NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        activated_at REAL,
        expires_at REAL,
        ended_at REAL,
        event_at REAL
    ) WITHOUT ROWID;
    CREATE INDEX subscriptions_created ON subscriptions(created_at DESC, id DESC);
    CREATE INDEX subscriptions_status ON subscriptions(status, created_at DESC, id DESC);
    CREATE TABLE payment_events (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE api_keys (
        digest TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL
    ) WITHOUT ROWID;
    CREATE INDEX api_keys_user ON api_keys(user_id, created_at DESC);
    """,
    # 10: a job deferred for rate limits stays queued, not claimed before not_before (shared.jobs.runner)
    """
    ALTER TABLE jobs ADD COLUMN not_before REAL;
    ALTER TABLE jobs ADD COLUMN deferred REAL NOT NULL DEFAULT 0;
    """,
]


class SqliteDatabase:
    def __init__(self, path: Path, busy_timeout_ms: int = 15000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._migrate()

    def _open(self) -> sqlite3.Connection:
        new = not self.path.exists() or self.path.stat().st_size == 0
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_ms / 1000
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        if new:  # before WAL: a new file is created with it (an existing one is converted by _migrate)
            # only then: on an existing file the pragma waits for the write lock, so a thread's
            # first read would wait for (and fail on) another process's long write
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            try:
                local.conn = self._open()
            except sqlite3.OperationalError as exc:  # locked past busy_timeout: overloaded, as in write()
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                raise Contention("the database") from None
            local.pid = os.getpid()
        return local.conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: the write lock is taken before the first read."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # still locked after busy_timeout: overloaded
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise Contention("the database") from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self.write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
        self._convert_to_incremental_vacuum()

    def _convert_to_incremental_vacuum(self) -> None:
        """A file made before schema 6 keeps its free pages for ever (auto_vacuum=NONE): rewrite it
        once with VACUUM so that ``compact`` can hand free pages back. Busy: the next open retries."""
        conn = self.conn
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL:
            return
        log.warning(
            "converting the database to incremental auto-vacuum (one VACUUM)",
            extra={"fields": {"path": str(self.path)}},
        )
        try:
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("VACUUM")
        except sqlite3.OperationalError as exc:
            log.warning("auto-vacuum conversion postponed: %s", exc)

    def file_bytes(self) -> int:
        """The database file and its write-ahead log, in bytes."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    def compact(self) -> int:
        """Hand free pages back to the file system (after deletes): ``PRAGMA incremental_vacuum``,
        then a checkpoint that truncates the log. Returns how many bytes the files shrank by."""
        before = self.file_bytes()
        try:
            # executescript steps the pragma to the end (execute() would free one page only)
            self.conn.executescript("PRAGMA incremental_vacuum;")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.OperationalError as exc:  # busy: the next cleanup compacts
            log.warning("compaction postponed: %s", exc)
        return max(before - self.file_bytes(), 0)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.pid = None
