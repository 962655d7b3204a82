"""Events: page views and conversion events from the site (navigator.sendBeacon), 204."""

import flask
import functions_framework

from shared.api import events as api


@functions_framework.http
def events(request: flask.Request) -> flask.Response:
    return api.handle(request)
