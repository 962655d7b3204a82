"""Who a request's credential says it is: Firebase ID tokens and Firebase session cookies.

One ``Verifier`` interface; its implementation is Firebase's (``shared.firebase.FirebaseAuth``,
firebase-admin, the Auth emulator in tests and ``make dev``). ``NoSignIn`` stands in where no
Firebase project is reachable (``make dev`` without Node.js): it accepts no token at all.

* ``Authorization: Bearer <ID token>``: the site's cross-origin fallback backends, scripts. When
  the header is there the cookie is not read at all (a cross-site page cannot set it).
* the ``__session`` cookie: a Firebase session cookie (``auth.create_session_cookie``), the only
  cookie Firebase Hosting forwards to functions, set by ``POST /api/v1/auth/session``.

Anonymous visitors sign in with Firebase anonymous sign-in, so they present a token like anyone
else; a request with no valid credential at all is a one-off anonymous caller (``shared.identity``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import flask

from shared.domain import Identity

SESSION_COOKIE = "__session"
TokenKind = Literal["id_token", "session_cookie"]


class Verifier(Protocol):
    available: bool  # False: sign-in is off (no Firebase project reachable)

    def verify(self, token: str, kind: TokenKind, check_revoked: bool = False) -> Identity | None:
        """The identity the token proves, or None (invalid, expired, revoked when checked)."""

    def create_session(self, id_token: str, lifetime_seconds: int) -> str:
        """A session cookie for a valid ID token; raises ``errors.Unauthorized`` otherwise."""

    def revoke(self, user_id: str) -> None:
        """Revoke the user's refresh tokens (sign out everywhere)."""

    def set_claims(self, user_id: str, claims: Mapping[str, Any]) -> None:
        """Merge custom claims into the account (a None value removes one)."""

    def find_user(self, email: str) -> str | None:
        """The uid of the account with this email."""


class NoSignIn:
    """Sign-in is off: every token is refused, and nothing can be signed in."""

    available = False

    def verify(self, token: str, kind: TokenKind, check_revoked: bool = False) -> Identity | None:
        return None

    def create_session(self, id_token: str, lifetime_seconds: int) -> str:
        from shared.errors import Unauthorized

        raise Unauthorized("Signing in is not set up on this server: it serves anonymous visitors only.")

    def revoke(self, user_id: str) -> None:
        return None

    def set_claims(self, user_id: str, claims: Mapping[str, Any]) -> None:
        raise RuntimeError("no Firebase project is configured: set FIREBASE_AUTH_EMULATOR_HOST or run in production")

    def find_user(self, email: str) -> str | None:
        return None


@dataclass(frozen=True)
class Credential:
    token: str
    kind: TokenKind


def bearer_token(request: flask.Request) -> str | None:
    """The token of ``Authorization: Bearer ...``, or None."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return header[7:].strip() or None


def uses_bearer(request: flask.Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ")


def credential(request: flask.Request) -> Credential | None:
    """What the request authenticates with: the bearer ID token, else the session cookie."""
    if uses_bearer(request):
        token = bearer_token(request)
        return Credential(token, "id_token") if token else None
    cookie = request.cookies.get(SESSION_COOKIE)
    return Credential(cookie, "session_cookie") if cookie else None


def authenticate(request: flask.Request, verifier: Verifier, check_revoked: bool = False) -> Identity | None:
    """The verified identity of the request's credential, or None."""
    presented = credential(request)
    if presented is None or not verifier.available:
        return None
    return verifier.verify(presented.token, presented.kind, check_revoked)
