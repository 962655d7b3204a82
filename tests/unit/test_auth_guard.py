"""The Auth emulator's variable is refused in production, and the admin command grants the claim."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from shared.config import Settings
from shared.firebase import emulator_refusal
from tests.conftest import ROOT

EMULATOR = {"FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"}


def _import_main(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("K_SERVICE", "FUNCTION_TARGET", "ENVIRONMENT")}
    return subprocess.run(
        [sys.executable, "-c", "import main"], cwd=ROOT, env={**environ, **extra}, capture_output=True, text=True
    )


@pytest.mark.parametrize("marker", [{"K_SERVICE": "jobs"}, {"FUNCTION_TARGET": "jobs"}, {"ENVIRONMENT": "production"}])
def test_the_functions_refuse_to_start_with_the_emulator_in_production(marker):
    refused = _import_main({**EMULATOR, **marker})
    assert refused.returncode != 0
    assert "FIREBASE_AUTH_EMULATOR_HOST is set in production" in refused.stderr
    assert _import_main(marker).returncode == 0, "production without the emulator starts"


def test_outside_production_the_emulator_is_fine():
    assert _import_main({**EMULATOR, "ENVIRONMENT": "local"}).returncode == 0
    assert emulator_refusal({**EMULATOR, "ENVIRONMENT": "test"}) is None


def test_the_settings_refuse_it_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    with pytest.raises(ValidationError, match="FIREBASE_AUTH_EMULATOR_HOST is set in production"):
        Settings(environment="production", firebase_auth_emulator_host="127.0.0.1:9099")
    monkeypatch.setenv("K_SERVICE", "user")
    with pytest.raises(ValidationError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        Settings(firebase_auth_emulator_host="127.0.0.1:9099")


def test_the_admin_command_grants_and_revokes_the_claim(firebase):
    user = firebase.sign_up()
    platform = ("K_SERVICE", "FUNCTION_TARGET")  # functions-framework sets FUNCTION_TARGET in this process
    environ = {
        **{k: v for k, v in os.environ.items() if k not in platform},
        "FIREBASE_AUTH_EMULATOR_HOST": firebase.host,
    }

    def admin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.admin", *args], cwd=ROOT, env=environ, capture_output=True, text=True
        )

    granted = admin("grant", user.email)
    assert granted.returncode == 0, granted.stderr
    assert firebase.claims(user.uid) == {"admin": True}
    assert admin("revoke", user.email).returncode == 0 and firebase.claims(user.uid) == {}
    unknown = admin("grant", "nobody-here@example.com")
    assert unknown.returncode == 1 and "no account" in unknown.stderr
    assert admin("grant").returncode == 2
