"""The five generation functions."""

import flask
import functions_framework

from shared.api import generate


@functions_framework.http
def generate_text_to_image(request: flask.Request) -> flask.Response:
    return generate.text_to_image(request)


@functions_framework.http
def generate_image_to_image(request: flask.Request) -> flask.Response:
    return generate.image_to_image(request)


@functions_framework.http
def generate_text_to_video(request: flask.Request) -> flask.Response:
    return generate.text_to_video(request)


@functions_framework.http
def generate_image_to_video(request: flask.Request) -> flask.Response:
    return generate.image_to_video(request)


@functions_framework.http
def generate_text(request: flask.Request) -> flask.Response:
    return generate.text(request)
