"""The baseline: a bare functions-framework hello-world."""

import flask
import functions_framework


@functions_framework.http
def hello(request: flask.Request) -> flask.Response:
    return flask.jsonify(hello="world")
