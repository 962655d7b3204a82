"""The domain: what a job, a caller and a provider failure are, independent of HTTP and storage.

Stores, providers and services import these types; ``shared.models`` (the HTTP edge) converts
them into answers. Nothing here imports another module of the project.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    TEXT = "text"

    @property
    def needs_image(self) -> bool:
        return self in (Mode.IMAGE_TO_IMAGE, Mode.IMAGE_TO_VIDEO)

    @property
    def is_video(self) -> bool:
        return self in (Mode.TEXT_TO_VIDEO, Mode.IMAGE_TO_VIDEO)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


DEFAULT_AGING_SECONDS = 60.0  # QUEUE_AGING_SECONDS' default; also the rank of jobs stored without one


def queue_rank(created_at: float, priority: int, aging_seconds: float) -> float:
    """Where a job stands in the queue: lower runs first. Each priority step (donor 1, registered 2,
    anonymous 3) is worth ``aging_seconds`` of waiting, so a job is never overtaken by a job of a
    better tier submitted more than (its priority - 1) x ``aging_seconds`` after it: no tier starves."""
    return created_at + priority * aging_seconds


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    tier: str
    priority: int
    mode: Mode
    params: dict[str, Any]
    created_at: float
    status: JobStatus = JobStatus.QUEUED
    input_key: str | None = None
    idempotency_key: str | None = None
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    provider: str | None = None
    model: str | None = None
    vendor_task_id: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    cost_units: float = 0.0
    expire_at: float | None = None
    budget: dict[str, Any] | None = None  # the spend reservation made at submit (shared.budget.Reservation)
    rank: float | None = None  # queue order, fixed at submit (``queue_rank``); None: with the default aging
    not_before: float | None = None  # deferred (rate limits): still queued, not claimed before this
    deferred: float = 0.0  # seconds of deferral granted so far (bounded by PROVIDER_MAX_DEFER_SECONDS)

    def __post_init__(self) -> None:
        if self.rank is None:  # frozen: set once, here
            object.__setattr__(self, "rank", queue_rank(self.created_at, self.priority, DEFAULT_AGING_SECONDS))

    @property
    def ordering_rank(self) -> float:
        """The rank the stores order the queue by (never None)."""
        assert self.rank is not None
        return self.rank

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(self.finished_at - self.started_at, 0.0)

    def evolve(self, **changes: Any) -> Job:
        return replace(self, **changes)


@dataclass(frozen=True)
class Outcome:
    """What a worker reports when it is done with a job it holds."""

    status: JobStatus
    finished_at: float
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    provider: str | None = None
    model: str | None = None
    cost_units: float = 0.0


@dataclass(frozen=True)
class JobSnapshot:
    """A job as its caller sees it now: queue position, ETA, and a fresh URL for its result."""

    job: Job
    position: int | None = None
    eta_seconds: float | None = None
    poll_after_seconds: float | None = None
    result_url: str | None = None


TIER_PRIORITY = {"donor": 1, "registered": 2, "anonymous": 3}


@dataclass(frozen=True)
class Identity:
    """Who a verified Firebase token (ID token or session cookie) says the caller is.

    ``tier`` and ``admin`` come from the token's custom claims (the tier is mirrored there from the
    user record, which stays the source of truth); ``anonymous`` = Firebase anonymous sign-in;
    ``issued_at`` = when the token (or session cookie) was issued, in seconds.
    """

    user_id: str
    tier: str = "registered"
    admin: bool = False
    anonymous: bool = False
    email: str | None = None
    issued_at: float = 0.0


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``key`` owns jobs; ``ip`` (the network address) keys anonymous limits."""

    key: str
    tier: str
    ip: str
    user_id: str | None = None
    limit_override: int | None = None
    text_limit_override: int | None = None
    budget_override: float | None = None  # the user's own monthly spend cap, from the user record
    admin: bool = False  # the ``admin`` custom claim (shared.services.auth.require_admin)

    @property
    def priority(self) -> int:
        return TIER_PRIORITY.get(self.tier, 3)

    def owns(self, owner: str) -> bool:
        return owner == self.key


@dataclass(frozen=True)
class ChatTurn:
    """One message of a conversation sent to a text provider."""

    role: str
    content: str


class ErrorKind(StrEnum):
    """What went wrong at a provider, in our terms."""

    MODERATION = "moderation"
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    QUOTA = "quota"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    BAD_OUTPUT = "bad_output"  # the provider answered, but not with the media it claimed

    @property
    def fails_over(self) -> bool:
        """Whether trying another provider (or key) can help."""
        return self in (ErrorKind.QUOTA, ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE, ErrorKind.AUTH)


class ProviderError(Exception):
    """A vendor answer mapped to one kind. ``message`` is ours, never the vendor's raw text."""

    def __init__(self, kind: ErrorKind, message: str, *, retry_after: float | None = None, provider: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.provider = provider
        self.user_key = False  # set by the router when the call used the caller's own key (BYOK)


class UnreadableKey(Exception):
    """A stored user key that the configured encryption keys cannot decrypt."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"the stored key for {provider} cannot be decrypted")
        self.provider = provider


class StoreUnavailable(Exception):
    """A store could not be reached in time (down, hung, overloaded): the HTTP edge answers 503.

    Unlike ``Contention``, a write that timed out may still have been applied.
    """

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} did not answer in time")
        self.what = what


class Contention(Exception):
    """A store could not record a change: too many concurrent writers, or a lock held too long.

    Nothing was changed; the caller may try again shortly (the HTTP edge answers 503).
    """

    def __init__(self, what: str) -> None:
        super().__init__(f"too much contention on {what}")
        self.what = what
