"""Media: the embedded default's signed, expiring file URLs. Buckets serve their own."""

from __future__ import annotations

import flask

from shared import http, wiring
from shared.api import API_PREFIX
from shared.models import MediaQuery


def _media(call: http.Call) -> flask.Response:
    args = call.request.args
    file = wiring.services().media.open(call.params["key"], args.get("exp"), args.get("sig"))
    response = flask.send_file(file.path, mimetype=file.content_type, conditional=True, max_age=300)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


api = http.Api(
    "media",
    f"{API_PREFIX}/media",
    [
        http.get(
            "/<path:key>",
            _media,
            summary="A generated file (signed URL)",
            tag="media",
            answer_media=("image/png", "image/jpeg", "image/webp", "video/mp4", "text/plain"),
            errors=(403,),
            query=MediaQuery,
        )
    ],
    wiring.settings,
)
