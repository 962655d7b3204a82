"""The worker (runs one job; Cloud Tasks calls it in production) and the re-dispatch sweep (a
scheduler calls it). The task token guards both."""

from __future__ import annotations

import hmac

from shared import errors, http, wiring
from shared.api import API
from shared.models import RedispatchAnswer, RunJobAnswer, RunJobRequest


def _authorize(call: http.Call) -> None:
    token = call.settings.tasks_token
    # Authorization: Bearer TASKS_TOKEN, or X-Tasks-Token when Authorization carries Cloud Tasks'
    # OIDC token (CLOUD_TASKS_SERVICE_ACCOUNT; IAM checks that one in front of the function).
    supplied = (call.header("X-Tasks-Token") or "").strip()
    supplied = supplied or (call.header("Authorization") or "").removeprefix("Bearer ").strip()
    if token is None or not supplied or not hmac.compare_digest(supplied, token.get_secret_value()):
        raise errors.Unauthorized("A valid task token is required.")


def _run_job(call: http.Call) -> http.Reply:
    _authorize(call)
    gw = wiring.gateway()
    body: RunJobRequest = call.body
    from shared.jobs.dispatcher import worker_id

    worker = worker_id()
    now = gw.clock.now()
    job = gw.jobs.claim(body.job_id, worker, now, gw.settings.lease_seconds)
    if job is None and gw.jobs.requeue_expired(now, gw.settings.max_attempts):
        # A retried task whose previous run was killed finds its job behind an expired lease:
        # that job is back in the queue now (or failed past MAX_ATTEMPTS); claim again.
        job = gw.jobs.claim(body.job_id, worker, now, gw.settings.lease_seconds)
    if job is None:
        current = gw.jobs.get(body.job_id)
        if current is None:
            raise errors.NotFound("No job with this id.")
        # Already taken or finished: the task is done (Cloud Tasks must not retry it).
        return http.Reply(RunJobAnswer(job_id=current.id, status=current.status))
    outcome = gw.runner.run(job, worker)
    return http.Reply(RunJobAnswer(job_id=job.id, status=outcome.status))


api = http.Api(
    f"{API}/tasks/run-job",
    [
        http.post(
            f"{API}/tasks/run-job",
            _run_job,
            body=RunJobRequest,
            answer=RunJobAnswer,
            summary="Run one queued job (dispatcher target)",
            tag="ops",
        )
    ],
    wiring.settings,
)


def _redispatch(call: http.Call) -> http.Reply:
    _authorize(call)
    gw = wiring.gateway()
    from shared.jobs.sweep import redispatch

    report = redispatch(
        gw.jobs,
        gw.dispatcher,
        gw.clock.now(),
        older_than=gw.settings.redispatch_after_seconds,
        max_attempts=gw.settings.max_attempts,
    )
    return http.Reply(RedispatchAnswer(requeued=report.requeued, redispatched=report.redispatched))


sweep_api = http.Api(
    f"{API}/tasks/redispatch",
    [
        http.post(
            f"{API}/tasks/redispatch",
            _redispatch,
            answer=RedispatchAnswer,
            summary="Requeue expired leases and dispatch stale queued jobs again (scheduler target)",
            tag="ops",
        )
    ],
    wiring.settings,
)
