"""JSON logs on stdout in the shape Cloud Logging understands (``severity``, trace).

Job ids are the only key to an anonymous visitor's job (and its signed result URL), so no log
line carries one: a ``job_id`` field is written as ``job`` = a short SHA-256 of it, and ids in
logged paths are replaced the same way. To find a job's lines, hash its id (``log_id``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_var: ContextVar[str | None] = ContextVar("trace", default=None)

_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


_ID_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_-]{16,}(?=(?:\.[A-Za-z0-9]{1,5})?(?:/|$))")


def log_id(value: str) -> str:
    """What logs say instead of a job id (or another capability): 12 hex digits of its SHA-256."""
    return "h:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def redact_path(path: str) -> str:
    """A request path with every id-like segment (16+ URL-safe characters) replaced by ``log_id``."""
    return _ID_SEGMENT.sub(lambda m: log_id(m.group(0)), path)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        }
        rid = request_id_var.get()
        if rid:
            entry["request_id"] = rid
        trace = trace_var.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
            if isinstance(entry.get("job_id"), str):
                entry["job"] = log_id(entry.pop("job_id"))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_configured = False


def configure(level: str = "INFO") -> None:
    """Install the JSON handler on the root logger once per process."""
    global _configured
    root = logging.getLogger()
    root.setLevel(level.upper())
    if _configured:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    # Plain console handlers (basicConfig's, the platform's) would print each line twice; handlers
    # of other kinds (a capture, a file, a log shipper) keep working.
    root.handlers = [h for h in root.handlers if type(h) is not logging.StreamHandler] + [handler]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _configured = True


def log_fields(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    logger.log(level, message, extra={"fields": fields})
