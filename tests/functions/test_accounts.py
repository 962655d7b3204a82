"""Sign-in, users and tiers through the real functions and the Firebase Auth emulator.

Every account is a real one made on the emulator (``tests/auth_emulator.py``); every request goes
through the functions-framework app of its entry point, as Cloud Functions runs it.
"""

from __future__ import annotations

import time

import pytest

from shared import errors, wiring
from shared.domain import Caller, Identity
from shared.services.auth import require_admin
from tests.conftest import TASKS_TOKEN, function_client

T2I = "/api/v1/generate/text-to-image"
TEXT = "/api/v1/generate/text"
SESSION = "/api/v1/auth/session"
ME = "/api/v1/auth/me"


class Browser:
    """One browser: its cookie jar for the site, its address, and (optionally) a Firebase user."""

    def __init__(self, address: str = "203.0.113.7") -> None:
        self.address = address
        self.cookie: str | None = None
        self.set_cookie_header: str | None = None

    def send(self, function: str, method: str, path: str, headers: dict | None = None, **kwargs):
        client = function_client(function)
        if self.cookie is not None:
            client.set_cookie("__session", self.cookie)
        else:
            client.delete_cookie("__session")
        response = client.open(
            path, method=method, headers=headers or {}, environ_base={"REMOTE_ADDR": self.address}, **kwargs
        )
        for header in response.headers.getlist("Set-Cookie"):
            if header.startswith("__session="):
                self.set_cookie_header = header
                value = header.split(";", 1)[0].split("=", 1)[1]
                self.cookie = value or None
        return response

    def sign_in(self, id_token: str):
        return self.send("auth", "POST", SESSION, json={"id_token": id_token})

    def submit(self, prompt: str = "a fox"):
        return self.send("generate_text_to_image", "POST", T2I, json={"prompt": prompt})

    def submit_id(self, prompt: str = "a fox") -> str:
        response = self.submit(prompt)
        assert response.status_code == 202, response.get_json()
        return response.get_json()["job_id"]

    def listed(self) -> set[str]:
        response = self.send("jobs", "GET", "/api/v1/jobs")
        assert response.status_code == 200
        return {job["job_id"] for job in response.get_json()["jobs"]}


def _run(job_id: str) -> None:
    response = function_client("run_job").post(
        "/api/v1/tasks/run-job", json={"job_id": job_id}, headers={"Authorization": f"Bearer {TASKS_TOKEN}"}
    )
    assert response.status_code == 200, response.get_json()


# -- the user journey ------------------------------------------------------------------------------


def test_sign_up_session_cookie_me_usage_sign_out_and_the_revoked_cookie_is_refused(firebase):
    user = firebase.sign_up()
    browser = Browser()
    signed_in = browser.sign_in(user.id_token)
    assert signed_in.status_code == 200, signed_in.get_json()
    assert signed_in.get_json() == {
        "uid": user.uid,
        "email": user.email,
        "tier": "registered",
        "admin": False,
        "anonymous": False,
    }
    flags = [part.strip() for part in browser.set_cookie_header.split(";")]
    assert {"HttpOnly", "Path=/", "SameSite=Strict"} <= set(flags)
    assert "Secure" not in flags, "plain-http localhost: a Secure cookie would be dropped"
    assert f"Max-Age={14 * 86400}" in flags

    me = browser.send("auth", "GET", ME)
    assert me.status_code == 200 and me.get_json()["uid"] == user.uid
    record = browser.send("user", "GET", "/api/v1/user/me").get_json()
    assert record["uid"] == user.uid and record["email"] == user.email and record["tier"] == "registered"
    assert record["created_at"] and record["last_active"] and record["usage_stats"] == {}

    job_id = browser.submit_id()
    _run(job_id)
    assert browser.listed() == {job_id}
    text = browser.send("generate_text", "POST", TEXT, json={"prompt": "a castle"})
    assert text.status_code == 200, text.get_json()
    usage = browser.send("user", "GET", "/api/v1/user/usage").get_json()
    assert [item["mode"] for item in usage["items"]] == ["text", "text-to-image"]
    assert usage["items"][1]["id"] == job_id and usage["items"][1]["unit"] == "images"
    stats = browser.send("user", "GET", "/api/v1/user/me").get_json()["usage_stats"]
    assert stats["text-to-image"]["generations"] == 1 and stats["text"]["generations"] == 1

    stolen = browser.cookie
    time.sleep(1.1)  # revocation has whole-second resolution: a cookie of the same second stays valid
    out = browser.send("auth", "DELETE", SESSION)
    assert out.status_code == 200 and browser.cookie is None, "the cookie is cleared"
    assert "Max-Age=0" in browser.set_cookie_header or "expires=Thu, 01 Jan 1970" in browser.set_cookie_header
    replay = Browser()
    replay.cookie = stolen
    assert replay.send("auth", "GET", ME).status_code == 401, "a revoked session cookie is refused"
    assert replay.send("user", "GET", "/api/v1/user/me").status_code == 401
    assert replay.listed() == set(), "and the jobs routes no longer take it either"
    assert replay.submit().headers["RateLimit-Policy"].startswith('"anonymous"')


def test_https_cookies_are_secure_and_a_bad_token_is_refused(firebase):
    user = firebase.sign_up()
    client = function_client("auth")
    secure = client.post(SESSION, json={"id_token": user.id_token}, base_url="https://gateway.example")
    header = next(h for h in secure.headers.getlist("Set-Cookie") if h.startswith("__session="))
    assert "Secure" in [p.strip() for p in header.split(";")]
    refused = function_client("auth").post(SESSION, json={"id_token": "not-a-token"})
    assert refused.status_code == 401 and refused.get_json()["error_type"] == "unauthorized"
    assert not [h for h in refused.headers.getlist("Set-Cookie") if h.startswith("__session=")]
    assert function_client("auth").get(ME).status_code == 401


