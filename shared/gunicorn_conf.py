"""gunicorn's settings for the container backend (``gunicorn --config python:shared.gunicorn_conf``).

One worker process with threads fits a free host's 256-512 MB (the in-process dispatcher runs
``WORKER_CONCURRENCY`` jobs beside the requests); ``GUNICORN_CMD_ARGS`` overrides any of these
(e.g. ``--workers=2`` on a bigger machine). No ``bind``: gunicorn binds ``0.0.0.0:$PORT`` when
``PORT`` is set, which every container host does.
"""

from __future__ import annotations

import logging
import os
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
