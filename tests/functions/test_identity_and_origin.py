"""Anonymous visitors are kept apart, and cookie-authenticated writes come only from the site.

Every request goes through the real functions' apps. A ``Browser`` keeps its own ``__session``
cookie (as a browser does for the whole site) and its network address; like the site on a first
visit, it signs in anonymously (Firebase anonymous sign-in on the Auth emulator) when given the
emulator, so its anonymous account owns its jobs.
"""

from __future__ import annotations

import io

from itsdangerous import URLSafeTimedSerializer

from shared import wiring
from shared.config import Settings
from shared.domain import Job, Mode
from tests.conftest import TASKS_TOKEN, function_client
from tests.fakes.clock import FakeClock
from tests.helpers import png

T2I = "/api/v1/generate/text-to-image"
I2I = "/api/v1/generate/image-to-image"
JOBS = "/api/v1/jobs"
EVIL = "https://evil.example"


def _session_cookie(response) -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("__session="):
            return header
    return None


class Browser:
    """One browser: the cookie jar a real one keeps for the site, and the address it calls from."""

    def __init__(self, address: str = "203.0.113.7", firebase=None, id_token: str | None = None) -> None:
        self.address = address
        self.cookie: str | None = None
        token = id_token or (firebase.anonymous().id_token if firebase is not None else None)
        if token is not None:
            assert self._send("auth", "POST", "/api/v1/auth/session", json={"id_token": token}).status_code == 200

    def _send(self, function: str, method: str, path: str, headers: dict | None = None, **kwargs):
        client = function_client(function)
        if self.cookie is not None:
            client.set_cookie("__session", self.cookie)
        environ = {"REMOTE_ADDR": self.address}
        response = client.open(path, method=method, headers=headers or {}, environ_base=environ, **kwargs)
        issued = _session_cookie(response)
        if issued is not None:
            self.cookie = issued.split(";", 1)[0].split("=", 1)[1]
        return response

    def submit(self, prompt: str = "a fox", headers: dict | None = None):
        return self._send("generate_text_to_image", "POST", T2I, headers, json={"prompt": prompt})

    def submit_id(self, prompt: str = "a fox") -> str:
        response = self.submit(prompt)
        assert response.status_code == 202, response.get_json()
        return response.get_json()["job_id"]

    def listed(self) -> set[str]:
        response = self._send("jobs", "GET", JOBS)
        assert response.status_code == 200
        return {job["job_id"] for job in response.get_json()["jobs"]}

    def get(self, job_id: str):
        return self._send("jobs", "GET", f"{JOBS}/{job_id}")

    def cancel(self, job_id: str, headers: dict | None = None):
        return self._send("jobs", "DELETE", f"{JOBS}/{job_id}", headers)


def _stored() -> int:
    queued, running = wiring.gateway().jobs.counts()
    return queued + running


def _envelope(response, status: int, error_type: str) -> dict:
    assert response.status_code == status, response.get_data()[:300]
    body = response.get_json()
    assert body["success"] is False and body["error_type"] == error_type and body["request_id"]
    return body


# --- anonymous visitors behind one address ---------------------------------------------------


def test_two_browsers_behind_one_address_see_and_cancel_only_their_own_jobs(firebase):
    alice, bob = Browser("198.51.100.10", firebase), Browser("198.51.100.10", firebase)
    mine = {alice.submit_id("alice's private prompt") for _ in range(2)}
    theirs = bob.submit_id("bob's private prompt")
    assert alice.listed() == mine
    assert bob.listed() == {theirs}
    assert Browser("198.51.100.10", firebase).listed() == set(), "a third visitor on the address sees nothing"
    assert Browser("198.51.100.10").listed() == set(), "and so does a client without an account"
    victim = next(iter(mine))
    _envelope(bob.cancel(victim), 403, "forbidden")
    assert alice.get(victim).get_json()["status"] == "queued", "a stranger cannot cancel it"
    assert alice.cancel(victim).get_json()["status"] == "canceled"


def test_a_job_id_is_still_the_capability_to_view_it_without_any_cookie(firebase):
    owner = Browser(firebase=firebase)
    job_id = owner.submit_id()
    shared_link = function_client("jobs").get(f"{JOBS}/{job_id}")  # no cookie, another address
    assert shared_link.status_code == 200 and shared_link.get_json()["job_id"] == job_id
    assert _session_cookie(shared_link) is None, "viewing creates nothing, so it sets no cookie"


def test_a_users_job_stays_visible_only_to_that_user(firebase):
    user = Browser(id_token=firebase.sign_up().id_token)
    job_id = user.submit_id()
    assert user.get(job_id).status_code == 200 and user.listed() == {job_id}
    assert Browser().get(job_id).status_code == 404
    assert function_client("jobs").get(f"{JOBS}/{job_id}").status_code == 404


def test_jobs_owned_by_an_address_before_are_listed_for_no_one(env):
    gw = wiring.gateway()
    legacy = Job(
        id="legacy-job-0000000000000000",
        owner="ip:203.0.113.7",
        tier="anonymous",
        priority=3,
        mode=Mode.TEXT_TO_IMAGE,
        params={"prompt": "old"},
        created_at=gw.clock.now(),
    )
    gw.jobs.create(legacy)
    assert Browser("203.0.113.7").listed() == set()
    assert Browser("203.0.113.7").get(legacy.id).status_code == 200, "its id still shows it"


