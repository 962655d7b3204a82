"""A SQLite write lock held past busy_timeout is store Contention (the HTTP edge answers 503), not a 500."""

import sqlite3

import pytest

from shared.domain import Contention
from shared.stores.sqlite.db import SqliteDatabase


def test_a_write_lock_held_too_long_is_server_busy(tmp_path):
    db = SqliteDatabase(tmp_path / "busy.sqlite3", busy_timeout_ms=50)
    other = sqlite3.connect(tmp_path / "busy.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(Contention), db.write():
            pass
    finally:
        other.execute("ROLLBACK")
        other.close()
    with db.write() as conn:  # and it recovers once the lock is free
        conn.execute("SELECT 1")
    db.close()
