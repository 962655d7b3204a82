"""Sign-in: a Firebase ID token becomes the ``__session`` cookie; sign out; who am I."""

from __future__ import annotations

import flask

from shared import browser, http, wiring
from shared.account_models import AccountAnswer, SessionRequest, SignedOut
from shared.api import API_PREFIX
from shared.services.auth import Account


def _account(account: Account) -> AccountAnswer:
    return AccountAnswer(
        uid=account.uid, email=account.email, tier=account.tier, admin=account.admin, anonymous=account.anonymous
    )


def _sign_in(call: http.Call) -> flask.Response:
    body: SessionRequest = call.body
    account, cookie = wiring.services().auth.sign_in(body.id_token)
    response = http.json_response(_account(account))
    browser.set_session_cookie(call.request, response, call.settings, cookie)
    return response


def _sign_out(call: http.Call) -> flask.Response:
    services = wiring.services()
    services.auth.sign_out(services.presented(call.request))
    response = http.json_response(SignedOut())
    browser.set_session_cookie(call.request, response, call.settings, None)
    return response


def _me(call: http.Call) -> http.Reply:
    services = wiring.services()
    identity = services.account(call.request, anonymous=True)
    return http.Reply(_account(services.auth.account(identity)))


api = http.Api(
    "auth",
    f"{API_PREFIX}/auth",
    [
        http.post(
            "/session",
            _sign_in,
            body=SessionRequest,
            answer=AccountAnswer,
            summary="Sign in: a Firebase ID token -> the __session cookie (HttpOnly, Secure, SameSite=Strict)",
            tag="auth",
            errors=(401, 503),
        ),
        http.delete(
            "/session",
            _sign_out,
            answer=SignedOut,
            summary="Sign out: revoke the account's refresh tokens and clear the cookie",
            tag="auth",
            errors=(503,),
        ),
        http.get("/me", _me, answer=AccountAnswer, summary="Who is signed in", tag="auth", errors=(401, 503)),
    ],
    wiring.settings,
)
