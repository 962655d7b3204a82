"""Admin: the dashboard's API (analytics, metrics, alerts, budgets, ...), admin claim only."""

import flask
import functions_framework

from shared.api import admin as api


@functions_framework.http
def admin(request: flask.Request) -> flask.Response:
    return api.api(request)
