"""The embedded default: every function, the site, and the dispatcher in ONE process.

Each function is a real functions-framework app (as Cloud Functions runs it), mounted at its
production path; the path is passed through whole, as hosting rewrites do. SIGTERM/SIGINT:
stop claiming jobs, hand running jobs back to the queue, stop serving, exit.

Run: ``python -m shared.devserver`` (``make dev`` does it).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask
import functions_framework
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

from shared import errors, http, wiring
from shared.secret_checks import same_secret

ROOT = Path(__file__).resolve().parent.parent


def _mounts() -> dict[str, str]:
    """Each function's path -> its entry point, from the Api every function module declares."""
    import main

    main.entry_points()  # imports every function module, which declares its Api
    return {api.base: api.function for api in http.APIS}


def _event_functions() -> dict[str, str]:
    """Each CloudEvent entry point (``@functions_framework.cloud_event``) -> where the embedded
    server takes Pub/Sub pushes for it (``/_pubsub/<name>``). Production triggers them from a topic."""
    import main

    main.entry_points()
    registry = functions_framework._function_registry.REGISTRY_MAP  # what the decorators registered
    return {f"{PUSH_PREFIX}/{name}": name for name in main.__all__ if registry.get(name) == "cloudevent"}


PUSH_PREFIX = "/_pubsub"
MOUNTS: dict[str, str] = _mounts()
EVENT_MOUNTS: dict[str, str] = _event_functions()
log = logging.getLogger("gateway.devserver")


def _site_app(site_dir: Path) -> flask.Flask:
    app = flask.Flask("site", static_folder=None)
    app.register_error_handler(HTTPException, http.framework_error)

    @app.route("/", defaults={"path": "index.html"})
    @app.route("/<path:path>")
    def site(path: str) -> Any:
        if path.startswith("api/"):
            return http.error_response(errors.NotFound(), "none")
        target = site_dir / path
        if target.is_dir():
            path = f"{path.rstrip('/')}/index.html"
        return flask.send_from_directory(site_dir, path)

    return app


class EnvelopeRequestHandler(WSGIRequestHandler):
    """Errors the HTTP server itself answers (an over-long request line, too many or too large
    headers, a malformed request) come back as the JSON envelope, not the server's HTML page."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        body = json.dumps(
            {
                "success": False,
                "error_type": "bad_request",
                "message": "The request line or its headers could not be read.",
                "retry_after": None,
                "donation_link": None,
                "request_id": uuid.uuid4().hex,
            }
        ).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


class Mounted:
    """WSGI: route by longest path prefix to each function's app, else to the site."""

    def __init__(self, apps: dict[str, Any], fallback: Any, on_request: Callable[[], None] = lambda: None) -> None:
        self.apps = sorted(apps.items(), key=lambda item: len(item[0]), reverse=True)
        self.fallback = fallback
        self.on_request = on_request

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.on_request()
        path = environ.get("PATH_INFO", "")
        for prefix, app in self.apps:
            if path == prefix or path.startswith(prefix + "/"):
                return app(environ, start_response)
        return self.fallback(environ, start_response)


class PushGuard:
    """A Pub/Sub push subscription's endpoint on the embedded server: the push URL carries
    ``?token=$TASK_API_KEY`` (Google's documented way to authenticate plain push endpoints);
    anything else is a 401 before the CloudEvent function sees it. Unset key: every push refused."""

    def __init__(self, app: Any, settings: Callable[[], Any]) -> None:
        self.app = app
        self.settings = settings

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from urllib.parse import parse_qs

        supplied = parse_qs(environ.get("QUERY_STRING", "")).get("token", [""])[0]
        if same_secret(supplied, self.settings().task_api_key):
            return self.app(environ, start_response)
        refusal = http.error_response(errors.Unauthorized("A valid push token is required."), uuid.uuid4().hex)
        return refusal(environ, start_response)


def build_app(site_dir: Path = ROOT / "site", on_request: Callable[[], None] = lambda: None) -> Mounted:
    source = str(ROOT / "main.py")
    apps = {
        prefix: functions_framework.create_app(target=target, source=source, signature_type="http")
        for prefix, target in MOUNTS.items()
    }
    for prefix, target in EVENT_MOUNTS.items():
        event_app = functions_framework.create_app(target=target, source=source, signature_type="cloudevent")
        apps[prefix] = PushGuard(event_app, wiring.settings)
    return Mounted(apps, _site_app(site_dir), on_request)


def serve() -> None:
    gw = wiring.gateway()
    settings = gw.settings
    on_request = gw.dispatcher.wake
    if settings.dispatcher == "inprocess":  # the embedded default schedules its own daily run
        from shared.api.cleanup import daily_run
        from shared.api.metrics import scheduled_run
        from shared.services.daily import DailyRun

        daily = DailyRun(daily_run, gw.clock)
        metrics = DailyRun(scheduled_run, gw.clock, every=settings.metrics.schedule_seconds)  # metrics, alerts
        on_request = lambda: (gw.dispatcher.wake(), daily.poke(), metrics.poke())  # noqa: E731
    app = build_app(on_request=on_request)
    server = make_server(settings.host, settings.port, app, threaded=True, request_handler=EnvelopeRequestHandler)
    gw.dispatcher.start()
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("shutting down", extra={"fields": {"signal": signum}})
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    log.info(
        "AiArt Gateway is listening",
        extra={"fields": {"url": f"http://{settings.host}:{server.port}", "store": settings.store}},
    )
    print(f"AiArt Gateway ready on http://{settings.host}:{server.port}", file=sys.stderr, flush=True)
    stopped.wait()
    gw.dispatcher.stop()  # running jobs are back in the queue now
    server.shutdown()
    wiring.reset()
    logging.shutdown()
    # Worker threads may be inside a provider call; their jobs were handed back, so leave now
    # instead of waiting for them (the interpreter would join them at exit).
    os._exit(0)


if __name__ == "__main__":
    serve()
