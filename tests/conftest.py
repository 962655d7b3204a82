from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import functions_framework
import pytest

from shared import wiring
from tests.auth_emulator import auth_emulator, firebase, named_users  # noqa: F401 - fixtures (Auth emulator)
from tests.firestore_emulator import firestore_emulator  # noqa: F401 - ONE session fixture for every test module

ROOT = Path(__file__).resolve().parent.parent
TASKS_TOKEN = "test-task-token-0123456789"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fresh embedded gateway in a temporary data dir; jobs run only when a test says so."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DISPATCHER", "none")
    monkeypatch.setenv("TASKS_TOKEN", TASKS_TOKEN)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("CORS_ORIGINS", "https://site.example")
    monkeypatch.setenv("LOAD_HOST_METRICS", "false")
    monkeypatch.setenv("LOAD_CACHE_SECONDS", "0")
    # Tests that fire identical submits to exercise limits want one job per submit;
    # tests/functions/test_byok_and_cache.py turns the dedupe window on.
    monkeypatch.setenv("SUBMIT_DEDUPE_SECONDS", "0")
    wiring.reset()
    yield tmp_path
    wiring.reset()


_apps: dict[str, object] = {}


def function_client(target: str):  # type: ignore[no-untyped-def]
    """The real functions-framework app of one entry point, as Cloud Functions runs it."""
    if target not in _apps:
        _apps[target] = functions_framework.create_app(
            target=target, source=str(ROOT / "main.py"), signature_type="http"
        )
    return _apps[target].test_client()  # type: ignore[attr-defined]
