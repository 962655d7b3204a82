"""The jobs use cases: submit, view, list, cancel, run a claimed job, re-dispatch.

The HTTP functions call these and nothing below them; answers are domain objects
(``JobSnapshot``) that ``shared.api`` turns into pydantic answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import errors
from shared.clock import Clock
from shared.domain import DEFAULT_AGING_SECONDS, Caller, Job, JobSnapshot, JobStatus, Mode, queue_rank
from shared.jobs import eta
from shared.jobs.sweep import SweepReport, redispatch
from shared.media import EXTENSIONS, MediaStore
from shared.stores.base import JobStore

if TYPE_CHECKING:
    from shared.budget.lines import Reservation
    from shared.imaging import CheckedImage
    from shared.jobs.dispatcher import Dispatcher
    from shared.jobs.runner import JobRunner
    from shared.services.budget import BudgetService


REQUEST_HASH = "request_sha256"  # kept in the params of a job submitted with an Idempotency-Key
WAIT_FIRST_POLL, WAIT_MAX_POLL = 0.2, 2.0  # seconds between store reads while a caller waits


def new_job_id() -> str:
    """Unguessable: the id is the capability to an anonymous caller's job."""
    return secrets.token_urlsafe(18)


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


@dataclass(frozen=True)
class JobPolicy:
    """How jobs are kept and run: the settings the jobs use cases need."""

    concurrency: int = 4
    lease_seconds: float = 30.0
    max_attempts: int = 3
    retention_seconds: float = 30 * 86400
    eta_window: int = 20
    eta_cache_seconds: float = 15.0
    dedupe_seconds: float = 0.0
    redispatch_after_seconds: float = 120.0
    aging_seconds: float = DEFAULT_AGING_SECONDS  # queue rank = submit time + priority x this


