"""Gateway API keys: ``Authorization: Bearer sk-gw-…`` on the OpenAI-compatible surface (/v1).

What exists now is the seam: a gateway key is recognised, so it is never read as a session
token, and its caller is anonymous, keyed on the network address (``wiring.Gateway.api_caller``).
What comes with the accounts work (issue 14, keys part): a signed-in user creates keys at
``/api/v1/user/api-keys`` (the secret shown once), they are stored as a SHA-256 of the secret,
and ``api_caller`` looks a presented key up (one store read, cached briefly per instance) and
acts as that key's user: their tier, limits, BYOK keys and usage records; an unknown or revoked
key is then a 401.
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
