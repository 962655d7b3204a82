"""Managed exports of the Firestore database to a bucket (the Firestore Admin API).

An export is a long-running operation that Firestore runs on its own: this starts it and returns
its name at once. It writes the durable collections below under ``BACKUP_BUCKET/<UTC time>/``;
``gcloud firestore import gs://BUCKET/PREFIX/<time>`` puts them back (README "Backup and restore").
Exports are billed as one document read per exported document. The emulator cannot export.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# What a restore needs: jobs (the usage records), idempotency markers, users, their keys, budgets.
# Limiter, abuse, cache and breaker state is transient and rebuilds itself. Add new durable
# collections here.
DURABLE_COLLECTIONS = (
    "jobs", "idempotency", "users", "user_keys", "budgets", "subscriptions", "payment_events", "api_keys"
)


@dataclass(frozen=True)
class ExportStarted:
    operation: str  # the long-running operation's name (gcloud firestore operations describe NAME)
    output_uri: str  # where the export is written


def _admin_client() -> Any:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient

    return FirestoreAdminClient()


def _ambient_project() -> str:
    import google.auth

    project = google.auth.default()[1]
    if not project:
        raise RuntimeError("FIRESTORE_PROJECT is not set and the environment names no project")
    return str(project)


class FirestoreExporter:
    def __init__(
        self,
        bucket: str,
        project: str | None,
        database: str = "(default)",
        prefix: str = "",
        client: Callable[[], Any] = _admin_client,  # tests hand in a client of their own
    ) -> None:
        if not bucket.startswith("gs://"):
            raise ValueError("BACKUP_BUCKET must be gs://BUCKET[/PREFIX]")
        self.bucket = bucket.rstrip("/")
        self.project = project
        self.database = database
        self.prefix = prefix
        self._client = client

    def request(self, now: float) -> dict[str, Any]:
        """The ``ExportDocumentsRequest`` an export at ``now`` sends."""
        project = self.project or _ambient_project()
        return {
            "name": f"projects/{project}/databases/{self.database}",
            "collection_ids": [self.prefix + name for name in DURABLE_COLLECTIONS],
            "output_uri_prefix": f"{self.bucket}/{time.strftime('%Y-%m-%dT%H%M%SZ', time.gmtime(now))}",
        }

    def export(self, now: float) -> ExportStarted:
        request = self.request(now)
        operation = self._client().export_documents(request=request)
        return ExportStarted(operation.operation.name, request["output_uri_prefix"])
