"""Store implementations under contract. Add an implementation here, not new tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.stores.sqlite_db import SqliteDatabase
from shared.stores.sqlite_jobs import SqliteJobStore

STORES = ["sqlite"]


@pytest.fixture(params=STORES)
def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "sqlite":
        db = SqliteDatabase(tmp_path / "contract.sqlite3")
        yield SqliteJobStore(db)
        db.close()
