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
