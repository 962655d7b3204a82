"""The container backend: the WSGI app ``make dev`` serves, for gunicorn (the Dockerfile's command).

    gunicorn --workers=1 --threads=8 shared.wsgi:app     # binds 0.0.0.0:$PORT when PORT is set

Every function at its production path and the site at ``/`` (``shared.devserver.build_app``), with
the dispatcher the settings choose: ``DISPATCHER=inprocess`` runs jobs in this process, claiming
from the same Firestore queue that the functions' Cloud Tasks tokens claim from (a job runs once,
whoever claims it); ``cloudtasks`` enqueues tasks for ``run_job``; ``none`` leaves jobs to the other
backend. Each gunicorn worker process builds its own gateway after the fork (no ``--preload``).
When the host stops the container (SIGTERM), gunicorn stops its workers and each one hands its
running jobs back to the queue on exit.
"""

from __future__ import annotations

import atexit
from typing import Any

from shared import wiring
from shared.devserver import build_app


def create_app() -> Any:
    gw = wiring.gateway()
    application = build_app(on_request=gw.dispatcher.wake)
    gw.dispatcher.start()
    atexit.register(wiring.reset)  # dispatcher.stop(): running jobs go back to the queue
    return application


app = create_app()
