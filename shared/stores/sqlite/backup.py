"""Copies of the SQLite database: made while it runs, checked, and put back.

``snapshot`` uses SQLite's online backup API in ONE step: it reads the whole database inside
one read transaction, so the copy is a single point in time and, in WAL mode, writers carry on
meanwhile. ``restore`` checks a copy (``PRAGMA integrity_check``) before it goes anywhere.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
from pathlib import Path

CHUNK = 1 << 20


class BadBackup(ValueError):
    """The file is not a sound SQLite database."""


class DatabaseExists(FileExistsError):
    """Restoring would replace a database that exists (pass ``force``)."""


def snapshot(database: Path, target: Path) -> None:
    """A consistent copy of the (live) database ``database`` at ``target``."""
    source = sqlite3.connect(database, timeout=15)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # pages=-1: every page in one step, one read transaction
            copy.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
        finally:
            copy.close()
    finally:
        source.close()


def compress(source: Path, target: Path) -> int:
    """gzip ``source`` into ``target``, streamed; the compressed size."""
    with source.open("rb") as raw, gzip.open(target, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(raw, packed, CHUNK)
    return target.stat().st_size


def decompress(source: Path, target: Path) -> None:
    try:
        with gzip.open(source, "rb") as packed, target.open("wb") as raw:
            shutil.copyfileobj(packed, raw, CHUNK)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise BadBackup(f"not a gzip file: {exc}") from None


def check(path: Path) -> int:
    """The schema version of the database in ``path``; ``BadBackup`` unless it is sound."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BadBackup(f"not a SQLite database: {exc}") from None
    if verdict != "ok":
        raise BadBackup(f"integrity check failed: {verdict}")
    return version


def restore(copy: Path, database: Path, force: bool = False, keep_as: Path | None = None) -> None:
    """Put the checked database ``copy`` at ``database``.

    With no database there, the copy is moved into place. An existing database is replaced only
    with ``force``: first saved to ``keep_as`` (a snapshot), then overwritten IN PLACE through the
    backup API, which takes the database's write lock, so a server that has it open carries on and
    reads the restored data next (nothing it wrote in between survives)."""
    check(copy)
    database.parent.mkdir(parents=True, exist_ok=True)
    if not database.exists():
        for leftover in (Path(f"{database}-wal"), Path(f"{database}-shm")):  # a stale log must not replay
            leftover.unlink(missing_ok=True)
        shutil.copyfile(copy, f"{database}.restoring")
        os.replace(f"{database}.restoring", database)
        return
    if not force:
        raise DatabaseExists(str(database))
    if keep_as is not None:
        snapshot(database, keep_as)
    source = sqlite3.connect(copy)
    try:
        live = sqlite3.connect(database, timeout=15)
        try:
            source.backup(live)
        finally:
            live.close()
    finally:
        source.close()
