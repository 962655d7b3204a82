"""Cloud Functions loads this file at the source root: it re-exports every entry point.

functions-framework runs this file once per app it creates; the error handler registered here
answers the errors Flask raises before a function sees the request with the JSON envelope.
"""

import functions_framework
from werkzeug.exceptions import HTTPException

from functions.admin import admin
from functions.auth import auth
from functions.cleanup import cleanup, cleanup_task
from functions.events import events
from functions.generate import (
    generate_image_to_image,
    generate_image_to_video,
    generate_text,
    generate_text_to_image,
    generate_text_to_video,
)
from functions.health import health
from functions.jobs import jobs
from functions.media import media
from functions.metrics import metrics_task
from functions.openai_compat import openai_compat
from functions.openapi import openapi
from functions.payments import payments
from functions.user import user
from functions.worker import redispatch, run_job
from shared.http import framework_error

functions_framework.errorhandler(HTTPException)(framework_error)

__all__ = [
    "admin",
    "auth",
    "cleanup",  # CloudEvent (Pub/Sub): no hosting rewrite; the dev server mounts it at /_pubsub/cleanup
    "cleanup_task",
    "events",
    "generate_image_to_image",
    "generate_image_to_video",
    "generate_text",
    "generate_text_to_image",
    "generate_text_to_video",
    "health",
    "jobs",
    "media",
    "metrics_task",
    "openai_compat",
    "openapi",
    "payments",
    "redispatch",
    "run_job",
    "user",
]
