"""The OpenAI-compatible surface: /v1/chat/completions, /v1/images/generations, /v1/models."""

import flask
import functions_framework

from shared.api import openai_compat as api


@functions_framework.http
def openai_compat(request: flask.Request) -> flask.Response:
    return api.api(request)
