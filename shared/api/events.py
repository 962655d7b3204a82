"""Site events: ``POST /api/v1/events`` ``{type, page, referrer?}`` -> 204 (page views, conversions).

Made for ``navigator.sendBeacon``: a string body arrives as ``text/plain`` (a Blob as its own type),
so ``text/plain`` is read as JSON too. No cookie is needed (one is used when present, to tell a
signed-in visitor); no address is stored; the types come from a fixed list; rate-limited per address.
"""

from __future__ import annotations

import flask

from shared import http, wiring
from shared.api import API_PREFIX
from shared.insight_models import EventRequest


def _event(call: http.Call) -> http.Reply:
    services = wiring.services()
    body: EventRequest = call.body
    caller = services.caller(call.request)
    services.events.record(body.type, body.page, caller, call.header("User-Agent") or "")
    answer = flask.Response(status=204)
    del answer.headers["Content-Type"]  # no body: no media type (Flask would say text/html)
    return answer


api = http.Api(
    "events",
    f"{API_PREFIX}/events",
    [
        http.post(
            "",
            _event,
            body=EventRequest,
            status=204,
            summary="A page view or conversion event from the site (sendBeacon: JSON or text/plain)",
            tag="analytics",
            errors=(429,),
        )
    ],
    wiring.settings,
)


def handle(request: flask.Request) -> flask.Response:
    """The function's entry: a beacon's ``text/plain`` body is read as the JSON it holds."""
    if request.mimetype == "text/plain":  # the same request (its body is read once): only its type changes
        request.environ["CONTENT_TYPE"] = "application/json"
        vars(request).pop("_parsed_content_type", None)  # werkzeug's parse of the old header
    return api(request)
