"""Cloud Functions loads this file at the source root: it re-exports every entry point."""

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
from functions.openapi import openapi
from functions.worker import redispatch, run_job

__all__ = [
    "generate_image_to_image",
    "generate_image_to_video",
    "generate_text",
    "generate_text_to_image",
    "generate_text_to_video",
    "health",
    "jobs",
    "media",
    "openapi",
    "redispatch",
    "run_job",
]
