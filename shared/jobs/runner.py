"""Running one claimed job: call the provider route, store the bytes, record the outcome.

The runner holds a lease while it works; ``LeaseKeeper`` renews every lease this process
holds, so a killed process's jobs expire and go back to the queue.

A job no provider can take *now* for rate reasons (our own throttle, or every route answering
RATE_LIMITED with a known ``retry_after``) is deferred, not failed: it goes back to the queue in
its place until then (``JobStore.defer``), its attempt not counted, its budget reservation
released, the breaker untouched, and the dispatcher is told (``on_deferred``) so it claims it
again then. Only once ``max_defer`` seconds of deferral are spent does it fail (provider_unavailable).
A job whose vendor task was accepted is never deferred (the task is kept and billed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared import errors
from shared.clock import Clock
from shared.domain import ErrorKind, Job, JobStatus, Outcome, ProviderError, UnreadableKey
from shared.failures import job_error, provider_failure, unreadable_key
from shared.media import EXTENSIONS, MediaStore
from shared.providers.base import GenerationRequest, JobContext, MediaOutput
from shared.providers.router import ProviderRouter, Served
from shared.stores.base import JobStore, UserKeyStore

if TYPE_CHECKING:
    from shared.services.analytics import AnalyticsService
    from shared.services.budget import BudgetService

log = logging.getLogger("gateway.jobs")
MIN_DEFER = 1.0  # seconds a deferred job waits at least (a rate limit without a useful retry_after)


class LeaseKeeper:
    """Renews the leases of the jobs this process is running, on one background thread.

    The thread wakes every third of a lease and renews only leases at least that old, so a
    short job is never renewed and a long one costs one write per third of a lease.
    """

    def __init__(self, store: JobStore, clock: Clock, lease_seconds: float) -> None:
        self.store = store
        self.clock = clock
        self.lease_seconds = lease_seconds
        self._held: dict[str, str] = {}
        self._renewed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, job_id: str, worker: str) -> None:
        with self._lock:
            self._held[job_id] = worker
            self._renewed.setdefault(job_id, self.clock.now())
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)
                self._thread.start()

    def drop(self, job_id: str) -> None:
        with self._lock:
            self._held.pop(job_id, None)
            self._renewed.pop(job_id, None)

    def held(self) -> dict[str, str]:
        with self._lock:
            return dict(self._held)

    def renew_all(self) -> None:
        for job_id, worker in self.held().items():
            now = self.clock.now()
            with self._lock:
                fresh = now - self._renewed.get(job_id, now) < self.lease_seconds / 3
            if fresh:
                continue
            if self.store.renew(job_id, worker, now, self.lease_seconds):
                with self._lock:
                    if job_id in self._renewed:
                        self._renewed[job_id] = now
            else:
                self.drop(job_id)  # canceled or taken over: stop renewing

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            with self._lock:
                if not self._held:
                    self._thread = None
                    return
            try:
                self.renew_all()
            except Exception:
                log.exception("lease renewal failed")

    def stop(self) -> None:
        self._stop.set()


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        media: MediaStore,
        router: ProviderRouter,
        clock: Clock,
        leases: LeaseKeeper,
        user_keys: UserKeyStore | None = None,
        budget: BudgetService | None = None,
        analytics: AnalyticsService | None = None,
        max_defer: float = 600.0,
    ) -> None:
        self.max_defer = max_defer  # seconds a job may spend deferred for rate limits, in all (then it fails)
        self.on_deferred: Callable[[Job], None] | None = None  # the dispatcher's notify (set by it)
        self.budget = budget  # the spend guard: paid providers only under a reservation
        self.analytics = analytics  # one counter write per finished job (README "Analytics")
        self._failed_at: dict[str, str | None] = {}  # job id -> the provider that failed it (analytics)
        self.store = store
        self.media = media
        self.router = router
        self.clock = clock
        self.leases = leases
        self.user_keys = user_keys

    def _owner_keys(self, job: Job) -> dict[str, str]:
        """The job owner's own provider keys (one store read; none for anonymous callers)."""
        if self.user_keys is None or not job.owner.startswith("user:"):
            return {}
        return self.user_keys.keys_for(job.owner.removeprefix("user:"))

    def _request(self, job: Job) -> GenerationRequest:
        params = job.params
        image = self.media.read(job.input_key) if job.input_key else None
        if job.input_key and image is None:
            raise ProviderError(ErrorKind.BAD_REQUEST, "The uploaded image is no longer available.")
        return GenerationRequest(
            mode=job.mode,
            prompt=params["prompt"],
            negative_prompt=params.get("negative_prompt"),
            aspect_ratio=params.get("aspect_ratio", "1:1"),
            seed=int(params.get("seed", 0)),
            strength=float(params.get("strength", 0.5)),
            duration_seconds=float(params.get("duration_seconds", 2.0)),
            image=image,
            image_mime=None,
        )

    def run(self, job: Job, worker: str) -> Outcome:
        """Run a job ``worker`` has claimed. Returns the outcome it recorded (or tried to)."""
        self.leases.hold(job.id, worker)
        try:
            outcome = self._produce(job, worker)
            failed_at = self._failed_at.pop(job.id, None)
            if outcome.status is JobStatus.QUEUED:  # deferred until outcome.finished_at
                self._defer(job, worker, outcome.finished_at)
            elif not self.store.finish(job.id, worker, outcome):
                log.info("job was canceled or reclaimed; result discarded", extra={"fields": {"job_id": job.id}})
                if outcome.result and outcome.result.get("key"):
                    self.media.delete(outcome.result["key"])
            elif self.analytics is not None:
                self.analytics.job_finished(job, outcome, failed_at)
            return outcome
        finally:
            self.leases.drop(job.id)

    def _defer(self, job: Job, worker: str, not_before: float) -> None:
        now = self.clock.now()
        fields = {"job_id": job.id, "not_before": not_before, "deferred": job.deferred + not_before - now}
        if not self.store.defer(job, worker, now, not_before):
            log.info("job was canceled or reclaimed; not deferred", extra={"fields": {"job_id": job.id}})
            return
        log.info("job deferred for rate limits", extra={"fields": fields})
        if self.on_deferred is not None:
            back = job.evolve(status=JobStatus.QUEUED, not_before=not_before, attempts=max(job.attempts - 1, 0))
            self.on_deferred(back.evolve(lease_owner=None, lease_expires_at=None, started_at=None, budget=None))

    def _deferral(self, job: Job, exc: ProviderError, accepted: bool) -> Outcome | None:
        """A rate limit with a known end, before any vendor accepted a task: wait for it queued
        (an outcome with status QUEUED until then), while the job's deferral budget lasts."""
        if exc.kind is not ErrorKind.RATE_LIMITED or exc.retry_after is None or exc.user_key or accepted:
            return None
        wait = max(float(exc.retry_after), MIN_DEFER)
        if job.deferred + wait > self.max_defer:
            return None
        return Outcome(JobStatus.QUEUED, self.clock.now() + wait)

    def _produce(self, job: Job, worker: str) -> Outcome:
        accepted = [job.vendor_task_id] if job.vendor_task_id else []

        def save_task(provider: str, task_id: str) -> None:
            accepted.append(task_id)
            self.store.set_vendor_task(job.id, worker, task_id, provider)

        context = JobContext(self.clock.sleep, job.provider, job.vendor_task_id, save_task)
        gate = self.budget.job_gate(job) if self.budget is not None else None
        billed: tuple[str | None, float | None] = (None, 0.0)  # who served, at what cost (None: unknown, maybe all)
        try:
            keys = self._owner_keys(job)
            request = self._request(job)
            billed = (None, None)
            served, output = self.router.generate(request, context, job.params.get("provider"), keys, allow=gate)
            billed = (served.provider, None)  # the vendor answered: if storing fails now, it was billed anyway
            outcome = self._store_output(job, served, output)
            billed = (served.provider, outcome.cost_units)
            return outcome
        except UnreadableKey as exc:
            billed = (None, 0.0)
            return self._failed(unreadable_key(exc))
        except ProviderError as exc:
            self._failed_at[job.id] = exc.provider
            billed = (exc.provider, None) if exc.kind is ErrorKind.BAD_OUTPUT else (None, 0.0)
            fields = {"job_id": job.id, "kind": exc.kind.value, "provider": exc.provider, "user_key": exc.user_key}
            deferred = self._deferral(job, exc, bool(accepted))
            if deferred is not None:
                return deferred
            log.warning("job failed", extra={"fields": fields})
            if gate is not None and gate.over_budget(exc):
                return self._failed(gate.exhausted())
            return self._failed(provider_failure(exc))
        except Exception:
            log.exception("job crashed", extra={"fields": {"job_id": job.id}})
            return self._failed(errors.AppError("The generation failed on our side."))
        finally:
            if gate is not None:
                gate.settle(*billed)

    def _failed(self, error: errors.AppError) -> Outcome:
        return Outcome(JobStatus.FAILED, self.clock.now(), error=job_error(error))

    def _store_output(self, job: Job, served: Served, output: MediaOutput) -> Outcome:
        extension = EXTENSIONS.get(output.mime_type)
        if extension is None:  # the router checks outputs; never store a type we cannot serve
            raise ProviderError(ErrorKind.BAD_OUTPUT, "The provider's result has an unexpected type.")
        key = f"outputs/{job.id}.{extension}"
        with output.open() as body:  # a downloaded result is streamed from its temporary file, then deleted
            self.media.put(key, body, output.mime_type)
        result: dict[str, Any] = {"key": key, "mime_type": output.mime_type}
        for name in ("width", "height", "seconds", "frames", "seed"):
            if name in output.meta:
                result[name] = output.meta[name]
        units = output.meta.get("seconds", 1.0) if job.mode.is_video else 1.0
        return Outcome(
            JobStatus.SUCCEEDED,
            self.clock.now(),
            result=result,
            provider=served.provider,
            model=served.model,
            cost_units=float(units) * served.unit_price,
        )