def test_a_bearer_id_token_works_without_a_cookie(firebase):
    user = firebase.sign_up()
    me = function_client("auth").get(ME, headers=user.bearer)
    assert me.status_code == 200 and me.get_json()["uid"] == user.uid
    submitted = function_client("generate_text_to_image").post(T2I, json={"prompt": "x"}, headers=user.bearer)
    assert submitted.status_code == 202 and submitted.headers["RateLimit-Policy"].startswith('"registered"')
    assert wiring.gateway().jobs.list_for_owner(f"user:{user.uid}", 5)


# -- anonymous accounts ----------------------------------------------------------------------------


def test_an_anonymous_account_linked_to_an_email_keeps_its_jobs(firebase):
    guest = firebase.anonymous()
    browser = Browser()
    answer = browser.sign_in(guest.id_token).get_json()
    assert answer["anonymous"] is True and answer["tier"] == "anonymous" and answer["uid"] == guest.uid
    jobs = {browser.submit_id("first"), browser.submit_id("second")}
    assert browser.listed() == jobs
    assert browser.send("user", "GET", "/api/v1/user/me").status_code == 401, "an anonymous account has no record"

    member = firebase.link_email(guest)
    assert member.uid == guest.uid
    upgraded = browser.sign_in(member.id_token).get_json()
    assert upgraded == {
        "uid": guest.uid,
        "email": member.email,
        "tier": "registered",
        "admin": False,
        "anonymous": False,
    }
    assert browser.listed() == jobs, "the jobs stay with the uid"
    assert browser.submit().headers["RateLimit-Policy"].startswith('"registered"')


def test_two_anonymous_browsers_on_one_address_never_see_each_others_jobs(firebase):
    alice, bob = Browser("198.51.100.10"), Browser("198.51.100.10")
    alice.sign_in(firebase.anonymous().id_token)
    bob.sign_in(firebase.anonymous().id_token)
    mine = alice.submit_id("alice's private prompt")
    theirs = bob.submit_id("bob's private prompt")
    assert alice.listed() == {mine} and bob.listed() == {theirs}
    cancel = bob.send("jobs", "DELETE", f"/api/v1/jobs/{mine}")
    assert cancel.status_code == 403 and cancel.get_json()["error_type"] == "forbidden"


def test_new_anonymous_accounts_share_their_address_limit(firebase):
    statuses = []
    for _ in range(10):
        guest = firebase.anonymous()
        response = function_client("generate_text_to_image").post(
            T2I, json={"prompt": "x"}, headers=guest.bearer, environ_base={"REMOTE_ADDR": "192.0.2.77"}
        )
        statuses.append(response.status_code)
    assert statuses == [202] * 8 + [429] * 2, "grace 5 + 3 per minute, per address: a new account buys nothing"


# -- tiers and admin -------------------------------------------------------------------------------


def test_the_tier_comes_from_the_record_and_is_mirrored_into_the_claim(firebase):
    user = firebase.sign_up()
    browser = Browser()
    browser.sign_in(user.id_token)
    record = wiring.services().accounts.set_tier(user.uid, "donor", expires_at=time.time() + 3600)
    assert record.tier == "donor" and firebase.claims(user.uid) == {"tier": "donor"}
    assert browser.submit().headers["RateLimit-Policy"].startswith('"donor"'), "the record wins at once"
    refreshed = firebase.refresh(user)
    assert Browser().sign_in(refreshed.id_token).get_json()["tier"] == "donor"
    wiring.services().accounts.set_tier(user.uid, "donor", expires_at=time.time() - 1)
    assert browser.send("auth", "GET", ME).get_json()["tier"] == "registered", "an ended tier counts as registered"


def test_the_admin_claim_from_firebase_admin(firebase):
    user = firebase.sign_up()
    firebase.set_claims(user.uid, {"admin": True, "tier": "registered"})
    admin = firebase.refresh(user)
    answer = function_client("auth").get(ME, headers=admin.bearer).get_json()
    assert answer["admin"] is True
    caller = Caller(key=f"user:{user.uid}", tier="registered", ip="x", user_id=user.uid, admin=True)
    require_admin(caller)
    with pytest.raises(errors.Forbidden):
        require_admin(Caller(key="user:u", tier="registered", ip="x", user_id="u"))
    with pytest.raises(errors.Unauthorized):
        require_admin(Caller(key="anon:x", tier="anonymous", ip="x"))
    with pytest.raises(errors.Unauthorized):
        require_admin(Identity("guest", tier="anonymous", admin=False, anonymous=True))


def test_the_admin_check_of_a_request(firebase):
    """What the admin API calls: 401 without sign-in, 403 without the claim."""
    import flask

    user = firebase.sign_up()
    firebase.set_claims(user.uid, {"admin": True})
    admin = firebase.refresh(user)
    plain = firebase.sign_up()
    app = flask.Flask("t")
    with app.test_request_context("/", headers=admin.bearer):
        assert wiring.services().admin(flask.request).user_id == user.uid
    with app.test_request_context("/", headers=plain.bearer), pytest.raises(errors.Forbidden):
        wiring.services().admin(flask.request)
    with app.test_request_context("/"), pytest.raises(errors.Unauthorized):
        wiring.services().admin(flask.request)
