"""Fake DashScope: async tasks PENDING -> RUNNING -> SUCCEEDED, FAILED with HTTP 200, expiring URLs."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from flask import Response, jsonify, request

from tests.fakes.server import FakeVendor, colour_for, mp4_bytes, png_bytes

_CREATE = (
    "/api/v1/services/aigc/text2image/image-synthesis",
    "/api/v1/services/aigc/image2image/image-synthesis",
    "/api/v1/services/aigc/video-generation/video-synthesis",
)


@dataclass
class Task:
    id: str
    key: str
    kind: str
    prompt: str
    polls: int = 0
    fail_code: str | None = None
    done_at: float | None = None


class DashScopeFake(FakeVendor):
    name = "dashscope"

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.results: dict[str, tuple[bytes, str, float]] = {}
        self._tasks_lock = threading.Lock()
        super().__init__()
        self.on_reset()

    def on_reset(self) -> None:
        self.tasks, self.results = {}, {}
        self.polls_to_run, self.polls_to_finish = 1, 2
        self.url_ttl = 24 * 3600.0

    def error(self, status: int, code: str) -> Response:
        names = {401: "InvalidApiKey", 429: "Throttling"}
        body = {"request_id": uuid.uuid4().hex, "code": names.get(status, code), "message": f"vendor says: {code}"}
        response = jsonify(body)
        response.status_code = status
        return response

    def quota_error(self) -> Response:
        return self.error(400, "Arrearage")

    def public_path(self) -> bool:
        return request.path.startswith("/results/") or super().public_path()

    def routes(self) -> None:
        for path in _CREATE:
            self.app.add_url_rule(path, path, self._create, methods=["POST"])

        @self.app.get("/compatible-mode/v1/models")
        def key_check() -> Response:  # what check_key calls
            return jsonify({"object": "list", "data": [{"id": "qwen-test"}]})

        @self.app.get("/api/v1/tasks/<task_id>")
        def task(task_id: str) -> Response:
            return jsonify(self._status(task_id))

        @self.app.get("/results/<token>")
        def result(token: str) -> Response:
            data, mime, expires = self.results.get(token, (b"", "", 0.0))
            if not data or self.clock.now() > expires:
                body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
                return Response(body, status=403, mimetype="application/xml")
            return Response(data, mimetype=mime)

    def _create(self) -> Response:
        if request.headers.get("X-DashScope-Async") != "enable":
            return self.error(403, "AccessDenied")  # these models are async only
        body = request.get_json(silent=True) or {}
        prompt = str((body.get("input") or {}).get("prompt") or "")
        if not body.get("model") or not prompt:
            return self.error(400, "InvalidParameter")
        if "image2image" in request.path and not body["input"].get("base_image_url"):
            return self.error(400, "InvalidParameter")
        scenario = self.next_scenario()
        if scenario == "moderation":
            return self.error(400, "DataInspectionFailed")
        if scenario == "throttle":
            return self.error(429, "Throttling")
        kind = "video" if "video" in request.path else "image"
        task = Task(uuid.uuid4().hex, self.key_of() or "", kind, prompt)
        if scenario and scenario.startswith("fail:"):
            task.fail_code = scenario.split(":", 1)[1]
        with self._tasks_lock:
            self.tasks[task.id] = task
        return jsonify({"request_id": uuid.uuid4().hex, "output": {"task_id": task.id, "task_status": "PENDING"}})

    def _status(self, task_id: str) -> dict[str, object]:
        with self._tasks_lock:
            task = self.tasks.get(task_id)
            if task is None or task.key != self.key_of():
                return {"request_id": uuid.uuid4().hex, "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
            task.polls += 1
            polls = task.polls
        output: dict[str, object] = {"task_id": task.id}
        if polls <= self.polls_to_run:
            output["task_status"] = "PENDING"
        elif polls <= self.polls_to_finish:
            output["task_status"] = "RUNNING"
        elif task.fail_code:
            output.update(task_status="FAILED", code=task.fail_code, message=f"vendor says: {task.fail_code}")
        else:
            output["task_status"] = "SUCCEEDED"
            token = f"{task.id}.{'mp4' if task.kind == 'video' else 'png'}"
            if token not in self.results:
                data, mime = self.result(
                    *(
                        (mp4_bytes(), "video/mp4")
                        if task.kind == "video"
                        else (png_bytes(colour_for(task.prompt)), "image/png")
                    )
                )
                self.results[token] = (data, mime, self.clock.now() + self.url_ttl)
            url = self.result_url or self.own_url(f"/results/{token}")
            if task.kind == "video":
                output["video_url"] = url
            else:
                output["results"] = [{"url": url}]
        return {"request_id": uuid.uuid4().hex, "output": output}
