"""Alerts on a fake clock with injected readings: each threshold opens an alert once and closes it
once (hysteresis, no flapping), and the webhook notification reaches a loopback receiver signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shared.analytics.alerts import Thresholds, readings
from shared.analytics.records import MetricsPoint
from shared.budget.status import BudgetStatus
from shared.meter import RequestMeter
from shared.ratelimit.load import LoadMonitor
from shared.services.alerts import AlertService
from shared.services.metrics import MetricsPolicy, MetricsService
from shared.stores.factory import open_sqlite
from shared.webhook import WebhookNotifier
from tests.fakes.clock import FakeClock

T0 = 1_800_000_000.0
SECRET = b"webhook-secret-for-the-test"
THRESHOLDS = Thresholds()  # the defaults: CPU 85 %, memory 90 %, errors 5 %, 30 s, queue wait 120 s


class Receiver:
    """A webhook receiver on 127.0.0.1: records each POST, answers the statuses it is told to."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.statuses: list[int] = []  # answered in order, then 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append({"headers": dict(self.headers), "body": body})
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self) -> list[dict]:
        """Every notification whose signature checks out, as JSON."""
        found = []
        for item in self.received:
            stamp = item["headers"]["X-Gateway-Timestamp"]
            expected = "sha256=" + hmac.new(SECRET, stamp.encode() + b"." + item["body"], hashlib.sha256).hexdigest()
            assert hmac.compare_digest(item["headers"]["X-Gateway-Signature"], expected)
            found.append(json.loads(item["body"]))
        return found


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()


@pytest.fixture
def world(tmp_path: Path, receiver: Receiver):
    stores = open_sqlite(tmp_path / "a.sqlite3")
    clock = FakeClock(T0)
    load = LoadMonitor(stores.jobs.counts, 40, clock.now, ttl=0)
    metrics = MetricsService(stores.metrics, stores.jobs, load, clock, RequestMeter(), MetricsPolicy())
    notifier = WebhookNotifier(receiver.url, SECRET, attempts=3, backoff=0.01, now=clock.now)
    service = AlertService(stores.alerts, metrics, lambda: [], clock, THRESHOLDS, notifier)
    yield service, clock, stores
    service.deliver(10)  # nothing left to send once the receiver stops
    stores.close()


RULES = [
    # rule, threshold, readings: under, at, over, in the hysteresis band, over again, cleared
    ("cpu", 0.85, [0.5, 0.85, 0.97, 0.75, 0.9, 0.6]),
    ("memory", 0.90, [0.5, 0.9, 0.95, 0.8, 0.99, 0.7]),
    ("error_rate", 0.05, [0.0, 0.05, 0.2, 0.045, 0.3, 0.01]),
    ("response_time", 30.0, [3.0, 30.0, 80.0, 25.0, 31.0, 10.0]),
    ("queue_wait", 120.0, [5.0, 120.0, 600.0, 100.0, 130.0, 20.0]),
    ("budget:deployment:day:80", 0.8, [0.3, 0.8, 0.85, 0.7, 0.9, 0.0]),
]


@pytest.mark.parametrize(("rule", "threshold", "values"), RULES, ids=[r[0] for r in RULES])
def test_each_threshold_opens_an_alert_once_and_closes_it_once(world, receiver, rule, threshold, values):
    service, clock, stores = world
    changes = []
    for value in values:
        clock.advance(300)
        done = service.evaluate({rule: value})
        changes.append(([a.rule for a in done.opened], [a.rule for a in done.closed]))
    assert changes == [([], []), ([rule], []), ([], []), ([], []), ([], []), ([], [rule])]
    history = stores.alerts.list(False, 10)
    assert len(history) == 1 and history[0].state == "closed"
    alert = history[0]
    assert (alert.rule, alert.threshold, alert.value, alert.closing_value) == (rule, threshold, values[1], values[-1])
    assert (alert.opened_at, alert.closed_at) == (T0 + 600, T0 + 1800)
    assert service.deliver(10)
    notes = receiver.verified()
    assert [(n["event"], n["alert"]["rule"]) for n in notes] == [("opened", rule), ("closed", rule)]
    assert notes[0]["text"] == notes[0]["content"] and "AiArt Gateway" in notes[0]["text"]
    assert all(int(r["headers"]["X-Gateway-Timestamp"]) >= int(T0) for r in receiver.received)


