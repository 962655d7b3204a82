"""The OpenAPI document of every function's routes."""

from __future__ import annotations

import json

import flask

from shared import http, wiring
from shared.api import API, generate, health, jobs, media, worker
from shared.openapi import build

_MODULES = (generate, health, jobs, media, worker)
_cache: dict[str, str] = {}


def _document(call: http.Call) -> flask.Response:
    if "doc" not in _cache:
        _cache["doc"] = json.dumps(build(list(http.REGISTRY), call.settings.version))
    response = flask.Response(_cache["doc"], mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


api = http.Api(
    f"{API}/openapi.json",
    [http.get(f"{API}/openapi.json", _document, summary="This document", tag="ops")],
    wiring.settings,
)
