"""Production dispatch: every accepted job becomes one Cloud Tasks HTTP task for ``run_job``.

The queue, not this process, runs jobs: it POSTs ``{"job_id": ...}`` to ``RUN_JOB_URL`` and
retries until the worker answers 2xx; its rate limits (``--max-dispatches-per-second``,
``--max-concurrent-dispatches``) are the per-provider throttle. A task is a token, not an order:
``run_job`` runs the best queued job (lowest rank: tier and aging), which may be another job than
the one the task is named after, so the queue's order holds whatever order tasks arrive in. The
task's name is the job id and its attempt count, so a job adds at most one token per attempt (a
second create answers ALREADY_EXISTS, which is fine).

A job deferred for rate limits (``shared.jobs.runner``) gets its token back as a task scheduled at its
``not_before`` (plus ``SCHEDULE_MARGIN`` for clock skew: a token that came early would find nothing
to run), named after the deferral too, since its attempt count went back to what it was.

A failed enqueue never fails the submit: the job is already stored and stays ``queued``; the
failure is logged with the job id, and the re-dispatch sweep (``shared.jobs.sweep``, called by
a scheduler) notifies it again.

The client library is imported on the first ``notify`` only, so functions that never submit
(health, media, jobs) start cold without it.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.jobs.dispatcher import NullDispatcher
from shared.stores.base import Job

if TYPE_CHECKING:
    from google.cloud.tasks_v2 import CloudTasksClient

log = logging.getLogger("gateway.dispatch")
SCHEDULE_MARGIN = 1.0  # seconds after a deferred job's not_before that its task is scheduled
TOKEN_HEADER = "X-Tasks-Token"  # noqa: S105 (a header name) carries TASKS_TOKEN when Authorization holds the OIDC token


class CloudTasksDispatcher(NullDispatcher):
    """Nothing runs in this process (no wake/start/stop work); ``notify`` enqueues a task."""

    def __init__(
        self,
        queue: str,
        run_job_url: str,
        tasks_token: str,
        service_account: str | None = None,
        endpoint: str | None = None,
        retry_seconds: float = 2.0,
        timeout: float = 10.0,
    ) -> None:
        self.queue = queue
        self.run_job_url = run_job_url
        self._token = tasks_token
        self.service_account = service_account
        self.endpoint = endpoint
        self.retry_seconds = retry_seconds
        self.timeout = timeout
        self._client: CloudTasksClient | None = None
        self._lock = threading.Lock()

    def task_name(self, job: Job) -> str:
        # One task per (job, attempt): a duplicate notify is ALREADY_EXISTS, while a job that
        # went back to the queue (its worker died) gets a new task; Cloud Tasks keeps the names
        # of executed tasks reserved for a while, so the bare job id could not be reused.
        deferral = f"-d{int(job.not_before * 1000)}" if job.not_before is not None else ""
        return f"{self.queue}/tasks/{job.id}-{job.attempts}{deferral}"

    def client(self) -> CloudTasksClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._new_client()
        return self._client

    def _new_client(self) -> CloudTasksClient:
        from google.cloud.tasks_v2 import CloudTasksClient

        if not self.endpoint:
            return CloudTasksClient()  # ambient credentials (the function's service account)
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksRestTransport

        scheme = "http" if self.endpoint.startswith("http://") else "https"
        host = self.endpoint.removeprefix(f"{scheme}://")
        transport = CloudTasksRestTransport(host=host, credentials=AnonymousCredentials(), url_scheme=scheme)
        return CloudTasksClient(transport=transport)

    def task(self, job: Job) -> dict[str, Any]:
        """The Task to create for ``job`` (a dict the client turns into ``tasks_v2.Task``)."""
        headers = {"Content-Type": "application/json"}
        http_request: dict[str, Any] = {
            "url": self.run_job_url,
            "http_method": "POST",
            "body": json.dumps({"job_id": job.id}).encode(),
        }
        if self.service_account:
            # Authorization carries a Google-signed ID token (checked by IAM in front of a private
            # run_job); the worker still checks TASKS_TOKEN, sent in its own header.
            http_request["oidc_token"] = {"service_account_email": self.service_account, "audience": self.run_job_url}
            headers[TOKEN_HEADER] = self._token
        else:
            headers["Authorization"] = f"Bearer {self._token}"
        http_request["headers"] = headers
        task: dict[str, Any] = {"name": self.task_name(job), "http_request": http_request}
        if job.not_before is not None:  # deferred: the token comes back when the job may run
            task["schedule_time"] = datetime.fromtimestamp(job.not_before + SCHEDULE_MARGIN, tz=UTC)
        return task

    def _retry(self) -> Any:
        if self.retry_seconds <= 0:
            return None
        from google.api_core import retry

        return retry.Retry(
            predicate=retry.if_transient_error, initial=0.2, maximum=1.0, multiplier=2, timeout=self.retry_seconds
        )

    def notify(self, job: Job) -> None:
        from google.api_core import exceptions

        fields = {"job_id": job.id, "queue": self.queue}
        try:
            self.client().create_task(parent=self.queue, task=self.task(job), retry=self._retry(), timeout=self.timeout)
        except exceptions.Conflict:  # ALREADY_EXISTS: this job was enqueued before
            log.info("job already enqueued", extra={"fields": fields})
        except Exception as exc:  # the job is stored and stays queued; never fail the submit
            # The exception's type and status only: its text may echo the request (headers).
            status = getattr(exc, "code", None)
            log.error(
                "enqueue failed; job stays queued",
                extra={"fields": {**fields, "error": type(exc).__name__, "status": str(status)}},
            )
