"""Re-dispatch: no accepted job is left behind when its dispatch was lost.

A job stays ``queued`` when its Cloud Tasks enqueue failed, and goes back to ``queued`` when
its worker died and its lease expired. A scheduler calls this sweep (``POST
/api/v1/tasks/redispatch``) every minute or so: expired leases go back to the queue (or fail
past ``MAX_ATTEMPTS``), then every job queued for longer than ``older_than`` is notified again.
Dispatchers dedupe by (job, attempt), so a job whose task is merely waiting is not doubled. (Tasks
are tokens for the best queued job: a job that gave its token to a better one runs on a later token.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.stores.base import JobStore

if TYPE_CHECKING:
    from shared.jobs.dispatcher import Dispatcher


@dataclass(frozen=True)
class SweepReport:
    requeued: int
    redispatched: int


def redispatch(
    store: JobStore, dispatcher: Dispatcher, now: float, *, older_than: float, max_attempts: int, limit: int = 100
) -> SweepReport:
    requeued = store.requeue_expired(now, max_attempts)
    stale = [job for job in store.queued(limit) if now - job.created_at >= older_than]
    for job in stale:
        dispatcher.notify(job)
    return SweepReport(requeued, len(stale))
