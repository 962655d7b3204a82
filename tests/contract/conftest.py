"""Store implementations under contract. Add an implementation here, not new tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.secretbox import KeyCipher
from shared.stores.factory import Stores, open_firestore, open_sqlite

# Firestore runs on the official emulator, started once per session (marked slow).
STORES = ["sqlite", pytest.param("firestore", marks=pytest.mark.slow)]


@pytest.fixture(params=STORES)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "sqlite":
        bundle = open_sqlite(tmp_path / "contract.sqlite3")
        yield bundle
        bundle.close()
    elif request.param == "firestore":
        emulator = request.getfixturevalue("firestore_emulator")
        settings = emulator.settings()  # a fresh project per test: nothing leaks between tests
        bundle = open_firestore(settings, KeyCipher.of(KeyCipher.generate()))
        yield bundle
        bundle.close()
        emulator.reset(settings.firestore_project)


@pytest.fixture
def job_store(stores: Stores):
    return stores.jobs


@pytest.fixture
def limiter_store(stores: Stores):
    return stores.limiter


@pytest.fixture
def user_store(stores: Stores):
    return stores.users


@pytest.fixture
def budget_store(stores: Stores):
    return stores.budgets
