"""OpenAPI: the document generated from every route's models."""

import flask
import functions_framework

from shared.api import openapi as api


@functions_framework.http
def openapi(request: flask.Request) -> flask.Response:
    return api.api(request)
