"""The site's events and the admin dashboard's operations routes, through the real functions and the
Firebase Auth emulator: 401 without sign-in and 403 to a normal user on every admin route; the
admin's analytics after real generations and events."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import TASKS_TOKEN, function_client

EVENTS = "/api/v1/events"
ADMIN_ROUTES = [
    ("GET", "/api/v1/admin/analytics?days=7"),
    ("GET", "/api/v1/admin/metrics?hours=24"),
    ("GET", "/api/v1/admin/alerts?state=all"),
    ("POST", "/api/v1/admin/alerts/evaluate"),
    ("GET", "/api/v1/admin/budgets"),
]


@pytest.fixture
def admin(firebase):
    """An administrator's bearer header (the ``admin`` claim, then a fresh ID token carrying it)."""
    user = firebase.sign_up()
    firebase.set_claims(user.uid, {"admin": True})
    return firebase.refresh(user).bearer


def _event(body, content_type: str = "application/json", address: str = "198.51.100.9", **headers):
    client = function_client("events")
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        EVENTS, data=data, headers={"Content-Type": content_type, **headers}, environ_base={"REMOTE_ADDR": address}
    )


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_every_admin_route_is_401_without_sign_in_and_403_for_a_normal_user(firebase, method, path):
    client = function_client("admin")
    anonymous = client.open(path, method=method)
    assert anonymous.status_code == 401, anonymous.get_json()
    assert anonymous.get_json()["error_type"] == "unauthorized"
    guest = firebase.anonymous()  # a Firebase anonymous account is not signed in for this
    assert client.open(path, method=method, headers=guest.bearer).status_code == 401
    plain = firebase.sign_up()
    refused = client.open(path, method=method, headers=plain.bearer)
    assert refused.status_code == 403 and refused.get_json()["error_type"] == "forbidden"


def test_admin_query_parameters_are_checked_after_the_admin_check(admin):
    client = function_client("admin")
    assert client.get("/api/v1/admin/analytics?days=0").status_code == 401
    bad = client.get("/api/v1/admin/analytics?days=0", headers=admin)
    assert bad.status_code == 422 and bad.get_json()["details"][0]["loc"] == ["query", "days"]
    assert client.get("/api/v1/admin/analytics?days=x", headers=admin).status_code == 422


def test_events_answer_204_without_a_cookie_and_take_a_beacons_text_plain(env):
    sent = _event({"type": "page_view", "page": "/", "referrer": "https://example.org/"})
    assert sent.status_code == 204 and sent.get_data() == b""
    assert "Set-Cookie" not in sent.headers
    beacon = _event('{"type": "donate_click", "page": "/donate"}', "text/plain;charset=UTF-8")
    assert beacon.status_code == 204
    assert _event({"type": "page_view", "page": "/"}, "application/x-www-form-urlencoded").status_code == 415


@pytest.mark.parametrize(
    "body",
    [
        {"type": "hacked", "page": "/"},
        {"type": "page_view"},
        {"type": "page_view", "page": "no-slash"},
        {"type": "page_view", "page": "/", "ip": "1.2.3.4"},
        {"type": "page_view", "page": "/" + "a" * 600},
    ],
)
def test_events_refuse_unknown_types_and_fields(env, body):
    answer = _event(body)
    assert answer.status_code == 422 and answer.get_json()["error_type"] == "validation_error"


def test_events_are_rate_limited_per_address(env, monkeypatch):
    from shared import wiring

    monkeypatch.setenv("EVENTS_PER_MINUTE", "3")
    wiring.reset()
    answers = [_event({"type": "page_view", "page": "/"}).status_code for _ in range(5)]
    assert answers == [204, 204, 204, 429, 429]
    limited = _event({"type": "page_view", "page": "/"})
    assert int(limited.headers["Retry-After"]) >= 1
    assert _event({"type": "page_view", "page": "/"}, address="198.51.100.10").status_code == 204


def test_the_admin_sees_generations_and_events(firebase, admin, monkeypatch):
    from shared import wiring

    monkeypatch.setenv("ANALYTICS_FLUSH_SECONDS", "0")
    wiring.reset()
    visitor = firebase.sign_up()
    submitted = function_client("generate_text_to_image").post(
        "/api/v1/generate/text-to-image", json={"prompt": "a fox"}, headers=visitor.bearer
    )
    assert submitted.status_code == 202, submitted.get_json()
    ran = function_client("run_job").post(
        "/api/v1/tasks/run-job",
        json={"job_id": submitted.get_json()["job_id"]},
        headers={"Authorization": f"Bearer {TASKS_TOKEN}"},
    )
    assert ran.status_code == 200 and ran.get_json()["status"] == "succeeded"
    assert _event({"type": "page_view", "page": "/"}).status_code == 204
    signed = _event({"type": "page_view", "page": "/donate"}, Authorization=visitor.bearer["Authorization"])
    assert signed.status_code == 204
    answer = function_client("admin").get("/api/v1/admin/analytics?days=1", headers=admin)
    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    assert report["generations"] == 1 and report["by_mode"] == {"text-to-image": 1} and report["success_rate"] == 1.0
    assert report["providers"]["local"]["generations"] == 1
    assert report["funnel"]["visitors"] == 2 and report["funnel"]["generated"] == 1
    assert report["funnel"]["signed_up"] >= 1
    assert report["page_views"] == {"/": 1, "/donate": 1}
    assert report["days"][0]["active_signed_in"] == 1 and report["days"][0]["active_anonymous"] == 1
    assert report["time_to_result"]["count"] == 1 and report["queue_wait"]["count"] == 1


