"""Answers of the operations tasks (cleanup, backup): pydantic edge models, as in ``shared.models``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.models import Answer


class CleanupCounts(Answer):
    jobs: int = Field(description="jobs (usage records) past the retention")
    media: int = Field(description="their output files")
    inputs: int = Field(description="their uploaded input images")
    idempotency: int = Field(description="idempotency markers")
    limiter: int = Field(description="idle limiter and abuse state")
    cache: int = Field(description="expired response-cache entries")
    pending_subscriptions: int = Field(description="pending subscription requests older than a week")
    orphan_media: int = Field(description="files older than the retention whose job was gone already")
    metrics: int = Field(default=0, description="metrics points past the retention")
    alerts: int = Field(default=0, description="alerts closed before the retention")
    analytics: int = Field(default=0, description="analytics counters and visitor marks of days past the retention")


class BackupAnswer(Answer):
    kind: Literal["sqlite", "firestore_export", "skipped", "failed"]
    name: str | None = Field(default=None, description="the backup (python -m shared.backup restore NAME)")
    bytes: int = 0
    removed: list[str] = Field(default_factory=list, description="older backups deleted (past BACKUP_KEEP)")
    operation: str | None = Field(default=None, description="the Firestore export's long-running operation")
    output_uri: str | None = None
    reason: str | None = None


class CleanupAnswer(Answer):
    deleted: CleanupCounts
    complete: bool = Field(description="false: the run stopped at its budget; the next run resumes")
    stopped_in: str | None = None
    batches: int
    seconds: float
    compacted_bytes: int = Field(description="bytes the SQLite file shrank by after the deletes")
    backup: BackupAnswer | None = None
