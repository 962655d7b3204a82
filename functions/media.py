"""Media: signed file URLs of the embedded default."""

import flask
import functions_framework

from shared.api import media as api


@functions_framework.http
def media(request: flask.Request) -> flask.Response:
    return api.api(request)