def test_a_submit_sets_no_cookie_only_signing_in_does(env):
    browser = Browser()
    assert _session_cookie(browser.submit()) is None and browser.cookie is None
    assert _session_cookie(browser._send("jobs", "GET", JOBS)) is None
    first, second = browser.submit_id("one"), browser.submit_id("two")
    assert browser.listed() == set(), "a client without an account owns nothing it could list"
    assert {browser.get(first).status_code, browser.get(second).status_code} == {200}, "each id shows its job"


def test_a_forged_or_foreign_cookie_is_a_new_visitor(firebase):
    alice = Browser(firebase=firebase)
    job_id = alice.submit_id()
    forger = Browser()
    forger.cookie = alice.cookie[:-2] + ("AA" if not alice.cookie.endswith("AA") else "BB")
    assert job_id not in forger.listed()
    assert forger.submit().headers["RateLimit-Policy"].startswith('"anonymous"')


def test_clearing_cookies_buys_no_new_limit(env):
    wiring.install(wiring.Gateway(Settings(), FakeClock()))
    loyal = Browser("192.0.2.50")
    assert [loyal.submit(f"p{i}").status_code for i in range(8)] == [202] * 8
    fresh = Browser("192.0.2.50")  # same address, cookies cleared
    refused = fresh.submit("again")
    assert refused.status_code == 429 and refused.get_json()["error_type"] == "rate_limited"


# --- cross-site writes ----------------------------------------------------------------------


def _form(prompt: str = "forged") -> dict:
    return {"prompt": prompt, "image": (io.BytesIO(png()), "x.png", "image/png")}


def test_a_cross_site_multipart_form_with_the_cookie_is_refused_and_stores_nothing(firebase):
    victim = Browser(firebase=firebase)
    victim.submit_id()
    before = _stored()
    inputs = wiring.gateway().settings.resolved_media_dir / "inputs"
    forged = victim._send(
        "generate_image_to_image", "POST", I2I, {"Origin": EVIL}, data=_form(), content_type="multipart/form-data"
    )
    body = _envelope(forged, 403, "origin_refused")
    assert "Traceback" not in body["message"]
    assert _stored() == before and not (inputs.exists() and any(inputs.iterdir()))


def test_fetch_metadata_marks_a_cross_site_write_without_an_origin(firebase):
    victim = Browser(firebase=firebase)
    victim.submit_id()
    before = _stored()
    forged = victim.submit("forged", headers={"Sec-Fetch-Site": "cross-site"})
    _envelope(forged, 403, "origin_refused")
    assert _stored() == before


def test_a_cross_site_cancel_with_the_cookie_is_refused(firebase):
    victim = Browser(firebase=firebase)
    job_id = victim.submit_id()
    _envelope(victim.cancel(job_id, {"Origin": EVIL}), 403, "origin_refused")
    assert victim.get(job_id).get_json()["status"] == "queued"
    assert victim.cancel(job_id, {"Origin": "http://localhost"}).status_code == 200, "same origin"


def test_the_site_and_listed_origins_may_write_with_the_cookie(firebase):
    browser = Browser(firebase=firebase)
    browser.submit_id()
    same = browser.submit("same", headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 202
    listed = browser.submit("listed", headers={"Origin": "https://site.example", "Sec-Fetch-Site": "same-site"})
    assert listed.status_code == 202
    assert listed.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert listed.headers["Access-Control-Allow-Credentials"] == "true"
    proxied = browser.submit(
        "proxied", headers={"Origin": "https://www.site.test", "X-Forwarded-Host": "www.site.test"}
    )
    assert proxied.status_code == 202, "same origin as the host the proxy was asked for"


def test_bearer_requests_and_the_task_routes_are_not_subject_to_the_origin_check(firebase):
    token = firebase.sign_up().id_token
    bearer = function_client("generate_text_to_image").post(
        T2I, json={"prompt": "x"}, headers={"Authorization": f"Bearer {token}", "Origin": EVIL}
    )
    assert bearer.status_code == 202
    job_id = bearer.get_json()["job_id"]
    task_client = function_client("run_job")
    task_client.set_cookie("__session", "whatever")
    worker = task_client.post(
        "/api/v1/tasks/run-job",
        json={"job_id": job_id},
        headers={"Authorization": f"Bearer {TASKS_TOKEN}", "Origin": EVIL},
    )
    assert worker.status_code == 200
    cookieless = function_client("generate_text_to_image").post(T2I, json={"prompt": "x"}, headers={"Origin": EVIL})
    assert cookieless.status_code == 202, "no cookie, no ambient authority to abuse"


def test_a_wildcard_origin_never_gets_credentials_nor_cookie_writes(firebase, monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", "*")
    wiring.reset()
    browser = Browser(firebase=firebase)
    browser.submit_id()
    read = function_client("health").get("/api/v1/health", headers={"Origin": EVIL})
    assert read.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in read.headers
    assert "RateLimit" in read.headers["Access-Control-Expose-Headers"]
    preflight = function_client("jobs").options(
        JOBS, headers={"Origin": EVIL, "Access-Control-Request-Method": "DELETE"}
    )
    assert preflight.status_code == 204 and "Access-Control-Allow-Credentials" not in preflight.headers
    _envelope(browser.submit("forged", headers={"Origin": EVIL}), 403, "origin_refused")


def test_a_session_signed_with_an_empty_secret_is_nobody(firebase, monkeypatch):
    monkeypatch.setenv("SESSION_SECRET", "")
    wiring.reset()
    forged = URLSafeTimedSerializer(b"", salt="aiart-session").dumps({"uid": "admin", "tier": "donor"})
    response = function_client("generate_text_to_image").post(
        T2I, json={"prompt": "x"}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 202
    assert response.headers["RateLimit-Policy"].startswith('"anonymous"'), "no donor from an empty key"
