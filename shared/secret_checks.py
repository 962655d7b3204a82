"""What a signing or encryption secret must be before production will run with it.

Present, at least 32 bytes, and not trivially guessable: at least 10 distinct characters and not
one short pattern repeated. Fernet keys (``BYOK_ENCRYPTION_KEY``, comma-separated) must each decode
to 32 bytes that are not a constant. The checks never echo a secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from pydantic import SecretStr

MIN_BYTES = 32
MIN_DISTINCT = 10


class InsecureSettings(RuntimeError):
    """Production configured with a missing or weak secret (the message names it, never its value)."""


def _periodic(value: str) -> bool:
    """Whether ``value`` is a shorter string repeated ("abcabcabc")."""
    return value in (value + value)[1:-1]


def weakness(value: str) -> str | None:
    """Why ``value`` is not good enough as a signing secret, or None."""
    if len(value.encode()) < MIN_BYTES:
        return f"is shorter than {MIN_BYTES} bytes"
    if len(set(value)) < MIN_DISTINCT:
        return f"has fewer than {MIN_DISTINCT} distinct characters"
    if _periodic(value):
        return "repeats a shorter pattern"
    return None


def fernet_weakness(value: str) -> str | None:
    """Why the comma-separated Fernet keys in ``value`` are not good enough, or None."""
    keys = [key.strip() for key in value.split(",") if key.strip()]
    if not keys:
        return "is empty"
    for number, key in enumerate(keys, 1):
        try:
            raw = base64.b64decode(key.encode(), altchars=b"-_", validate=True)
        except (ValueError, binascii.Error):
            raw = b""
        if len(raw) != 32:
            return f"key {number} is not a Fernet key (32 bytes, url-safe base64)"
        if len(set(raw)) < 16:
            return f"key {number} is not random"
    return None


def production_problems(secrets: dict[str, tuple[str | None, bool]]) -> list[str]:
    """``{NAME: (value or None, is a Fernet key list)}`` -> one line per missing or weak secret."""
    problems = []
    for name, (value, fernet) in secrets.items():
        if value is None:
            problems.append(f"{name} is not set")
            continue
        why = fernet_weakness(value) if fernet else weakness(value)
        if why is not None:
            problems.append(f"{name} {why}")
    return problems


def same_secret(supplied: str | None, configured: SecretStr | None) -> bool:
    """Whether a caller's ``supplied`` text is the ``configured`` secret: constant time, on bytes
    (``hmac.compare_digest`` refuses non-ASCII text: a hostile header must be a refusal, not a 500).
    An unset or empty secret matches nothing."""
    expected = configured.get_secret_value().encode() if configured is not None else b""
    given = (supplied or "").encode("utf-8", "replace")
    return bool(expected) and bool(given) and hmac.compare_digest(given, expected)
