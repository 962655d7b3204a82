"""Session tokens: who a request belongs to when it carries one.

The embedded default signs its own sessions (``itsdangerous``, HMAC with ``SESSION_SECRET``),
carried as ``Authorization: Bearer`` or the ``__session`` cookie. Firebase ID-token / session
cookie verification plugs in as another ``Verifier`` in production.
"""

from __future__ import annotations

from typing import Protocol

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shared.domain import Identity

SESSION_COOKIE = "__session"


class Verifier(Protocol):
    def verify(self, token: str) -> Identity | None: ...


class SignedSessions:
    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="aiart-session")
        self.ttl_seconds = ttl_seconds

    def issue(self, identity: Identity) -> str:
        return self._serializer.dumps({"uid": identity.user_id, "tier": identity.tier})

    def verify(self, token: str) -> Identity | None:
        try:
            data = self._serializer.loads(token, max_age=self.ttl_seconds)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("uid"), str):
            return None
        return Identity(data["uid"], str(data.get("tier", "registered")))
