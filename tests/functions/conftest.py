from __future__ import annotations

import pytest

from tests.conftest import TASKS_TOKEN, function_client


@pytest.fixture
def client(env, firebase):
    """``client("jobs")`` -> the test client of that entry point's real app. All of a test's
    clients are ONE browser: they share the cookie jar, and like the site on a first visit the
    browser signs in anonymously (Firebase anonymous sign-in on the Auth emulator, then
    ``POST /api/v1/auth/session``), so its ``__session`` cookie owns the jobs the test lists,
    cancels or resubmits. Another visitor: ``function_client(...)`` (a jar of its own, no account)."""
    jar: dict = {}

    def browser_client(target: str):  # type: ignore[no-untyped-def]
        if not jar:
            signer = function_client("auth")
            signer._cookies = jar
            answer = signer.post("/api/v1/auth/session", json={"id_token": firebase.anonymous().id_token})
            assert answer.status_code == 200, answer.get_json()
        made = function_client(target)
        made._cookies = jar  # werkzeug's cookie jar: one per browser, not per function
        return made

    return browser_client


@pytest.fixture
def run_job(env):
    """Drive the worker function the way Cloud Tasks would."""
    worker = function_client("run_job")

    def run(job_id: str):
        response = worker.post(
            "/api/v1/tasks/run-job", json={"job_id": job_id}, headers={"Authorization": f"Bearer {TASKS_TOKEN}"}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return run
