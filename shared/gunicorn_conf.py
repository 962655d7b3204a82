"""gunicorn's settings for the container backend (``gunicorn --config python:shared.gunicorn_conf``).

One worker process with threads fits a free host's 256-512 MB (the in-process dispatcher runs
``WORKER_CONCURRENCY`` jobs beside the requests); ``GUNICORN_CMD_ARGS`` overrides any of these
(e.g. ``--workers=2`` on a bigger machine). No ``bind``: gunicorn binds ``0.0.0.0:$PORT`` when
``PORT`` is set, which every container host does.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

workers = 1
threads = 8
worker_class = "gthread"
timeout = 120  # a worker that stops heartbeating this long is replaced (requests run in threads)
graceful_timeout = 25  # SIGTERM: finish answering for this long (hosts wait 30 s before SIGKILL)
keepalive = 5
accesslog = None  # the app logs every request itself (JSON, request id)
errorlog = "-"


def worker_exit(server: Any, worker: Any) -> None:
    """A worker stops (SIGTERM, a restart): its running jobs go back to the queue, then it leaves at
    once instead of waiting for provider calls whose jobs were handed back (as ``make dev`` does)."""
    from shared import wiring

    wiring.reset()
    logging.shutdown()
    os._exit(0)


def on_starting(server: Any) -> None:
    credentials_from_env()


def credentials_from_env() -> None:
    """Hosts without secret files (Railway): the service account key's JSON in the secret variable
    ``GOOGLE_CREDENTIALS_JSON`` is written to a file only this user can read, and
    ``GOOGLE_APPLICATION_CREDENTIALS`` points the Google client libraries at it (the workers inherit it)."""
    content = os.environ.get("GOOGLE_CREDENTIALS_JSON", "").strip()
    if not content or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return
    handle, path = tempfile.mkstemp(prefix="gcp-key-", suffix=".json")  # mode 0600
    with os.fdopen(handle, "w") as file:
        file.write(content)
    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = path
