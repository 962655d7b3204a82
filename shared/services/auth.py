"""Sign-in: Firebase ID token -> session cookie, sign-out, who am I, and the admin check.

Where revocation is checked against Firebase (``check_revoked``: one call to the Auth backend,
so only where a request is rare and matters): creating a session, ``GET /auth/me``, every
``/user/*`` route and every admin route (``identify``). Generation, jobs and text routes verify
the token locally (a signature check on cached public keys) and rely on the user record's
``signed_out_at``, which our own sign-out writes (``UserService.record_for``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import errors
from shared.auth import Credential, Verifier
from shared.domain import Caller, Identity
from shared.services.users import UserService


class SignInRequired(errors.Unauthorized):
    default_message = "Please sign in to do this."


class AdminOnly(errors.Forbidden):
    default_message = "Only an administrator may do this."


def require_account(identity: Identity | None) -> Identity:
    """A signed-in, non-anonymous account, else 401."""
    if identity is None or identity.anonymous:
        raise SignInRequired()
    return identity


def require_admin(who: Identity | Caller | None) -> None:
    """401 without sign-in (or with an anonymous account), 403 without the ``admin`` claim."""
    if who is None:
        raise SignInRequired()
    anonymous = who.anonymous if isinstance(who, Identity) else (who.user_id is None or who.tier == "anonymous")
    if anonymous:
        raise SignInRequired()
    if not who.admin:
        raise AdminOnly()


@dataclass(frozen=True)
class Account:
    """``GET /api/v1/auth/me``."""

    uid: str
    email: str | None
    tier: str
    admin: bool
    anonymous: bool


class AuthService:
    def __init__(self, verifier: Verifier, users: UserService, session_seconds: int) -> None:
        self.verifier = verifier
        self.users = users
        self.session_seconds = session_seconds

    @property
    def available(self) -> bool:
        return self.verifier.available

    def identify(self, presented: Credential | None) -> Identity | None:
        """Who the credential proves, checked against revocation, and for an account with a record,
        against our own sign-out; None for no (valid) credential."""
        if presented is None or not self.verifier.available:
            return None
        identity = self.verifier.verify(presented.token, presented.kind, check_revoked=True)
        if identity is None or identity.anonymous:
            return identity
        return identity if self.users.record_for(identity) is not None else None

    def account(self, identity: Identity) -> Account:
        tier = identity.tier
        if not identity.anonymous:
            record = self.users.record_for(identity)
            tier = record.tier if record is not None else tier
        return Account(identity.user_id, identity.email, tier, identity.admin, identity.anonymous)

    def sign_in(self, id_token: str) -> tuple[Account, str]:
        """Verify the ID token (revocation checked), make or refresh the user record, and make a
        session cookie of ``SESSION_TTL_SECONDS``."""
        if not self.verifier.available:
            self.verifier.create_session(id_token, self.session_seconds)  # raises: sign-in is off
        identity = self.verifier.verify(id_token, "id_token", check_revoked=True)
        if identity is None:
            raise errors.Unauthorized("The sign-in token is not valid or has expired. Please sign in again.")
        tier = identity.tier
        if not identity.anonymous:
            tier = self.users.signed_in(identity).tier
        cookie = self.verifier.create_session(id_token, self.session_seconds)
        return Account(identity.user_id, identity.email, tier, identity.admin, identity.anonymous), cookie

    def sign_out(self, identity: Identity | None) -> None:
        """Revoke the account's refresh tokens (every device) and stamp the record's sign-out."""
        if identity is None:
            return
        self.verifier.revoke(identity.user_id)
        if not identity.anonymous:
            self.users.signed_out(identity.user_id)
