"""Worker: runs one queued job (Cloud Tasks target in production); re-dispatch sweep (scheduler target)."""

import flask
import functions_framework

from shared.api import worker as api


@functions_framework.http
def run_job(request: flask.Request) -> flask.Response:
    return api.api(request)


@functions_framework.http
def redispatch(request: flask.Request) -> flask.Response:
    return api.sweep_api(request)
