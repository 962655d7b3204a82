"""Jobs: view, list and cancel."""

import flask
import functions_framework

from shared.api import jobs as api


@functions_framework.http
def jobs(request: flask.Request) -> flask.Response:
    return api.api(request)
