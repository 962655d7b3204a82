"""Submitting, viewing, listing and canceling jobs: what the HTTP functions call."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from shared import errors
from shared.clock import Clock
from shared.domain import Caller
from shared.imaging import CheckedImage
from shared.jobs import eta
from shared.media import EXTENSIONS, MediaStore
from shared.models import JobAccepted, JobError, JobLinks, JobResult, JobStatus, JobView, Mode
from shared.stores.base import Job, JobStore

API = "/api/v1"


def new_job_id() -> str:
    """Unguessable: the id is the capability to an anonymous caller's job."""
    return secrets.token_urlsafe(18)


def links(job_id: str) -> JobLinks:
    return JobLinks(self=f"{API}/jobs/{job_id}", cancel=f"{API}/jobs/{job_id}")


def dedupe_key(owner: str, mode: Mode, params: dict[str, Any], image: bytes | None, now: float, window: float) -> str:
    """What identical submits by the same caller in the same window share: a SHA-256 of owner,
    mode, the fields sent and the input image's bytes, bucketed by ``window``."""
    canonical = {
        "owner": owner,
        "mode": mode.value,
        "params": params,
        "image": hashlib.sha256(image).hexdigest() if image is not None else None,
        "window": int(now // window),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def derived_job_id(secret: bytes, key: str) -> str:
    """The job id of a deduplicated submit: the same for the same key, unguessable without
    ``secret`` (an id is the capability to an anonymous caller's job). Deriving the id, not an
    idempotency key, keeps a submit at ONE store write (no idempotency marker)."""
    mac = hmac.new(secret, f"job-dedupe|{key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


class JobService:
    def __init__(
        self,
        store: JobStore,
        media: MediaStore,
        clock: Clock,
        concurrency: int,
        notify: Callable[[Job], None],
        retention_seconds: float = 30 * 86400,
        eta_window: int = 20,
        eta_cache_seconds: float = 15.0,
        dedupe_seconds: float = 0.0,
        dedupe_secret: bytes = b"",
    ) -> None:
        self.store = store
        self.media = media
        self.clock = clock
        self.concurrency = concurrency
        self.notify = notify
        self.retention_seconds = retention_seconds
        self.dedupe_seconds = dedupe_seconds
        self.dedupe_secret = dedupe_secret or secrets.token_bytes(32)  # per instance unless configured
        self.durations = eta.DurationCache(
            lambda mode: store.recent_durations(mode, eta_window), clock.now, eta_cache_seconds
        )

    def submit(
        self,
        caller: Caller,
        mode: Mode,
        body: BaseModel,
        image: CheckedImage | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[JobAccepted, bool]:
        now = self.clock.now()
        params: dict[str, Any] = body.model_dump(exclude_none=True)
        job_id = new_job_id()
        derived = idempotency_key is None and self.dedupe_seconds > 0
        if derived:
            data = image.data if image is not None else None
            key = dedupe_key(caller.key, mode, params, data, now, self.dedupe_seconds)
            job_id = derived_job_id(self.dedupe_secret, key)
        params.setdefault("seed", secrets.randbelow(2**31))
        input_key = None
        if image is not None:  # a name of its own: a duplicate's upload must not replace the first's
            input_key = f"inputs/{new_job_id()}.{EXTENSIONS[image.mime_type]}"
            self.media.put(input_key, image.data, image.mime_type)
        job = Job(
            id=job_id,
            owner=caller.key,
            tier=caller.tier,
            priority=caller.priority,
            mode=mode,
            params=params,
            created_at=now,
            input_key=input_key,
            idempotency_key=idempotency_key,
            expire_at=now + self.retention_seconds,
        )
        stored, created = self.store.create(job)
        for _ in range(8):  # an identical submit after a failure is a retry: a new job
            if created or not derived or stored.status not in (JobStatus.FAILED, JobStatus.CANCELED):
                break
            job = job.evolve(id=derived_job_id(self.dedupe_secret, f"retry|{stored.id}"))
            stored, created = self.store.create(job)
        if not created:
            if input_key:
                self.media.delete(input_key)
        else:
            self.notify(stored)
        view = self.view(stored)
        return (
            JobAccepted(
                job_id=stored.id,
                status=view.status,
                position=view.position,
                eta_seconds=view.eta_seconds,
                links=view.links,
            ),
            created,
        )

    def _visible(self, caller: Caller, job_id: str) -> Job:
        job = self.store.get(job_id)
        # Anonymous jobs: the unguessable id is the capability. Users' jobs: only their owner.
        if job is None or (job.owner.startswith("user:") and not caller.owns(job.owner)):
            raise errors.NotFound("No job with this id.")
        return job

    def get(self, caller: Caller, job_id: str) -> JobView:
        return self.view(self._visible(caller, job_id))

    def cancel(self, caller: Caller, job_id: str) -> JobView:
        job = self._visible(caller, job_id)
        if job.status.terminal:
            raise errors.Conflict(f"The job is already {job.status.value}.")
        canceled = self.store.cancel(job_id, self.clock.now())
        assert canceled is not None
        return self.view(canceled)

    def list(self, caller: Caller, limit: int = 50) -> list[JobView]:
        return [self.view(job) for job in self.store.list_for_owner(caller.key, limit)]

    def view(self, job: Job) -> JobView:
        now = self.clock.now()
        position = eta_seconds = poll = None
        if job.status is JobStatus.QUEUED:
            position = self.store.position(job)
            eta_seconds = eta.queued_eta(position, self.durations.average(job.mode), self.concurrency)
        elif job.status is JobStatus.RUNNING and job.started_at is not None:
            eta_seconds = eta.running_eta(job.started_at, now, self.durations.average(job.mode))
        if eta_seconds is not None:
            poll = eta.poll_after(eta_seconds)
        result = None
        if job.result is not None:
            data = dict(job.result)
            key = data.pop("key", None)
            result = JobResult(url=self.media.url(key, now) if key else None, **data)
        return JobView(
            job_id=job.id,
            mode=job.mode,
            status=job.status,
            position=position,
            eta_seconds=eta_seconds,
            poll_after_seconds=poll,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            attempts=job.attempts,
            provider=job.provider,
            result=result,
            error=JobError(**job.error) if job.error else None,
            links=links(job.id),
        )
