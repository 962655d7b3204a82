"""Metrics: the scheduled run (a deployment metrics point, then the alerts) with X-API-Key."""

import flask
import functions_framework

from shared.api import metrics as api


@functions_framework.http
def metrics_task(request: flask.Request) -> flask.Response:
    return api.api(request)
