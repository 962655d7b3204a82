"""Deployment files name every entry point main.py exports, and the local server mounts them all."""

import json
from pathlib import Path

import main
from shared.devserver import MOUNTS

ROOT = Path(__file__).resolve().parents[2]


def test_every_entry_point_is_deployed_rewritten_and_mounted():
    exported = set(main.__all__)
    serverless = (ROOT / "serverless.yml").read_text()
    deployed = {
        line.strip().split(":", 1)[1].strip() for line in serverless.splitlines() if line.strip().startswith("handler:")
    }
    rewrites = {r["function"] for r in json.loads((ROOT / "firebase.json").read_text())["hosting"]["rewrites"]}
    assert deployed == exported
    assert rewrites == exported
    assert set(MOUNTS.values()) == exported
    for name in exported:
        assert callable(getattr(main, name))


def test_production_refuses_to_invent_signing_secrets(tmp_path, monkeypatch):
    import pytest

    from shared import wiring
    from shared.clock import SystemClock
    from shared.config import Settings

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ENVIRONMENT", "production")
    gateway = wiring.Gateway(Settings(), SystemClock())
    with pytest.raises(RuntimeError, match="SESSION_SECRET"):
        _ = gateway.sessions
    with pytest.raises(RuntimeError, match="MEDIA_SIGNING_KEY"):
        _ = gateway.media
    monkeypatch.setenv("SESSION_SECRET", "s" * 32)
    assert wiring.Gateway(Settings(), SystemClock()).sessions is not None
    assert not list(tmp_path.glob("*.key")), "no key file is written in production"
