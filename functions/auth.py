"""Sign-in: session cookie from a Firebase ID token, sign out, who am I."""

import flask
import functions_framework

from shared.api import auth as api


@functions_framework.http
def auth(request: flask.Request) -> flask.Response:
    return api.api(request)
