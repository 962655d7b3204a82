"""The Firestore managed export: no emulator can run one, so the request is checked on the wire.

The real ``FirestoreAdminClient`` (REST transport) talks to a loopback fake of the Admin API's
``exportDocuments`` method, which records what arrives and answers a long-running operation as
Google does; what it records is exactly what Google would receive.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from shared.services.backup import BackupService
from shared.stores.firestore.export import DURABLE_COLLECTIONS, FirestoreExporter
from tests.fakes.clock import FakeClock

NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


class AdminApiFake:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                path = unquote(urlsplit(self.path).path)
                fake.requests.append(("POST", path, body))
                database = path.split("/v1/", 1)[1].split(":", 1)[0]
                answer = json.dumps(
                    {
                        "name": f"{database}/operations/ASA3NDEwOTg0NjExChp0bHVhZmVkBxJsYXJ0bmVj",
                        "metadata": {
                            "@type": "type.googleapis.com/google.firestore.admin.v1.ExportDocumentsMetadata",
                            "operationState": "PROCESSING",
                            "outputUriPrefix": body.get("outputUriPrefix", ""),
                        },
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.firestore_admin_v1 import FirestoreAdminClient

        return FirestoreAdminClient(
            credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": self.url}
        )


@pytest.fixture
def admin_api() -> Iterator[AdminApiFake]:
    fake = AdminApiFake()
    yield fake
    fake.server.shutdown()


def test_the_export_request_names_the_database_the_collections_and_a_dated_prefix(admin_api):
    exporter = FirestoreExporter(
        "gs://acme-backups/firestore/", "acme-prod", "(default)", prefix="gw_", client=admin_api.client
    )
    started = exporter.export(NOW)
    [(method, path, body)] = admin_api.requests
    assert (method, path) == ("POST", "/v1/projects/acme-prod/databases/(default):exportDocuments")
    assert body == {
        "collectionIds": [f"gw_{name}" for name in DURABLE_COLLECTIONS],
        "outputUriPrefix": "gs://acme-backups/firestore/2027-01-15T080000Z",
    }
    durable = {"jobs", "idempotency", "users", "user_keys", "budgets", "subscriptions", "payment_events", "api_keys"}
    assert set(DURABLE_COLLECTIONS) == durable
    assert started.output_uri == "gs://acme-backups/firestore/2027-01-15T080000Z"
    assert started.operation.startswith("projects/acme-prod/databases/(default)/operations/")


def test_a_named_database_and_the_daily_run(admin_api, tmp_path):
    from shared.stores.factory import open_sqlite

    exporter = FirestoreExporter("gs://b", "p1", "gateway-eu", client=admin_api.client)
    clock = FakeClock(NOW)
    stores = open_sqlite(tmp_path / "cache.sqlite3")  # any CacheStore: it remembers the last export
    service = BackupService(media=None, clock=clock, keep=7, exporter=exporter, cache=stores.cache)  # type: ignore[arg-type]
    first = service.run()
    assert first.kind == "firestore_export" and first.output_uri == "gs://b/2027-01-15T080000Z"
    assert admin_api.requests[0][1] == "/v1/projects/p1/databases/gateway-eu:exportDocuments"
    clock.advance(3600)
    assert service.run().kind == "skipped", "a redelivered message does not export twice"
    assert service.run(force=True).kind == "firestore_export"
    clock.advance(86400)
    assert service.run().kind == "firestore_export"
    assert len(admin_api.requests) == 3
    stores.close()


def test_no_bucket_no_export_and_a_bad_bucket_is_refused():
    from shared.config import Settings

    service = BackupService(media=None, clock=FakeClock(NOW), keep=7)  # type: ignore[arg-type]
    assert service.run().reason == "BACKUP_BUCKET is not set"
    with pytest.raises(ValueError):
        FirestoreExporter("s3://nope", "p")
    with pytest.raises(ValueError):
        Settings(backup_bucket="https://storage.googleapis.com/b")
    assert Settings(backup_bucket="gs://my-bucket/exports").backup_bucket == "gs://my-bucket/exports"
