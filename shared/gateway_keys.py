"""Gateway API keys: ``Authorization: Bearer sk-gw-…`` on the OpenAI-compatible surface (/v1).

A gateway key is recognised here, so it is never read as a session token. A signed-in user makes
keys at ``/api/v1/user/api-keys`` (the secret shown once); they are stored as a SHA-256 of the
secret, and ``wiring.Gateway.api_caller`` looks a presented key up (``shared.services.api_keys``:
one store read, cached per instance for API_KEY_CACHE_SECONDS) and acts as that key's user: their
tier, limits, BYOK keys and usage records. An unknown or revoked key is a 401. The /api/v1 routes
take Firebase sign-ins only (a leaked key cannot manage the account, nor make more keys).
"""

from __future__ import annotations

import flask

PREFIX = "sk-gw-"


def presented(request: flask.Request) -> str | None:
    """The gateway key the request authenticates with, or None (no key, or another token)."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = header[7:].strip()
    return token if token.startswith(PREFIX) else None
