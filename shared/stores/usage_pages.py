"""One page of a caller's usage from two sources (text usage records, media jobs), newest first.

Each source is read with the same cursor and limit; a source that returned a full page may hold
older records not read yet, so only records at or after the newest of such "last rows" are safe
to return now, and the next page starts after the last record returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain import Job, JobStatus
from shared.stores.base import UsageRecord

Cursor = tuple[float, str]


def _key(record: UsageRecord) -> Cursor:
    return (record.at, record.id)


def merge_page(
    sources: Sequence[tuple[Sequence[UsageRecord], Cursor | None]], limit: int
) -> tuple[list[UsageRecord], Cursor | None]:
    """``sources``: each source's billable records (newest first) and, when it returned a full
    page, the key of the last row it read (billable or not). Returns the page and the next cursor."""
    bound = max((last for _, last in sources if last is not None), default=None)
    merged = sorted((r for records, _ in sources for r in records), key=_key, reverse=True)
    if bound is not None:
        merged = [r for r in merged if _key(r) >= bound]
    if len(merged) > limit:
        page = merged[:limit]
        return page, _key(page[-1])
    if bound is not None:
        return merged, bound
    return merged, None


def job_usage(job: Job) -> UsageRecord | None:
    """A media job as a usage record: only one that succeeded counts (a failed job costs nothing)."""
    if job.provider is None or job.status is not JobStatus.SUCCEEDED:
        return None
    result = job.result or {}
    quantity = float(result.get("seconds") or 1.0) if job.mode.is_video else 1.0
    return UsageRecord(
        id=job.id,
        owner=job.owner,
        at=job.created_at,
        mode=job.mode,
        provider=job.provider,
        model=job.model or "",
        duration=job.duration or 0.0,
        cost_units=job.cost_units,
        quantity=quantity,
    )