def test_the_scheduled_run_needs_the_task_key_and_its_point_is_in_the_history(admin, monkeypatch):
    from shared import wiring

    monkeypatch.setenv("TASK_API_KEY", "a-task-key-0123456789-abcdefghijkl")
    wiring.reset()
    task = function_client("metrics_task")
    assert task.post("/api/v1/tasks/metrics").status_code == 401
    assert task.post("/api/v1/tasks/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
    ran = task.post("/api/v1/tasks/metrics", headers={"X-API-Key": "a-task-key-0123456789-abcdefghijkl"})
    assert ran.status_code == 200, ran.get_json()
    point = ran.get_json()["point"]
    assert point["source"] == "deployment" and point["values"]["queued"] == 0
    wiring.services().metrics.record_instance()  # what the request meter does once a minute
    history = function_client("admin").get("/api/v1/admin/metrics?hours=1", headers=admin)
    assert history.status_code == 200, history.get_json()
    sources = [p["source"] for p in history.get_json()["points"]]
    assert "deployment" in sources and any(s.startswith("instance:") for s in sources)
    assert function_client("admin").get("/api/v1/admin/metrics?hours=0", headers=admin).status_code == 422


def test_a_stuck_queue_opens_an_alert_notifies_the_webhook_and_closes_when_it_drains(admin, monkeypatch):
    from shared import wiring
    from shared.config import Settings
    from tests.fakes.clock import FakeClock
    from tests.unit.test_alerts import SECRET, Receiver

    receiver = Receiver()
    key = "a-task-key-0123456789-abcdefghijkl"
    for name, value in {
        "TASK_API_KEY": key,
        "ALERT_QUEUE_WAIT_SECONDS": "60",
        "ALERT_RESPONSE_SECONDS": "300",
        "ALERT_WEBHOOK_URL": receiver.url,
        "ALERT_WEBHOOK_SECRET": SECRET.decode(),
    }.items():
        monkeypatch.setenv(name, value)
    clock = FakeClock(time.time())
    wiring.install(wiring.Gateway(Settings(), clock))
    try:
        job = function_client("generate_text_to_image").post("/api/v1/generate/text-to-image", json={"prompt": "a fox"})
        assert job.status_code == 202
        task = function_client("metrics_task")
        first = task.post("/api/v1/tasks/metrics", headers={"X-API-Key": key}).get_json()
        assert first["opened"] == [] and first["point"]["values"]["queued"] == 1
        clock.advance(90)  # the job has waited 90 s: over the 60 s threshold
        stuck = task.post("/api/v1/tasks/metrics", headers={"X-API-Key": key}).get_json()
        assert stuck["opened"] == ["queue_wait"] and stuck["notifications"] == 1 and stuck["delivered"] is True
        listed = function_client("admin").get("/api/v1/admin/alerts?state=open", headers=admin).get_json()
        assert [a["rule"] for a in listed["alerts"]] == ["queue_wait"] and listed["alerts"][0]["value"] == 90.0
        worker = {"Authorization": f"Bearer {TASKS_TOKEN}"}
        job_id = job.get_json()["job_id"]
        ran = function_client("run_job").post("/api/v1/tasks/run-job", json={"job_id": job_id}, headers=worker)
        assert ran.status_code == 200
        clock.advance(60)  # the job that waited 90 s is among the recent ones: still open (no flapping)
        assert function_client("admin").post("/api/v1/admin/alerts/evaluate", headers=admin).get_json()["closed"] == []
        clock.advance(900)  # past METRICS_WINDOW_SECONDS: nothing waits any more
        evaluated = function_client("admin").post("/api/v1/admin/alerts/evaluate", headers=admin).get_json()
        assert evaluated["closed"] == ["queue_wait"] and evaluated["alerts"] == []
        everything = function_client("admin").get("/api/v1/admin/alerts?state=all", headers=admin).get_json()
        assert [(a["rule"], a["state"]) for a in everything["alerts"]] == [("queue_wait", "closed")]
        assert wiring.services().alerts.deliver(10)
        assert [(n["event"], n["alert"]["rule"]) for n in receiver.verified()] == [
            ("opened", "queue_wait"),
            ("closed", "queue_wait"),
        ]
    finally:
        receiver.server.shutdown()


def test_the_admin_reads_the_budgets(admin, monkeypatch):
    from shared import wiring

    monkeypatch.setenv("BUDGET_DAILY_UNITS", "100")
    monkeypatch.setenv("BUDGET_MONTHLY_UNITS", "1000")
    wiring.reset()
    answer = function_client("admin").get("/api/v1/admin/budgets", headers=admin)
    assert answer.status_code == 200, answer.get_json()
    budgets = {(b["name"], b["period"]): b for b in answer.get_json()["budgets"]}
    assert set(budgets) >= {("deployment", "day"), ("deployment", "month")}
    day = budgets[("deployment", "day")]
    assert (day["cap"], day["spent"], day["remaining"], day["used_fraction"]) == (100, 0, 100, 0)
