"""``make dev`` with ``STORE=firestore`` on the emulator: a generation from submit to media."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.e2e.server import DevServer

pytestmark = pytest.mark.slow
API = "/api/v1"


def test_a_generation_runs_from_submit_to_media_on_firestore(firestore_emulator, tmp_path):  # noqa: F811
    project = firestore_emulator.settings().firestore_project
    server = DevServer(
        tmp_path,
        STORE="firestore",
        FIRESTORE_EMULATOR_HOST=firestore_emulator.host,
        FIRESTORE_PROJECT=project,
    )
    try:
        submitted = requests.post(server.url + API + "/generate/text-to-image", json={"prompt": "a fox"}, timeout=10)
        assert submitted.status_code == 202, submitted.text
        accepted = submitted.json()
        assert accepted["status"] == "queued" and accepted["position"] == 0
        done = server.wait_for(accepted["job_id"], {"succeeded", "failed", "canceled"})
        assert done["status"] == "succeeded", done
        media = requests.get(server.url + done["result"]["url"], timeout=10)
        assert media.status_code == 200
        assert Image.open(io.BytesIO(media.content)).format == "PNG"
        health = requests.get(server.url + API + "/health", timeout=5).json()
        assert health["queue_length"] == 0
    finally:
        assert server.stop() == 0, server.output()
        firestore_emulator.reset(project)
    # the job (the usage record) is in Firestore, not in a SQLite file
    assert not (tmp_path / "gateway.sqlite3").exists()
