from __future__ import annotations

import pytest

from tests.conftest import TASKS_TOKEN, function_client


@pytest.fixture
def client(env):
    """``client("jobs")`` -> the test client of that entry point's real app."""
    return function_client


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
