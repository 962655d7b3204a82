"""Session tokens: who a request belongs to when it carries one.

The embedded default signs its own sessions (``itsdangerous``, HMAC with ``SESSION_SECRET``),
carried as ``Authorization: Bearer`` or the ``__session`` cookie. Firebase ID-token / session
cookie verification plugs in as another ``Verifier`` in production.

An anonymous browser gets a signed *visitor* token in the same ``__session`` cookie (Firebase
Hosting forwards no other cookie to functions): a random id that owns the visitor's jobs until
Firebase anonymous sign-in replaces it. User sessions and visitor tokens are signed with
different salts, so neither ever verifies as the other.
"""

from __future__ import annotations

import re
import secrets
from typing import Protocol

import flask
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shared.domain import Identity

SESSION_COOKIE = "__session"
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


class Verifier(Protocol):
    def verify(self, token: str) -> Identity | None: ...


def bearer_token(request: flask.Request) -> str | None:
    """The token of ``Authorization: Bearer ...``, or None. When the header is there, the cookie
    is not read at all: a cross-site page cannot set that header without passing CORS."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return header[7:].strip() or None


def uses_bearer(request: flask.Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ")


def credential(request: flask.Request) -> str | None:
    """What the request authenticates with: the bearer token, else the ``__session`` cookie."""
    if uses_bearer(request):
        return bearer_token(request)
    return request.cookies.get(SESSION_COOKIE) or None


def _serializer(secret: bytes, salt: str) -> URLSafeTimedSerializer:
    if not secret:
        # An empty key signs tokens anyone can forge (a donor session from nothing).
        raise ValueError("a signing secret must not be empty")
    return URLSafeTimedSerializer(secret, salt=salt)


class SignedSessions:
    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._serializer = _serializer(secret, "aiart-session")
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


class VisitorIds:
    """Anonymous browsers' ids: random, carried signed (a signature forged or expired = no id)."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._serializer = _serializer(secret, "aiart-visitor")
        self.ttl_seconds = ttl_seconds

    def issue(self) -> tuple[str, str]:
        """A new visitor id and its signed token."""
        visitor = secrets.token_urlsafe(18)
        return visitor, self._serializer.dumps({"vid": visitor})

    def verify(self, token: str) -> str | None:
        try:
            data = self._serializer.loads(token, max_age=self.ttl_seconds)
        except (BadSignature, SignatureExpired):
            return None
        visitor = data.get("vid") if isinstance(data, dict) else None
        return visitor if isinstance(visitor, str) and _VISITOR_ID.match(visitor) else None
