"""A SQLite write lock held past busy_timeout is a 503 to the caller, not a 500."""

import sqlite3

import pytest

from shared import errors
from shared.stores.sqlite_db import SqliteDatabase


def test_a_write_lock_held_too_long_is_server_busy(tmp_path):
    db = SqliteDatabase(tmp_path / "busy.sqlite3", busy_timeout_ms=50)
    other = sqlite3.connect(tmp_path / "busy.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(errors.ServerBusy) as caught, db.write():
            pass
        assert caught.value.status == 503 and caught.value.retry_after == 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    with db.write() as conn:  # and it recovers once the lock is free
        conn.execute("SELECT 1")
    db.close()
