"""The worker (runs one job; Cloud Tasks calls it in production) and the re-dispatch sweep (a
scheduler calls it). The task token guards both."""

from __future__ import annotations

from shared import errors, http, wiring
from shared.api import API_PREFIX
from shared.models import RedispatchAnswer, RunJobAnswer, RunJobRequest
from shared.secret_checks import same_secret


def _authorize(call: http.Call) -> None:
    token = call.settings.tasks_token
    # Authorization: Bearer TASKS_TOKEN, or X-Tasks-Token when Authorization carries Cloud Tasks'
    # OIDC token (CLOUD_TASKS_SERVICE_ACCOUNT; IAM checks that one in front of the function).
    supplied = (call.header("X-Tasks-Token") or "").strip()
    supplied = supplied or (call.header("Authorization") or "").removeprefix("Bearer ").strip()
    if not same_secret(supplied, token):
        raise errors.Unauthorized("A valid task token is required.")


def _run_job(call: http.Call) -> http.Reply:
    from shared.jobs.dispatcher import worker_id

    body: RunJobRequest = call.body
    job = wiring.services().jobs.run_claimed(body.job_id, worker_id())
    if job is None:
        raise errors.NotFound("No job with this id.")
    return http.Reply(RunJobAnswer(job_id=job.id, status=job.status))


def _redispatch(call: http.Call) -> http.Reply:
    _authorize(call)
    report = wiring.services().jobs.redispatch()
    return http.Reply(RedispatchAnswer(requeued=report.requeued, redispatched=report.redispatched))


api = http.Api(
    "run_job",
    f"{API_PREFIX}/tasks/run-job",
    [
        http.post(
            "",
            _run_job,
            body=RunJobRequest,
            answer=RunJobAnswer,
            summary="Run one queued job (dispatcher target)",
            tag="ops",
            errors=(401, 503),
            security=("tasksToken", "tasksTokenHeader"),
            guard=_authorize,  # before the body: 401 without the token, whatever the body
        )
    ],
    wiring.settings,
)
sweep_api = http.Api(
    "redispatch",
    f"{API_PREFIX}/tasks/redispatch",
    [
        http.post(
            "",
            _redispatch,
            answer=RedispatchAnswer,
            summary="Requeue expired leases and dispatch stale queued jobs again (scheduler target)",
            tag="ops",
            errors=(401, 503),
            security=("tasksToken", "tasksTokenHeader"),
        )
    ],
    wiring.settings,
)
