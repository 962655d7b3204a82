"""Media: the embedded default's signed, expiring file URLs. Buckets serve their own."""

from __future__ import annotations

import flask

from shared import errors, http, wiring
from shared.api import API
from shared.media import LocalMediaStore, content_type_for


def _media(call: http.Call) -> flask.Response:
    gw = wiring.gateway()
    store = gw.media
    key = call.params["key"]
    if not isinstance(store, LocalMediaStore):
        raise errors.NotFound()
    args = call.request.args
    if not store.verify(key, args.get("exp"), args.get("sig"), gw.clock.now()):
        raise errors.Forbidden("This media link is invalid or has expired.")
    try:
        path = store.path_for(key)
    except ValueError:
        raise errors.NotFound() from None
    if not path.is_file():
        raise errors.NotFound("This file no longer exists.")
    response = flask.send_file(path, mimetype=content_type_for(key), conditional=True, max_age=300)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


api = http.Api(
    f"{API}/media",
    [
        http.get(
            f"{API}/media/<path:key>",
            _media,
            summary="A generated file (signed URL)",
            tag="media",
            answer_media="application/octet-stream",
        )
    ],
    wiring.settings,
)
