"""Grant or take back the ``admin`` custom claim: ``python -m shared.admin grant|revoke EMAIL``
(``make admin EMAIL=...``).

It runs firebase-admin with the ambient credentials (``gcloud auth application-default login``
as a project owner; ``FIREBASE_PROJECT`` or ``GOOGLE_CLOUD_PROJECT`` names the project), or against
the Auth emulator when ``FIREBASE_AUTH_EMULATOR_HOST`` is set. The user signs in again (or the
site refreshes its ID token) to carry the new claim.
"""

from __future__ import annotations

import sys

from shared.auth import Verifier
from shared.clock import SystemClock
from shared.config import Settings

USAGE = "usage: python -m shared.admin grant|revoke EMAIL"


def run(verifier: Verifier, action: str, email: str) -> str:
    uid = verifier.find_user(email)
    if uid is None:
        raise LookupError(f"no account with the email {email}: it must sign in once first")
    verifier.set_claims(uid, {"admin": True if action == "grant" else None})
    done = "is now an admin" if action == "grant" else "is no longer an admin"
    return f"{email} ({uid}) {done}; the claim shows after their next sign-in."


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("grant", "revoke") or "@" not in argv[1]:
        print(USAGE, file=sys.stderr)
        return 2
    from shared.wiring import Gateway

    gateway = Gateway(Settings(), SystemClock())
    if not gateway.sessions.available:
        print("No Firebase project: set FIREBASE_PROJECT or FIREBASE_AUTH_EMULATOR_HOST.", file=sys.stderr)
        return 1
    try:
        print(run(gateway.sessions, argv[0], argv[1]))
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        gateway.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
