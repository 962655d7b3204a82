"""Health: liveness, load, queue length, providers."""

import flask
import functions_framework

from shared.api import health as api


@functions_framework.http
def health(request: flask.Request) -> flask.Response:
    return api.api(request)
