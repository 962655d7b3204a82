"""The OpenAPI document of every function's routes."""

from __future__ import annotations

import json

import flask

from shared import http, wiring
from shared.api import API_PREFIX, generate, health, jobs, media, openai_compat, worker
from shared.openapi import build

_MODULES = (generate, health, jobs, media, openai_compat, worker)  # imported for their routes
_cache: dict[str, str] = {}


def _document(call: http.Call) -> flask.Response:
    if "doc" not in _cache:
        routes = [route for api in http.APIS for route in api.routes]
        _cache["doc"] = json.dumps(build(routes, call.settings.version))
    response = flask.Response(_cache["doc"], mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


api = http.Api(
    "openapi",
    f"{API_PREFIX}/openapi.json",
    [http.get("", _document, summary="This document", tag="ops")],
    wiring.settings,
)
