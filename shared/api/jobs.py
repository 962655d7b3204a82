"""Jobs: view any job by its id; list and cancel the caller's own jobs."""

from __future__ import annotations

from shared import http, wiring
from shared.api import API_PREFIX, views
from shared.models import JobList, JobView


def _get(call: http.Call) -> http.Reply:
    services = wiring.services()
    snapshot = services.jobs.get(services.caller(call.request), call.params["job_id"])
    return http.Reply(views.job_view(snapshot))


def _cancel(call: http.Call) -> http.Reply:
    services = wiring.services()
    snapshot = services.jobs.cancel(services.caller(call.request), call.params["job_id"])
    return http.Reply(views.job_view(snapshot))


def _list(call: http.Call) -> http.Reply:
    services = wiring.services()
    snapshots = services.jobs.list(services.caller(call.request))
    return http.Reply(JobList(jobs=[views.job_view(s) for s in snapshots]))


api = http.Api(
    "jobs",
    f"{API_PREFIX}/jobs",
    [
        http.get("", _list, answer=JobList, summary="The caller's recent jobs", tag="jobs"),
        http.get("/<job_id>", _get, answer=JobView, summary="One job, with position, ETA and result", tag="jobs"),
        http.delete(
            "/<job_id>",
            _cancel,
            answer=JobView,
            summary="Cancel a queued or running job",
            tag="jobs",
            errors=(409, 503),  # 409: the job has already finished
        ),
    ],
    wiring.settings,
)
