"""Settings that must not weaken security: production refuses missing, empty, short or trivially
guessable secrets; outside production an empty secret is no secret (unset), never the empty key."""

from __future__ import annotations

import base64
import os

import pytest
from itsdangerous import URLSafeTimedSerializer

from shared import wiring
from shared.clock import SystemClock
from shared.config import Settings

STRONG = "Zq7-vN2_pL9xR4tB8mK1wY6cH3jD5sF0gA"  # 34 characters, 34 distinct
FERNET = base64.urlsafe_b64encode(bytes(range(7, 39))).decode()
SECRETS = ("SESSION_SECRET", "MEDIA_SIGNING_KEY", "TASKS_TOKEN", "BYOK_ENCRYPTION_KEY")


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """ENVIRONMENT=production with every secret strong; tests weaken one at a time."""
    for name in [n for n in os.environ if n in SECRETS or n in ("MEDIA_BACKEND", "DISPATCHER")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SESSION_SECRET", STRONG)
    monkeypatch.setenv("MEDIA_SIGNING_KEY", STRONG[::-1])
    monkeypatch.setenv("TASKS_TOKEN", STRONG.swapcase())
    monkeypatch.setenv("BYOK_ENCRYPTION_KEY", FERNET)
    return monkeypatch


def _refused(name: str, value: str) -> str:
    with pytest.raises(Exception, match=name) as refused:
        Settings()
    message = str(refused.value)
    if value:
        assert value not in message, "the refusal never echoes the secret"
    return message


def test_strong_secrets_are_accepted(production):
    settings = Settings()
    assert settings.session_secret is not None and settings.environment == "production"


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize(
    "value",
    [
        "",  # SecretStr('') used to pass, and signed sessions with the empty key
        "   ",
        "short-but-not-empty",  # under 32 bytes
        "a" * 64,  # one character repeated
        "0123012301230123012301230123012301230123",  # few distinct characters
        "abcdefghijkl" * 4,  # a short pattern repeated
    ],
)
def test_production_refuses_each_weak_secret(production, name, value):
    production.setenv(name, value)
    _refused(name, value)


@pytest.mark.parametrize("name", SECRETS)
def test_production_refuses_each_missing_secret(production, name):
    production.delenv(name)
    assert "not set" in _refused(name, "")


@pytest.mark.parametrize(
    "keys",
    [
        STRONG,  # long enough, but no Fernet key
        base64.urlsafe_b64encode(bytes(16)).decode(),  # 16 bytes
        base64.urlsafe_b64encode(bytes(32)).decode(),  # 32 zero bytes
        f"{FERNET},not-a-key",  # every key of the rotation list is checked
    ],
)
def test_production_refuses_an_encryption_key_that_is_not_a_random_fernet_key(production, keys):
    production.setenv("BYOK_ENCRYPTION_KEY", keys)
    _refused("BYOK_ENCRYPTION_KEY", keys)


def test_the_media_signing_key_is_needed_only_for_local_media(production):
    production.delenv("MEDIA_SIGNING_KEY")
    production.setenv("MEDIA_BACKEND", "s3")
    assert Settings().media_signing_key is None
    production.setenv("MEDIA_BACKEND", "local")
    _refused("MEDIA_SIGNING_KEY", "")


def test_outside_production_an_empty_secret_is_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ENVIRONMENT", "local")
    for name in SECRETS:
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert [getattr(settings, n.lower()) for n in SECRETS] == [None] * 4
    gateway = wiring.Gateway(settings, SystemClock())
    forged = URLSafeTimedSerializer(b"", salt="aiart-session").dumps({"uid": "admin", "tier": "donor"})
    assert gateway.sessions.verify(forged, "id_token") is None, "no token signs itself in: Firebase verifies"
    assert gateway._secret("session_secret"), "the embedded default keys derived job ids with its own random key"


def test_a_refused_setting_never_prints_the_secrets_it_was_given(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SESSION_SECRET", STRONG)
    monkeypatch.setenv("DISPATCHER", "cloudtasks")  # without its queue: refused
    monkeypatch.delenv("CLOUD_TASKS_QUEUE", raising=False)
    with pytest.raises(Exception, match="CLOUD_TASKS_QUEUE") as refused:
        Settings()
    assert STRONG[-12:] not in str(refused.value) and STRONG[:12] not in str(refused.value)
