"""A fake Cloud Tasks: the v2 REST surface the google-cloud-tasks REST transport calls, and delivery.

What it reproduces (checked against ``google/cloud/tasks_v2/.../transports/rest_base.py``):

- ``POST /v2/{parent=projects/*/locations/*/queues/*}/tasks`` with ``{"task": {...}}`` (camelCase
  JSON; ``httpRequest.httpMethod`` as a number, the client sends ``$alt=json;enum-encoding=int``)
  answers the Task JSON (BASIC view: no body). A name already used, even by a task already
  delivered, answers 409 ``ALREADY_EXISTS`` in Google's error shape.
- Delivery: each task's ``httpRequest`` (base64 body decoded, headers, ``X-CloudTasks-*``
  headers, an OIDC token standing in for the real one) is POSTed to its URL from background
  threads (``max_concurrent`` at once). A non-2xx answer or a refused connection is retried with
  exponential backoff until ``max_attempts``; then the task is dropped (state ``failed``).
- ``paused`` / ``pause()`` hold delivery (``gcloud tasks queues pause``); ``resume()`` releases it,
  ``run(name)`` dispatches one held task (``gcloud tasks run``).

Tests script it with ``fail_next`` and read ``creates``, ``tasks`` and ``attempts``.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask, Response, jsonify, request

from tests.fakes.server import Loopback

METHODS = {1: "POST", 2: "GET", 3: "HEAD", 4: "PUT", 5: "DELETE", 6: "PATCH", 7: "OPTIONS"}
STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED"}
STATUS |= {500: "INTERNAL", 503: "UNAVAILABLE"}


@dataclass
class Attempt:
    task: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # None: no answer (connection refused, timeout)


@dataclass
class FakeTask:
    name: str
    url: str
    method: str
    headers: dict[str, str]
    body: bytes
    oidc: dict[str, str] | None
    state: str = "pending"  # pending -> succeeded | failed
    attempts: list[Attempt] = field(default_factory=list)


def google_error(status: int, message: str) -> Response:
    response = jsonify({"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}})
    response.status_code = status
    return response


class FakeCloudTasks:
    def __init__(
        self,
        max_attempts: int = 3,
        min_backoff: float = 0.01,
        max_backoff: float = 0.2,
        max_concurrent: int = 4,
        paused: bool = False,
    ) -> None:
        self.max_attempts = max_attempts
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.tasks: dict[str, FakeTask] = {}
        self.creates: list[dict[str, Any]] = []  # every CreateTask body received, duplicates included
        self._forced: deque[int] = deque()
        self._lock = threading.Condition()
        self._held: list[FakeTask] = []
        self._paused = paused
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_concurrent, thread_name_prefix="fake-tasks-delivery")
        self._http = requests.Session()
        self.app = Flask("fake-cloudtasks")
        self.app.add_url_rule(
            "/v2/projects/<project>/locations/<location>/queues/<queue>/tasks",
            view_func=self._create,
            methods=["POST"],
        )
        self._loopback: Loopback | None = None

    # -- scripting ----------------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._forced.extend([status] * times)

    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def run(self, name: str) -> None:
        """Dispatch one held task now, paused or not (``gcloud tasks run``)."""
        with self._lock:
            task = self.tasks[name]
            self._held.remove(task)
        self._pool.submit(self._deliver, task)

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            held, self._held = self._held, []
        for task in held:
            self._pool.submit(self._deliver, task)

    @property
    def attempts(self) -> list[Attempt]:
        with self._lock:
            return [a for task in self.tasks.values() for a in task.attempts]

    def wait_for(self, name: str, states: set[str], timeout: float = 30) -> FakeTask:
        """Block until task ``name`` exists and is in one of ``states`` (bounded)."""
        with self._lock:
            self._lock.wait_for(lambda: name in self.tasks and self.tasks[name].state in states, timeout)
            if name not in self.tasks:
                raise AssertionError(f"no task {name}; have {sorted(self.tasks)}")
            return self.tasks[name]

    # -- the API ------------------------------------------------------------------------------

    def _create(self, project: str, location: str, queue: str) -> Response:
        parent = f"projects/{project}/locations/{location}/queues/{queue}"
        payload = request.get_json(silent=True) or {}
        with self._lock:
            self.creates.append(payload)
            forced = self._forced.popleft() if self._forced else None
        if forced is not None:
            return google_error(forced, "The service is currently unavailable.")
        spec = payload.get("task")
        http_request = (spec or {}).get("httpRequest")
        if not spec or not http_request or not http_request.get("url"):
            return google_error(400, "Task.http_request.url is required.")
        name = spec.get("name") or f"{parent}/tasks/{uuid.uuid4().int % 10**19}"
        if not name.startswith(f"{parent}/tasks/") or "/" in name.removeprefix(f"{parent}/tasks/"):
            return google_error(400, f"Task name must be in the form {parent}/tasks/TASK_ID.")
        method = http_request.get("httpMethod", 1)
        task = FakeTask(
            name=name,
            url=http_request["url"],
            method=METHODS.get(method, method) if isinstance(method, int) else str(method),
            headers=dict(http_request.get("headers", {})),
            body=base64.b64decode(http_request.get("body", "")),
            oidc=http_request.get("oidcToken"),
        )
        with self._lock:
            if name in self.tasks:  # delivered tasks keep their name reserved, as the real service does
                return google_error(409, "Requested entity already exists")
            self.tasks[name] = task
            if self._paused:
                self._held.append(task)
            else:
                self._pool.submit(self._deliver, task)
        answer = {"name": name, "httpRequest": {"url": task.url, "httpMethod": task.method, "headers": task.headers}}
        answer |= {"dispatchCount": 0, "responseCount": 0, "view": "BASIC"}
        return jsonify(answer)

    # -- delivery -----------------------------------------------------------------------------

    def _deliver(self, task: FakeTask) -> None:
        backoff = self.min_backoff
        for number in range(self.max_attempts):
            if self._stopping.is_set():
                return
            headers = {**task.headers, "User-Agent": "Google-Cloud-Tasks"}
            headers["X-CloudTasks-QueueName"] = task.name.split("/queues/")[1].split("/")[0]
            headers["X-CloudTasks-TaskName"] = task.name.rsplit("/", 1)[1]
            headers["X-CloudTasks-TaskRetryCount"] = str(number)
            headers["X-CloudTasks-TaskExecutionCount"] = str(len([a for a in task.attempts if a.status]))
            if task.oidc:  # the real service mints a Google-signed ID token here
                headers["Authorization"] = f"Bearer fake-oidc:{task.oidc.get('serviceAccountEmail')}"
            status: int | None
            try:
                status = self._http.request(
                    task.method, task.url, data=task.body, headers=headers, timeout=60
                ).status_code
            except requests.RequestException:
                status = None
            with self._lock:
                task.attempts.append(Attempt(task.name, task.url, headers, task.body, status))
                if status is not None and 200 <= status < 300:
                    task.state = "succeeded"
                    self._lock.notify_all()
                    return
                if number + 1 == self.max_attempts:
                    task.state = "failed"
                    self._lock.notify_all()
                    return
                self._lock.notify_all()
            self._stopping.wait(backoff)  # the queue's retry backoff (min/max backoff, doubling)
            backoff = min(backoff * 2, self.max_backoff)

    # -- serving ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._loopback is not None
        return self._loopback.url

    def start(self) -> FakeCloudTasks:
        self._loopback = Loopback(self.app, "fake-cloudtasks")
        return self

    def stop(self) -> None:
        """Stop answering the API (clients get connection refused); pending deliveries end."""
        if self._loopback is not None:
            self._loopback.stop()
            self._loopback = None

    def close(self) -> None:
        self.stop()
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
