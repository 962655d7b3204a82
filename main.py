"""Cloud Functions loads this file at the source root: it names every entry point.

An entry point's module is imported the first time the entry point is asked for (a module
``__getattr__``, PEP 562): functions-framework takes the target with ``getattr(main, target)``,
so an instance of ``health`` imports ``functions.health`` and what it needs, never the other
functions' modules (firebase-admin, the providers, every pydantic model). ``entry_points()``
imports them all, for the dev server, the deploy scripts and tests that need every ``Api``
declared and every decorator registered.

functions-framework runs this file once per app it creates; the error handler registered here
answers the errors Flask raises before a function sees the request with the JSON envelope.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from importlib import import_module
from typing import Any

import flask
import functions_framework
from werkzeug.exceptions import HTTPException

import shared.api  # noqa: F401 - refuses the Auth emulator's variable in production, whatever the target


def _framework_error(error: HTTPException) -> flask.Response:
    """``shared.http.framework_error``, imported when first needed (every entry point imports it)."""
    from shared.http import framework_error

    return framework_error(error)


functions_framework.errorhandler(HTTPException)(_framework_error)

MODULES = {  # entry point -> the module under functions/ that defines it
    "admin": "admin",
    "auth": "auth",
    "cleanup": "cleanup",  # CloudEvent (Pub/Sub): no hosting rewrite; the dev server mounts it at /_pubsub/cleanup
    "cleanup_task": "cleanup",
    "events": "events",
    "generate_image_to_image": "generate",
    "generate_image_to_video": "generate",
    "generate_text": "generate",
    "generate_text_to_image": "generate",
    "generate_text_to_video": "generate",
    "health": "health",
    "jobs": "jobs",
    "media": "media",
    "metrics_task": "metrics",
    "openai_compat": "openai_compat",
    "openapi": "openapi",
    "payments": "payments",
    "redispatch": "worker",
    "run_job": "worker",
    "user": "user",
}

__all__ = list(MODULES)


def __getattr__(name: str) -> Any:
    """Import an entry point's module on first use and keep the function as this module's attribute."""
    if name not in MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = f"functions.{MODULES[name]}"
    # Always through import_module, even when the module is in sys.modules: a module another thread
    # is still importing is there half made, and import_module waits for it (its import lock).
    # functions-framework loads this file anew per app, so a lock of ours here would not be shared.
    with nullcontext() if module in sys.modules else _startup_imports():
        function = getattr(import_module(module), name)
    globals()[name] = function
    return function


@contextmanager
def _startup_imports() -> Iterator[None]:
    """A function's imports make tens of thousands of objects that live as long as the process; the
    garbage collector would scan them over and over while they are made (a good part of a cold
    start's CPU). It is off while they are imported, and they are frozen after (``gc.freeze``):
    later collections skip them, and the gunicorn worker forked after shares their memory pages.
    Once per function module and process: a second load of ``main`` imports nothing new."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def entry_points() -> dict[str, Callable[..., Any]]:
    """Every entry point, imported (each module declares its ``Api`` and registers its decorators)."""
    return {name: __getattr__(name) for name in __all__}
