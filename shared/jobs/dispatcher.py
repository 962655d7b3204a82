"""Dispatch: who runs queued jobs.

``InProcessDispatcher`` is the embedded default: a claim loop plus a bounded worker pool in
the server process. In production the worker is its own function driven by Cloud Tasks
(``shared.jobs.cloudtasks.CloudTasksDispatcher`` enqueues each job);
``NullDispatcher`` leaves queued jobs for such an external driver.
"""

from __future__ import annotations

import heapq
import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from shared.clock import Clock
from shared.jobs.runner import JobRunner, LeaseKeeper
from shared.stores.base import Job, JobStore

log = logging.getLogger("gateway.dispatch")
MAX_IDLE_POLL = 10.0  # seconds between store polls of an empty queue, at most


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher(Protocol):
    def notify(self, job: Job) -> None: ...

    def wake(self) -> None:
        """A request arrived: leave hibernation (if in it) and count as activity."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class NullDispatcher:
    def notify(self, job: Job) -> None:
        pass

    def wake(self) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class InProcessDispatcher:
    def __init__(
        self,
        store: JobStore,
        runner: JobRunner,
        leases: LeaseKeeper,
        clock: Clock,
        concurrency: int,
        lease_seconds: float,
        max_attempts: int,
        poll_seconds: float,
        hibernate_after: float = 900.0,
    ) -> None:
        self.store = store
        self.runner = runner
        self.leases = leases
        self.clock = clock
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.worker = worker_id()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._last_sweep = 0.0
        self.hibernate_after = hibernate_after
        self._last_activity = clock.now()
        self.hibernating = threading.Event()
        self._due: list[float] = []  # a heap: the not_before of jobs deferred here (rate limits)
        runner.on_deferred = self.notify

    def notify(self, job: Job) -> None:
        self._last_activity = self.clock.now()
        if job.not_before is not None:  # deferred: claim again from then on
            with self._lock:
                heapq.heappush(self._due, job.not_before)
        self._wake.set()

    def _delay(self, misses: int) -> float:
        """How long the loop waits before the next claim: an empty queue is polled less and less
        often (a store read each time; on Firestore a billed one), but never past a deferred job's time."""
        delay = min(self.poll_seconds * 2 ** min(misses, 8), MAX_IDLE_POLL)
        now = self.clock.now()
        with self._lock:
            if self._due and self._due[0] <= now:  # due: claim now
                while self._due and self._due[0] <= now:
                    heapq.heappop(self._due)
                return 0.0
            return min(delay, self._due[0] - now) if self._due else delay

    def wake(self) -> None:
        self._last_activity = self.clock.now()
        if self.hibernating.is_set():
            self._wake.set()

    def _idle(self) -> bool:
        quiet = self.clock.now() - self._last_activity > self.hibernate_after
        return quiet and not self.leases.held() and not self._due  # a deferred job keeps it awake

    def start(self) -> None:
        if self._thread is not None:
            return
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="job-worker")
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._thread.start()

    def _sweep(self) -> None:
        now = self.clock.now()
        if now - self._last_sweep >= self.lease_seconds / 2:
            self._last_sweep = now
            moved = self.store.requeue_expired(now, self.max_attempts)
            if moved:
                log.info("expired leases swept", extra={"fields": {"jobs": moved}})

    def _loop(self) -> None:
        misses = 0
        while not self._stopping.is_set():
            if self._idle():
                # Hibernate: no timers, no store polling, until a request wakes us.
                self.hibernating.set()
                log.info("hibernating until the next request")
                self._wake.wait()
                self._wake.clear()
                self.hibernating.clear()
                continue
            found = True
            try:
                self._sweep()
                found = self._fill()
            except Exception:
                log.exception("dispatch loop error")
            misses = 0 if found else misses + 1  # a submit here wakes the loop at once
            self._wake.wait(self._delay(misses))
            self._wake.clear()

    def _fill(self) -> bool:
        """Claim queued jobs while there are free slots; False when the queue was empty."""
        assert self._pool is not None
        while not self._stopping.is_set() and self._slots.acquire(blocking=False):
            try:
                job = self.store.claim_next(self.worker, self.clock.now(), self.lease_seconds)
            except BaseException:
                self._slots.release()  # a store that failed (down, locked) must not keep the slot for good
                raise
            if job is None:
                self._slots.release()
                return False
            self.leases.hold(job.id, self.worker)
            self._pool.submit(self._run, job)
        return True

    def _run(self, job: Job) -> None:
        try:
            if not self._stopping.is_set():
                self.runner.run(job, self.worker)
        except Exception:
            log.exception("worker error", extra={"fields": {"job_id": job.id}})
        finally:
            self._slots.release()
            self._wake.set()

    def stop(self) -> None:
        """Graceful: stop claiming, hand running jobs back to the queue, let threads go."""
        self._stopping.set()
        self._wake.set()
        for job_id, worker in self.leases.held().items():
            if worker == self.worker and self.store.release(job_id, worker):
                log.info("job released on shutdown", extra={"fields": {"job_id": job_id}})
            self.leases.drop(job_id)
        self.leases.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._thread is not None:
            self._thread.join(timeout=2)
