"""Cleanup: the daily run from Cloud Scheduler through Pub/Sub (CloudEvent), or over HTTP with X-API-Key."""

import flask
import functions_framework
from cloudevents.http import CloudEvent

from shared.api import cleanup as api


@functions_framework.cloud_event
def cleanup(event: CloudEvent) -> None:
    api.on_event(event)


@functions_framework.http
def cleanup_task(request: flask.Request) -> flask.Response:
    return api.api(request)
