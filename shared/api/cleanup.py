"""The cleanup function: the daily run (cleanup, then the backup when one is due), two entry points.

- ``cleanup`` (CloudEvent): Cloud Scheduler publishes to a Pub/Sub topic, the function runs.
  An exception answers 500, so Pub/Sub delivers the message again later (the run is idempotent).
- ``cleanup_task`` (HTTP): ``POST /api/v1/tasks/daily-cleanup`` with ``X-API-Key: $TASK_API_KEY``
  (constant-time compare; refused when the setting is empty). It answers what was deleted.

The admin API (``POST /api/v1/admin/tasks/{name}``) calls the same use cases:
``wiring.services().cleanup.run()`` and ``wiring.services().backup.run(force=True)``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from shared import errors, http, wiring
from shared.api import API_PREFIX
from shared.logging import request_id_var
from shared.ops_models import BackupAnswer, CleanupAnswer, CleanupCounts
from shared.secret_checks import same_secret

log = logging.getLogger("gateway.cleanup")


def require_task_key(call: http.Call) -> None:
    if not same_secret(call.header("X-API-Key"), call.settings.task_api_key):
        raise errors.Unauthorized("A valid X-API-Key is required.")


def daily_run() -> CleanupAnswer:
    """Cleanup, then a backup if none was made in the last 20 hours. A failed backup is logged
    and reported; it does not undo or hide the cleanup."""
    services = wiring.services()
    report = services.cleanup.run()
    try:
        backup = BackupAnswer(**asdict(services.backup.run()))
    except Exception as exc:
        log.exception("backup failed")
        backup = BackupAnswer(kind="failed", reason=type(exc).__name__)
    return CleanupAnswer(
        deleted=CleanupCounts(**report.deleted),
        complete=report.complete,
        stopped_in=report.stopped_in,
        batches=report.batches,
        seconds=report.seconds,
        compacted_bytes=report.compacted_bytes,
        backup=backup,
    )


def _daily_cleanup(call: http.Call) -> http.Reply:
    require_task_key(call)
    return http.Reply(daily_run())


def on_event(event: Any) -> None:
    """A Pub/Sub message (a CloudEvent) starts the daily run; its content is not read."""
    token = request_id_var.set(str(event["id"]))
    try:
        answer = daily_run()
        log.info("daily cleanup", extra={"fields": answer.model_dump(exclude={"backup"})})
    except Exception:
        log.exception("daily cleanup failed; Pub/Sub will deliver the message again")
        raise
    finally:
        request_id_var.reset(token)


api = http.Api(
    "cleanup_task",
    f"{API_PREFIX}/tasks/daily-cleanup",
    [
        http.post(
            "",
            _daily_cleanup,
            answer=CleanupAnswer,
            summary="Delete what is past the retention, then back up (scheduler or admin target)",
            tag="ops",
            errors=(401, 503),
            security=("taskApiKey",),
        )
    ],
    wiring.settings,
)
