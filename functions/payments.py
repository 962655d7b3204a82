"""Payments: the plans, subscribe (-> the checkout page), the payment provider's signed webhook."""

import flask
import functions_framework

from shared.api import payments as api


@functions_framework.http
def payments(request: flask.Request) -> flask.Response:
    return api.api(request)
