"""Store implementations under contract. Add an implementation here, not new tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.stores.factory import Stores, open_sqlite

STORES = ["sqlite"]


@pytest.fixture(params=STORES)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "sqlite":
        bundle = open_sqlite(tmp_path / "contract.sqlite3")
        yield bundle
        bundle.close()


@pytest.fixture
def job_store(stores: Stores):
    return stores.jobs


@pytest.fixture
def limiter_store(stores: Stores):
    return stores.limiter


@pytest.fixture
def user_store(stores: Stores):
    return stores.users
