"""Deployment files name every entry point main.py exports, and the local server mounts them all."""

import json
import re
from pathlib import Path

from functions_framework._function_registry import REGISTRY_MAP

import main
from shared.devserver import EVENT_MOUNTS, MOUNTS, PUSH_PREFIX

ROOT = Path(__file__).resolve().parents[2]


def _serverless_functions() -> dict[str, str]:
    """Each function block of serverless.yml: handler -> the block's text."""
    functions = (ROOT / "serverless.yml").read_text().split("\nfunctions:\n", 1)[1]
    blocks = re.split(r"\n(?=  [a-z_]+:)", "\n" + functions)
    found = {}
    for block in blocks:
        handler = re.search(r"^\s+handler:\s*(\S+)", block, re.M)
        if handler:
            found[handler.group(1)] = block
    return found


def test_every_entry_point_is_deployed_rewritten_and_mounted():
    """HTTP functions: deployed with an http event, rewritten by hosting, mounted by the dev server.
    CloudEvent functions (the decorator's registry says which): deployed on a Pub/Sub topic, no
    rewrite, and mounted by the dev server only as a push endpoint under /_pubsub."""
    exported = set(main.__all__)
    kinds = {name: REGISTRY_MAP.get(name) for name in exported}
    assert set(kinds.values()) <= {"http", "cloudevent"}, f"every entry point is registered by a decorator: {kinds}"
    http_functions = {name for name, kind in kinds.items() if kind == "http"}
    event_functions = exported - http_functions
    deployed = _serverless_functions()
    rewrites = {r["function"] for r in json.loads((ROOT / "firebase.json").read_text())["hosting"]["rewrites"]}
    assert set(deployed) == exported
    assert rewrites == http_functions
    assert set(MOUNTS.values()) == http_functions
    assert EVENT_MOUNTS == {f"{PUSH_PREFIX}/{name}": name for name in event_functions}
    for name in http_functions:
        assert re.search(rf"- http: {name}\b", deployed[name]), name
    for name in event_functions:
        assert "eventType: providers/cloud.pubsub/eventTypes/topic.publish" in deployed[name], name
        assert re.search(r"resource: projects/.+/topics/", deployed[name]), name
        assert "- http:" not in deployed[name], name
    for name in exported:
        assert callable(getattr(main, name))


def test_production_refuses_to_invent_signing_secrets(tmp_path, monkeypatch):
    import pytest

    from shared import wiring
    from shared.clock import SystemClock
    from shared.config import Settings
    from shared.secret_checks import InsecureSettings

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("MEDIA_BACKEND", "local")
    with pytest.raises(InsecureSettings, match="SESSION_SECRET is not set.*MEDIA_SIGNING_KEY is not set"):
        Settings()  # refused when the settings load, before anything could invent a key
    monkeypatch.setenv("SESSION_SECRET", "Zq7-vN2_pL9xR4tB8mK1wY6cH3jD5sF0gA")
    monkeypatch.setenv("MEDIA_SIGNING_KEY", "Ag0Fs5Dj3Hc6Yw1Km8Bt4Rx9Lp_2Nv-7qZ")
    monkeypatch.setenv("TASKS_TOKEN", "tT4-kW9_mQ2zX7cV1bN6hJ3gF8dS5aL0pR")
    monkeypatch.setenv("BYOK_ENCRYPTION_KEY", "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=")
    gateway = wiring.Gateway(Settings(), SystemClock())
    assert gateway.sessions is not None and gateway.media is not None
    assert not list(tmp_path.glob("*.key")), "no key file is written in production"
