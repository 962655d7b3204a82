"""Domain results -> HTTP answers (the pydantic models of ``shared.models``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.api import API_PREFIX
from shared.domain import JobSnapshot
from shared.models import (
    HealthAnswer,
    JobAccepted,
    JobError,
    JobLinks,
    JobResult,
    JobView,
    ProviderHealth,
    TextAnswer,
    TextUsage,
)

if TYPE_CHECKING:
    from shared.services.health import HealthReport
    from shared.services.text import TextResult


def links(job_id: str) -> JobLinks:
    return JobLinks(self=f"{API_PREFIX}/jobs/{job_id}", cancel=f"{API_PREFIX}/jobs/{job_id}")


def job_view(snapshot: JobSnapshot) -> JobView:
    job = snapshot.job
    result = None
    if job.result is not None:
        data = {k: v for k, v in job.result.items() if k != "key"}
        result = JobResult(url=snapshot.result_url, **data)
    return JobView(
        job_id=job.id,
        mode=job.mode,
        status=job.status,
        position=snapshot.position,
        eta_seconds=snapshot.eta_seconds,
        poll_after_seconds=snapshot.poll_after_seconds,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempts=job.attempts,
        provider=job.provider,
        result=result,
        error=JobError(**job.error) if job.error else None,
        links=links(job.id),
    )


def job_accepted(snapshot: JobSnapshot) -> JobAccepted:
    return JobAccepted(
        job_id=snapshot.job.id,
        status=snapshot.job.status,
        position=snapshot.position,
        eta_seconds=snapshot.eta_seconds,
        links=links(snapshot.job.id),
    )


def text_answer(result: TextResult) -> TextAnswer:
    return TextAnswer(
        text=result.text,
        provider=result.provider,
        model=result.model,
        usage=TextUsage(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens),
    )  # result.cached is not said: the shared cache must not tell a caller what others asked


def health_answer(report: HealthReport) -> HealthAnswer:
    return HealthAnswer(
        status="ok" if report.status == "ok" else "degraded",
        timestamp=report.timestamp,
        load=report.load,
        queue_length=report.queue_length,
        version=report.version,
        providers=[ProviderHealth(name=p.name, modes=p.modes, state=p.state) for p in report.providers],  # type: ignore[arg-type]
        paid_routes_open=report.paid_routes_open,
    )
