"""Firebase Auth through firebase-admin: the one real ``Verifier``, and the account operations
(session cookies, revocation, custom claims) the sign-in and admin use cases need.

``firebase_admin`` is imported on first use only (README "Sign-in" gives its import cost): a
function that never sees a token never loads it. With ``FIREBASE_AUTH_EMULATOR_HOST`` set,
firebase-admin talks to the Auth emulator and skips token signature checks, so production
refuses to start with it (``refuse_emulator_in_production``, called when ``shared.api`` loads).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared import errors
from shared.domain import Identity

if TYPE_CHECKING:
    from firebase_admin import App

log = logging.getLogger("gateway.auth")

EMULATOR_VARIABLE = "FIREBASE_AUTH_EMULATOR_HOST"
EMULATOR_PROJECT = "demo-aiart-gateway"
PLATFORM_MARKERS = ("K_SERVICE", "FUNCTION_TARGET")  # set by Cloud Functions / Cloud Run


class EmulatorInProduction(RuntimeError):
    """The Auth emulator's variable is set where real users are served."""


def emulator_refusal(environ: Mapping[str, str]) -> str | None:
    """Why this process must not start (the Auth emulator variable in production), or None."""
    if not environ.get(EMULATOR_VARIABLE):
        return None
    found = [name for name in PLATFORM_MARKERS if environ.get(name)]
    if environ.get("ENVIRONMENT", "").strip().lower() == "production":
        found.insert(0, "ENVIRONMENT=production")
    if not found:
        return None
    return (
        f"{EMULATOR_VARIABLE} is set in production ({', '.join(found)}): firebase-admin would accept "
        "unsigned tokens from anyone. Unset it."
    )


def refuse_emulator_in_production(environ: Mapping[str, str] | None = None) -> None:
    problem = emulator_refusal(os.environ if environ is None else environ)
    if problem is not None:
        raise EmulatorInProduction(problem)


class SignInUnavailable(errors.AppError):
    status = 503
    error_type = "sign_in_unavailable"
    default_message = "Signing in is not available right now. Please try again in a moment."


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    """A verified token's claims -> who the caller is. Custom claims: ``tier`` (mirrored from the
    user record) and ``admin``; an anonymous account is always of the anonymous tier."""
    firebase = claims.get("firebase") if isinstance(claims.get("firebase"), Mapping) else {}
    anonymous = firebase.get("sign_in_provider") == "anonymous"
    tier = claims.get("tier")
    if anonymous:
        tier = "anonymous"
    elif not isinstance(tier, str) or not tier or tier == "anonymous":
        tier = "registered"
    email = claims.get("email")
    return Identity(
        user_id=str(claims["uid"]),
        tier=tier,
        admin=claims.get("admin") is True and not anonymous,
        anonymous=anonymous,
        email=email if isinstance(email, str) else None,
        issued_at=float(claims.get("iat") or 0),
    )


class FirebaseAuth:
    """ID tokens, session cookies and custom claims of one Firebase project."""

    available = True

    def __init__(self, project: str | None, emulator_host: str | None) -> None:
        self.project = project or (EMULATOR_PROJECT if emulator_host else None)
        self.emulator_host = emulator_host
        self._lock = threading.Lock()
        self._app: App | None = None

    def app(self) -> App:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._initialize()
        return self._app

    def _initialize(self) -> App:
        if self.emulator_host and os.environ.get(EMULATOR_VARIABLE) != self.emulator_host:
            # firebase-admin reads the emulator address from the environment only
            raise ValueError(f"{EMULATOR_VARIABLE} must be set in the environment to use the Auth emulator")
        import firebase_admin

        options = {"projectId": self.project} if self.project else None
        return firebase_admin.initialize_app(options=options, name=f"aiart-gateway-{id(self)}")

    def verify(self, token: str, kind: str, check_revoked: bool = False) -> Identity | None:
        """The identity an ID token (``kind="id_token"``) or a session cookie (``"session_cookie"``)
        proves; None for anything invalid, expired, revoked (with ``check_revoked``) or disabled."""
        from firebase_admin import auth, exceptions

        check = auth.verify_id_token if kind == "id_token" else auth.verify_session_cookie
        try:
            claims = check(token, check_revoked=check_revoked, app=self.app())
        except (ValueError, auth.InvalidIdTokenError, auth.InvalidSessionCookieError, auth.UserDisabledError):
            return None
        except (auth.CertificateFetchError, exceptions.FirebaseError) as exc:
            log.warning("token check failed", extra={"fields": {"error": type(exc).__name__}})
            raise SignInUnavailable() from None
        return identity_from_claims(claims)

    def create_session(self, id_token: str, lifetime_seconds: int) -> str:
        """A session cookie for a verified ID token (``auth.create_session_cookie``)."""
        from datetime import timedelta

        from firebase_admin import auth, exceptions

        try:
            return auth.create_session_cookie(id_token, timedelta(seconds=lifetime_seconds), app=self.app())
        except (ValueError, auth.InvalidIdTokenError) as exc:
            raise errors.Unauthorized("The sign-in token is not valid. Please sign in again.") from exc
        except exceptions.FirebaseError as exc:
            log.warning("session cookie failed", extra={"fields": {"error": type(exc).__name__}})
            raise SignInUnavailable() from None

    def revoke(self, user_id: str) -> None:
        """Revoke the user's refresh tokens: their sessions stop where revocation is checked."""
        from firebase_admin import auth

        auth.revoke_refresh_tokens(user_id, app=self.app())

    def set_claims(self, user_id: str, claims: Mapping[str, Any]) -> None:
        """Merge ``claims`` into the user's custom claims (a None value removes that claim)."""
        from firebase_admin import auth

        current = dict(auth.get_user(user_id, app=self.app()).custom_claims or {})
        current.update(claims)
        merged = {name: value for name, value in current.items() if value is not None}
        auth.set_custom_user_claims(user_id, merged or None, app=self.app())

    def find_user(self, email: str) -> str | None:
        """The uid of the account with this email, or None."""
        from firebase_admin import auth

        try:
            return str(auth.get_user_by_email(email, app=self.app()).uid)
        except auth.UserNotFoundError:
            return None

    def close(self) -> None:
        if self._app is not None:
            import firebase_admin

            firebase_admin.delete_app(self._app)
            self._app = None
