"""Users: the record, own provider keys, usage and the monthly bill."""

import flask
import functions_framework

from shared.api import user as api


@functions_framework.http
def user(request: flask.Request) -> flask.Response:
    return api.api(request)
