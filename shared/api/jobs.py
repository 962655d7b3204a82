"""Jobs: view, list and cancel the caller's own jobs."""

from __future__ import annotations

from shared import http, wiring
from shared.api import API
from shared.models import JobList, JobView


def _get(call: http.Call) -> http.Reply:
    gw = wiring.gateway()
    view = gw.job_service.get(gw.caller(call.request), call.params["job_id"])
    return http.Reply(view)


def _cancel(call: http.Call) -> http.Reply:
    gw = wiring.gateway()
    view = gw.job_service.cancel(gw.caller(call.request), call.params["job_id"])
    return http.Reply(view)


def _list(call: http.Call) -> http.Reply:
    gw = wiring.gateway()
    jobs = gw.job_service.list(gw.caller(call.request))
    return http.Reply(JobList(jobs=jobs))


api = http.Api(
    f"{API}/jobs",
    [
        http.get(f"{API}/jobs", _list, answer=JobList, summary="The caller's recent jobs", tag="jobs"),
        http.get(
            f"{API}/jobs/<job_id>", _get, answer=JobView, summary="One job, with position, ETA and result", tag="jobs"
        ),
        http.delete(
            f"{API}/jobs/<job_id>", _cancel, answer=JobView, summary="Cancel a queued or running job", tag="jobs"
        ),
    ],
    wiring.settings,
)
