"""Jobs, health, media, worker and OpenAPI functions through their real apps."""

from __future__ import annotations

from shared import wiring
from shared.config import Settings
from tests.conftest import TASKS_TOKEN, function_client
from tests.fakes.clock import FakeClock

T2I = "/api/v1/generate/text-to-image"


def _submit(client, prompt="a fox", **headers) -> str:
    response = client("generate_text_to_image").post(T2I, json={"prompt": prompt}, headers=headers)
    assert response.status_code == 202
    return response.get_json()["job_id"]


def test_unknown_job_is_404_with_envelope(client):
    response = client("jobs").get("/api/v1/jobs/doesnotexist000000")
    assert response.status_code == 404 and response.get_json()["error_type"] == "not_found"


def test_unknown_path_is_404_and_wrong_method_405(client):
    assert client("jobs").get("/api/v1/jobs/a/b/c").status_code == 404
    response = client("jobs").put("/api/v1/jobs/abc")
    assert response.status_code == 405 and response.get_json()["error_type"] == "method_not_allowed"


def test_function_called_at_its_own_url_routes_the_same(client):
    job_id = _submit(client)
    assert client("jobs").get(f"/{job_id}").get_json()["job_id"] == job_id
    assert client("health").get("/").status_code == 200


def test_list_shows_only_the_callers_jobs(client):
    mine = {_submit(client, f"p{i}") for i in range(2)}
    other = function_client("generate_text_to_image").post(  # another browser (another address, too)
        T2I, json={"prompt": "theirs"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other.status_code == 202
    listed = client("jobs").get("/api/v1/jobs").get_json()["jobs"]
    assert {j["job_id"] for j in listed} == mine


def test_cancel_a_queued_job_then_the_worker_skips_it(client, run_job):
    job_id = _submit(client)
    response = client("jobs").delete(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200 and response.get_json()["status"] == "canceled"
    assert run_job(job_id)["status"] == "canceled"
    again = client("jobs").delete(f"/api/v1/jobs/{job_id}")
    assert again.status_code == 409 and again.get_json()["error_type"] == "conflict"


def test_worker_needs_the_task_token(client):
    worker = client("run_job")
    job_id = _submit(client)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = worker.post("/api/v1/tasks/run-job", json={"job_id": job_id}, headers=headers)
        assert response.status_code == 401 and response.get_json()["error_type"] == "unauthorized"
    for junk in ({"data": "{not json", "content_type": "application/json"}, {"json": {"job_id": 1, "x": 2}}):
        refused = worker.post("/api/v1/tasks/run-job", **junk)  # the token first: nothing about the body
        assert refused.status_code == 401 and refused.get_json()["error_type"] == "unauthorized"
    headers = {"Authorization": f"Bearer {TASKS_TOKEN}"}
    token = worker.post("/api/v1/tasks/run-job", json={"job_id": "nope-nope-nope"}, headers=headers)
    assert token.status_code == 200 and token.get_json()["job_id"] == job_id, "a task is a token for the best job"
    missing = worker.post("/api/v1/tasks/run-job", json={"job_id": "nope-nope-nope"}, headers=headers)
    assert missing.status_code == 404, "nothing queued: the unknown id is reported"


def test_worker_runs_a_job_once(client, run_job):
    job_id = _submit(client)
    assert run_job(job_id)["status"] == "succeeded"
    assert run_job(job_id)["status"] == "succeeded"
    assert client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["attempts"] == 1


def test_health_is_cheap_and_reports_queue_and_providers(client):
    _submit(client)
    body = client("health").get("/api/v1/health").get_json()
    assert body["status"] == "ok" and body["queue_length"] == 1
    assert 0 <= body["load"] <= 1 and body["version"]
    assert [p["name"] for p in body["providers"]] == ["local"]


def test_media_urls_are_signed_and_expire(client, run_job, env):
    clock = FakeClock()
    wiring.install(wiring.Gateway(Settings(), clock))
    job_id = _submit(client)
    run_job(job_id)
    url = client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["result"]["url"]
    media = client("media")
    assert media.get(url).status_code == 200
    tampered = url.replace("sig=", "sig=0")
    assert media.get(tampered).status_code == 403
    other_key = url.replace(job_id, "x" * len(job_id))
    assert media.get(other_key).status_code == 403
    assert media.get(url.split("?")[0]).status_code == 403
    clock.advance(Settings().media_url_ttl_seconds + 1)
    expired = media.get(url)
    assert expired.status_code == 403 and expired.get_json()["error_type"] == "forbidden"


def test_media_path_traversal_is_impossible(client, env):
    store = wiring.gateway().media
    (env / "secret.txt").write_text("top secret")
    for key in ("../secret.txt", "outputs/../../secret.txt", "%2e%2e/secret.txt", "/etc/passwd"):
        import time

        expires = int(time.time()) + 60
        try:
            sig = store.signature(key, expires)
        except ValueError:
            sig = "0"
        response = client("media").get(f"/api/v1/media/{key}?exp={expires}&sig={sig}")
        assert response.status_code in (403, 404)
        assert b"top secret" not in response.get_data()


def test_openapi_documents_every_route(client):
    doc = client("openapi").get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    for path in (
        "/api/v1/generate/text-to-image",
        "/api/v1/generate/image-to-image",
        "/api/v1/generate/text-to-video",
        "/api/v1/generate/image-to-video",
        "/api/v1/generate/text",
        "/api/v1/jobs/{job_id}",
        "/api/v1/health",
    ):
        assert path in paths
    schema = doc["components"]["schemas"]["TextToImageRequest"]
    assert schema["additionalProperties"] is False and "prompt" in schema["required"]
    post = paths["/api/v1/generate/image-to-image"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]


def test_cors_grants_only_allowed_origins(client):
    health = client("health")
    allowed = health.get("/api/v1/health", headers={"Origin": "https://site.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert "RateLimit" in allowed.headers["Access-Control-Expose-Headers"]
    denied = health.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in denied.headers
    preflight = client("generate_text_to_image").options(
        T2I, headers={"Origin": "https://site.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]


def test_request_id_is_echoed_or_created(client):
    health = client("health")
    assert health.get("/api/v1/health", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    generated = health.get("/api/v1/health", headers={"X-Request-Id": "bad id <script>"}).headers["X-Request-Id"]
    assert generated != "bad id <script>" and len(generated) == 32


def test_a_retried_task_takes_over_a_job_whose_worker_died(client, run_job, env):
    clock = FakeClock()
    wiring.install(wiring.Gateway(Settings(), clock))
    job_id = _submit(client)
    gw = wiring.gateway()
    assert gw.jobs.claim(job_id, "dead-worker", clock.now(), gw.settings.lease_seconds) is not None
    assert run_job(job_id)["status"] == "running", "the lease is still live: leave it"
    clock.advance(gw.settings.lease_seconds + 1)
    assert run_job(job_id)["status"] == "succeeded"
    assert client("jobs").get(f"/api/v1/jobs/{job_id}").get_json()["attempts"] == 2
