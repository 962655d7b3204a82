"""OpenAPI: the document generated from every route's models, every function's routes included."""

import flask
import functions_framework

import main
from shared.api import openapi as api


@functions_framework.http
def openapi(request: flask.Request) -> flask.Response:
    return api.api(request)


# main.py imports a function's module only when that function runs; the document covers them all.
main.entry_points()
