"""Worker: runs one queued job (Cloud Tasks target in production)."""

import flask
import functions_framework

from shared.api import worker as api


@functions_framework.http
def run_job(request: flask.Request) -> flask.Response:
    return api.api(request)