def test_readings_wavering_around_a_threshold_do_not_flap(world, receiver):
    service, clock, stores = world
    for value in [0.86, 0.84, 0.86, 0.84, 0.86, 0.70, 0.67, 0.86]:  # clears below 0.85 x 0.8 = 0.68
        clock.advance(60)
        service.evaluate({"cpu": value})
    assert [(a.state, a.value) for a in stores.alerts.list(False, 10)] == [("open", 0.86), ("closed", 0.86)]
    assert service.deliver(10) and [n["event"] for n in receiver.verified()] == ["opened", "closed", "opened"]


def test_a_rule_without_a_reading_keeps_its_state_and_a_budget_gone_closes(world):
    service, clock, stores = world
    service.evaluate({"cpu": 0.99, "budget:anonymous:day:50": 0.6})
    clock.advance(60)
    done = service.evaluate({})
    assert [a.rule for a in done.closed] == ["budget:anonymous:day:50"], "a budget no longer set: nothing is used"
    assert [a.rule for a in stores.alerts.list(True, 10)] == ["cpu"]


def test_the_webhook_retries_and_gives_up_on_a_refusal(receiver):
    clock = FakeClock(T0)
    receiver.statuses = [503, 502]
    notifier = WebhookNotifier(receiver.url, SECRET, attempts=3, backoff=0.01, now=clock.now)
    notifier.send({"text": "one", "alert": {"rule": "cpu"}})
    assert notifier.drain(10) and notifier.delivered == 1 and len(receiver.received) == 3
    receiver.statuses = [400]
    notifier.send({"text": "two", "alert": {"rule": "cpu"}})
    assert notifier.drain(10) and notifier.failed == 1 and len(receiver.received) == 4, "a 400 is not retried"
    unsigned = WebhookNotifier(receiver.url, None, attempts=1)
    unsigned.send({"text": "three"})
    assert unsigned.drain(10) and "X-Gateway-Signature" not in receiver.received[-1]["headers"]
    nowhere = WebhookNotifier("http://127.0.0.1:9/none", SECRET, attempts=2, backoff=0.01, timeout=1)
    nowhere.send({"text": "four"})
    assert nowhere.drain(10) and nowhere.failed == 1


def test_readings_take_the_highest_instance_and_the_deployments_figures():
    points = [
        MetricsPoint(T0, "instance:a", {"cpu": 0.4, "memory": 0.95, "requests": 30, "error_rate": 0.1}),
        MetricsPoint(T0, "instance:b", {"cpu": 0.9, "memory": 0.2, "requests": 10, "response_avg": 2}),
    ]
    deployment = {"finished": 4, "error_rate": 0.5, "time_to_result_p95": 12.0}
    deployment.update({"queue_wait_p95": 3, "oldest_queued_wait": 500})
    budget = BudgetStatus("deployment", "day", 100, 10, 75, 15, T0 + 3600, 5, 0.85)
    found = readings(THRESHOLDS, deployment, points, [budget])
    assert found["cpu"] == 0.9 and found["memory"] == 0.95
    assert found["error_rate"] == pytest.approx(3 / 40), "4 jobs are under min_jobs: the 5xx share counts"
    assert found["response_time"] == 12.0 and found["queue_wait"] == 500
    assert {k: v for k, v in found.items() if k.startswith("budget:")} == {
        "budget:deployment:day:50": 0.85,
        "budget:deployment:day:80": 0.85,
        "budget:deployment:day:100": 0.85,
    }
    assert readings(THRESHOLDS, {"finished": 5, "error_rate": 0.4}, [], [])["error_rate"] == 0.4


def test_an_evaluation_reads_each_budgets_used_fraction_at_50_80_and_100_percent(world):
    service, clock, stores = world
    used = [0.85]

    def report() -> list[BudgetStatus]:
        return [BudgetStatus("provider_stability", "day", 100, 0, used[0] * 100, 0, T0 + 3600, 1, used[0])]

    service.budgets = report
    opened = {a.rule for a in service.evaluate().opened}
    assert opened == {"budget:provider_stability:day:50", "budget:provider_stability:day:80"}
    used[0] = 1.0
    assert {a.rule for a in service.evaluate().opened} == {"budget:provider_stability:day:100"}
    used[0] = 0.0  # the next day: a new period, nothing used
    closed = {a.rule for a in service.evaluate().closed}
    assert closed == {f"budget:provider_stability:day:{p}" for p in (50, 80, 100)}
    assert stores.alerts.list(True, 10) == []