class JobService:
    def __init__(
        self,
        store: JobStore,
        media: MediaStore,
        clock: Clock,
        dispatcher: Dispatcher,
        runner: JobRunner,
        policy: JobPolicy,
        dedupe_secret: bytes,
        budget: BudgetService | None = None,
    ) -> None:
        self.budget = budget  # the spend guard (None: no budgets)
        self.store = store
        self.media = media
        self.clock = clock
        self.dispatcher = dispatcher
        self.runner = runner
        self.policy = policy
        self.dedupe_secret = dedupe_secret
        runner.on_deferred = dispatcher.notify  # a job deferred for rate limits is dispatched again for then
        self.durations = eta.DurationCache(
            lambda mode: store.recent_durations(mode, policy.eta_window), clock.now, policy.eta_cache_seconds
        )

    def submit(
        self,
        caller: Caller,
        mode: Mode,
        params: dict[str, Any],
        image: CheckedImage | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[JobSnapshot, bool]:
        """Queue a job (``True``), or return the job an identical submit already made (``False``)."""
        now = self.clock.now()
        params = dict(params)
        job_id = new_job_id()
        data = image.data if image is not None else None
        derived = idempotency_key is None and self.policy.dedupe_seconds > 0
        if derived:
            key = dedupe_key(caller.key, mode, params, data, now, self.policy.dedupe_seconds)
            job_id = derived_job_id(self.dedupe_secret, key)
        if idempotency_key is not None:  # what the key stands for: the same key with another request is refused
            params[REQUEST_HASH] = dedupe_key(caller.key, mode, params, data, 0.0, 1.0)
        params.setdefault("seed", secrets.randbelow(2**31))
        reservation = self._reserve(caller, mode, params, job_id if derived else None)
        try:
            input_key = self._upload(image)
            job = Job(
                id=job_id,
                owner=caller.key,
                tier=caller.tier,
                priority=caller.priority,
                rank=queue_rank(now, caller.priority, self.policy.aging_seconds),
                mode=mode,
                params=params,
                created_at=now,
                input_key=input_key,
                idempotency_key=idempotency_key,
                expire_at=now + self.policy.retention_seconds,
                budget=reservation.as_dict() if reservation is not None else None,
            )
            stored, created = self._create(job, derived)
        except BaseException:
            self._release(reservation)
            raise
        if not created:
            self._release(reservation)  # an identical submit's job holds its own
        return self._accepted(stored, created, params, idempotency_key, input_key)

    def _reserve(
        self, caller: Caller, mode: Mode, params: dict[str, Any], derived_id: str | None
    ) -> Reservation | None:
        """The spend guard's reservation of the job about to be accepted; ``BudgetExhausted`` when
        nothing fits, unless an identical submit made the job already (it is answered as usual)."""
        if self.budget is None:
            return None
        try:
            return self.budget.reserve_job(caller, mode, params)
        except errors.BudgetExhausted:
            existing = self.store.get(derived_id) if derived_id is not None else None
            if existing is None or existing.status in (JobStatus.FAILED, JobStatus.CANCELED):
                raise
            return None  # and should it be gone meanwhile, the runner reserves before any paid call

    def _upload(self, image: CheckedImage | None) -> str | None:
        if image is None:
            return None
        input_key = f"inputs/{new_job_id()}.{EXTENSIONS[image.mime_type]}"  # its own name: a duplicate's
        self.media.put(input_key, image.data, image.mime_type)  # upload must not replace the first's
        return input_key

    def _release(self, reservation: Reservation | None) -> None:
        if self.budget is not None:
            self.budget.release(reservation)

    def _accepted(
        self, stored: Job, created: bool, params: dict[str, Any], idempotency_key: str | None, input_key: str | None
    ) -> tuple[JobSnapshot, bool]:
        if not created and idempotency_key is not None and stored.params.get(REQUEST_HASH) != params[REQUEST_HASH]:
            if input_key:
                self.media.delete(input_key)
            raise errors.IdempotencyKeyReused()
        if not created:
            if input_key:
                self.media.delete(input_key)
        else:
            self.dispatcher.notify(stored)
        return self.snapshot(stored), created

    def _create(self, job: Job, derived: bool) -> tuple[Job, bool]:
        stored, created = self.store.create(job)
        for _ in range(8):  # an identical submit after a failure is a retry: a new job
            if created or not derived or stored.status not in (JobStatus.FAILED, JobStatus.CANCELED):
                break
            job = job.evolve(id=derived_job_id(self.dedupe_secret, f"retry|{stored.id}"))
            stored, created = self.store.create(job)
        return stored, created

    def _visible(self, caller: Caller, job_id: str) -> Job:
        job = self.store.get(job_id)
        # Anonymous jobs (Firebase anonymous accounts' too): the unguessable id is the capability.
        # Signed-in users' jobs: only their owner.
        private = job is not None and job.owner.startswith("user:") and job.tier != "anonymous"
        if job is None or (private and not caller.owns(job.owner)):
            raise errors.NotFound("No job with this id.")
        return job

    def get(self, caller: Caller, job_id: str) -> JobSnapshot:
        return self.snapshot(self._visible(caller, job_id))

    def cancel(self, caller: Caller, job_id: str) -> JobSnapshot:
        job = self._visible(caller, job_id)
        if not caller.owns(job.owner):  # the id lets anyone view a job; only its owner cancels it
            raise errors.Forbidden("Only the browser or account that submitted this job can cancel it.")
        if job.status.terminal:
            raise errors.Conflict(f"The job is already {job.status.value}.")
        canceled = self.store.cancel(job_id, self.clock.now())
        assert canceled is not None
        if self.budget is not None and canceled.budget and canceled.attempts == 0:
            self.budget.release(self.store.take_budget(job_id))  # never started: nothing was billed
        return self.snapshot(canceled)

    def list(self, caller: Caller, limit: int = 50) -> list[JobSnapshot]:
        """The caller's own jobs: a user's, or one anonymous browser's (never an address's)."""
        return [self.snapshot(job) for job in self.store.list_for_owner(caller.key, limit)]

    def snapshot(self, job: Job) -> JobSnapshot:
        now = self.clock.now()
        position = self.store.position(job) if job.status is JobStatus.QUEUED else None
        eta_seconds = self.durations.eta(job, position, now, self.policy.concurrency)
        poll = eta.poll_after(eta_seconds) if eta_seconds is not None else None
        key = (job.result or {}).get("key")
        url = self.media.url(key, now) if key else None
        return JobSnapshot(job, position, eta_seconds, poll, url)

    def run_claimed(self, job_id: str, worker: str) -> Job | None:
        """Run the best queued job for ``worker``: a task is a token, not an order (the dispatcher's target).

        Each accepted job puts one token (a Cloud Tasks task named after it) in the queue, and each
        token runs the queued job of lowest rank, whatever job it was named after: so the queue's
        order (tier, aging) holds however tasks arrive, and the named job runs on a later token.
        The store's claim is atomic, so each job runs once however often a task is delivered.
        Returns the job this token ran, as it stands afterwards; with nothing to run, the named
        job as it stands (None for an unknown id).
        """
        now = self.clock.now()
        lease, attempts = self.policy.lease_seconds, self.policy.max_attempts
        job = self.store.claim_next(worker, now, lease)
        if job is None and self.store.requeue_expired(now, attempts):
            # A retried task whose previous run was killed finds that job behind an expired
            # lease: it is back in the queue now (or failed past MAX_ATTEMPTS).
            job = self.store.claim_next(worker, now, lease)
        if job is None:
            return self.store.get(job_id)
        outcome = self.runner.run(job, worker)
        if outcome.status is JobStatus.QUEUED:  # deferred for rate limits until finished_at
            return job.evolve(status=JobStatus.QUEUED, not_before=outcome.finished_at, lease_owner=None)
        return job.evolve(status=outcome.status, finished_at=outcome.finished_at)

    def redispatch(self) -> SweepReport:
        """Requeue expired leases, then dispatch again the jobs queued for too long."""
        return redispatch(
            self.store,
            self.dispatcher,
            self.clock.now(),
            older_than=self.policy.redispatch_after_seconds,
            max_attempts=self.policy.max_attempts,
        )

    def wait(self, caller: Caller, job_id: str, timeout: float) -> JobSnapshot:
        """The job once it has finished, or as it stands after ``timeout`` seconds (for callers that
        must answer synchronously). Polls the store with the injected clock, backing off: one
        read at 0.2 s, 0.5 s, 0.95 s, ... then every 2 s."""
        deadline = self.clock.now() + timeout
        delay = WAIT_FIRST_POLL
        while True:
            job = self._visible(caller, job_id)
            now = self.clock.now()
            if job.status.terminal or now >= deadline:
                return self.snapshot(job)
            self.clock.sleep(min(delay, deadline - now))
            delay = min(delay * 1.5, WAIT_MAX_POLL)

    def result_data(self, snapshot: JobSnapshot) -> tuple[bytes, str]:
        """The bytes and media type of a succeeded job's result."""
        result = snapshot.job.result or {}
        data = self.media.read(result["key"]) if result.get("key") else None
        if data is None:
            raise errors.NotFound("This job's result no longer exists.")
        return data, str(result.get("mime_type", "application/octet-stream"))
