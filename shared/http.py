"""The single HTTP adapter every function goes through.

It owns routing, CORS, request ids, body parsing with size limits, pydantic validation
(-> 422 with details), the error envelope, and the structured access log. Handlers get a
``Call`` and return a ``Reply`` (or a ready ``flask.Response`` for streams and files);
they raise ``AppError`` subclasses and never format an error themselves.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import flask
from pydantic import BaseModel, ValidationError
from werkzeug import exceptions as wz
from werkzeug.routing import Map, RequestRedirect, Rule

from shared import browser, errors
from shared.config import Settings
from shared.domain import Contention, StoreUnavailable
from shared.logging import log_fields, redact_path, request_id_var, trace_var
from shared.meter import METER
from shared.models import ErrorEnvelope
from shared.routes import BodyKind, Route, delete, get, post, put  # noqa: F401 - route declarations use http.get etc.

log = logging.getLogger("gateway.http")
Q = TypeVar("Q", bound=BaseModel)

_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_DRAIN_CAP = 64 * 1024 * 1024
DONATION_LINK = "/donate"
MAX_JSON_DEPTH = 32  # no request model nests more than a few levels


@dataclass(frozen=True)
class Upload:
    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """Everything a handler may read about one request."""

    request: flask.Request
    request_id: str
    settings: Settings
    params: dict[str, str]
    body: Any = None
    files: dict[str, Upload] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)


@dataclass
class Reply:
    model: BaseModel | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], "Reply | flask.Response"]
# An Api whose callers expect another error shape (the OpenAI-compatible surface): (status, body) for an error.
ErrorBody = Callable[[errors.AppError, str], "tuple[int, BaseModel]"]


# Every deployable function's Api: the OpenAPI document and the dev server's mounts come from here.
APIS: list[Api] = []
meter = METER  # requests in flight and response times of this process (the metrics history; shared/meter.py)


class Api:
    """One deployable function's routes: ``function`` is its entry point in ``main.py``, ``base``
    its path (e.g. ``/api/v1/jobs``), and each route's path is relative to ``base`` ("" or "/<id>")."""

    def __init__(
        self,
        function: str,
        base: str,
        routes: Iterable[Route],
        settings: Callable[[], Settings],
        error_body: ErrorBody | None = None,
    ) -> None:
        self.function = function
        self.error_body = error_body  # None: the error envelope
        self.base = base.rstrip("/")
        self.routes = [replace(r, path=self.base + r.path) for r in routes]
        self.methods = ", ".join(sorted({r.method for r in self.routes} | {"OPTIONS"}))
        self._settings = settings
        self._map = Map(
            [Rule(r.path, endpoint=i, methods=[r.method]) for i, r in enumerate(self.routes)],
            strict_slashes=False,
            merge_slashes=False,
            redirect_defaults=False,
        )
        self._routing = self._map.bind("localhost", url_scheme="http")  # matching reads it only: one for all requests
        APIS.append(self)

    def _full_path(self, path: str) -> str:
        # Behind hosting rewrites and on the local server the function sees the full path;
        # called at its own Cloud Functions URL it sees only what follows the function name.
        if path == self.base or path.startswith(self.base + "/"):
            return path
        return (self.base + path).rstrip("/") or "/"

    def __call__(self, request: flask.Request) -> flask.Response:
        started = time.perf_counter()
        meter.started()
        settings = self._settings()
        incoming = request.headers.get("X-Request-Id", "")
        rid = incoming if _RID.match(incoming) else secrets.token_hex(16)  # as uuid4().hex: 32 hex digits
        token = request_id_var.set(rid)
        trace_token = trace_var.set(_trace(request))
        origin = request.headers.get("Origin")
        try:
            if request.method == "OPTIONS":
                response = _preflight(settings, origin, self.methods)
            else:
                browser.refuse_cross_site_write(request, settings)  # before anything is read or stored
                response = self._dispatch(request, rid, settings)
        except errors.AppError as exc:
            response = error_response(exc, rid, self.error_body)
        except Contention:  # a store could not record a change now: nothing changed, retry soon
            busy = errors.ServerBusy("The service is very busy right now. Please try again in a moment.", retry_after=2)
            response = error_response(busy, rid, self.error_body)
        except StoreUnavailable:  # the database is down or hung: retry in a little while
            down = errors.ServerBusy("The service is briefly unavailable. Please try again shortly.", retry_after=5)
            response = error_response(down, rid, self.error_body)
        except Exception:  # the last line of defence: log the stack, answer the envelope
            log.exception("unhandled error")
            response = error_response(errors.AppError(), rid, self.error_body)
        finally:
            request_id_var.reset(token)
            trace_var.reset(trace_token)
        response.headers["X-Request-Id"] = rid
        _grant_cors(response, settings, origin)
        level = logging.INFO if response.status_code < 500 else logging.ERROR
        if log.isEnabledFor(level):  # the access line's fields cost more than the check
            log_fields(
                log,
                level,
                "request",
                request_id=rid,
                httpRequest={
                    "requestMethod": request.method,
                    "requestUrl": redact_path(request.path),  # no job id in a log line
                    "status": response.status_code,
                    "latency": f"{time.perf_counter() - started:.6f}s",
                    "remoteIp": request.remote_addr,
                },
            )
        meter.finished(response.status_code, time.perf_counter() - started)
        return response

    def _dispatch(self, request: flask.Request, rid: str, settings: Settings) -> flask.Response:
        try:
            index, params = self._routing.match(self._full_path(request.path), method=request.method)
        except wz.MethodNotAllowed as exc:
            raise errors.MethodNotAllowed(headers={"Allow": ", ".join(sorted(exc.valid_methods or []))}) from None
        except wz.NotFound:
            raise errors.NotFound() from None
        except RequestRedirect:
            raise errors.NotFound() from None
        route = self.routes[index]
        call = Call(request=request, request_id=rid, settings=settings, params=params)
        if route.guard is not None:
            route.guard(call)  # the credential first: a caller without it learns nothing of the body's rules
        try:
            if route.body_kind == "json":
                call.body = _validate(route.body, _read_json(request, settings.max_json_bytes))
            elif route.body_kind == "multipart":
                fields, call.files = _read_multipart(request, settings)
                call.body = _validate(route.body, fields)
            result = route.handler(call)
        except wz.RequestEntityTooLarge:
            raise errors.PayloadTooLarge() from None
        except wz.HTTPException as exc:
            raise errors.BadRequest(exc.description) from None
        if isinstance(result, flask.Response):
            return result
        return json_response(result.model, result.status, result.headers)


def _validate(model: type[BaseModel] | None, data: Any) -> Any:
    if model is None:
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.ValidationFailed(details=_details(exc)) from None


def query(call: Call, model: type[Q]) -> Q:
    """The request's query parameters as ``model`` (422 with details, ``loc`` under "query")."""
    try:
        return model.model_validate(dict(call.request.args.items()))
    except ValidationError as exc:
        details = [{**d, "loc": ["query", *d["loc"]]} for d in _details(exc)]
        raise errors.ValidationFailed(details=details) from None


def _details(exc: ValidationError) -> list[dict[str, Any]]:
    # No "input" and no "url": never echo a caller's (possibly huge) input back.
    return [
        {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def _drain(request: flask.Request) -> None:
    """Read and drop an over-sized body in chunks so nothing large sits in memory."""
    stream = request.stream
    total = 0
    while total < _DRAIN_CAP:
        chunk = stream.read(65536)
        if not chunk:
            break
        total += len(chunk)


def _read_limited(request: flask.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        _drain(request)
        raise errors.PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB.")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        _drain(request)
        raise errors.PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB.")
    return data


def _too_deep(raw: bytes, limit: int) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` (strings skipped): checked before parsing,
    since json.loads and pydantic recurse once per level (30,000 levels: RecursionError)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _read_json(request: flask.Request, limit: int) -> Any:
    if request.mimetype != "application/json":
        raise errors.UnsupportedMediaType("Send the request body as application/json.")
    raw = _read_limited(request, limit)
    if _too_deep(raw, MAX_JSON_DEPTH):
        raise errors.BadRequest(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise errors.BadRequest("The request body is not valid JSON.") from None


def _read_multipart(request: flask.Request, settings: Settings) -> tuple[dict[str, str], dict[str, Upload]]:
    if request.mimetype != "multipart/form-data":
        raise errors.UnsupportedMediaType("Send the image as multipart/form-data.")
    limit = settings.max_upload_bytes + settings.max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        _drain(request)
        raise errors.PayloadTooLarge(f"The upload is larger than {settings.max_upload_bytes // (1024 * 1024)} MiB.")
    request.max_content_length = limit
    request.max_form_memory_size = settings.max_json_bytes
    fields = {k: v for k, v in request.form.items()}
    files: dict[str, Upload] = {}
    for name, storage in request.files.items():
        data = storage.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise errors.PayloadTooLarge(f"The upload is larger than {settings.max_upload_bytes // (1024 * 1024)} MiB.")
        files[name] = Upload(name, storage.filename or "", storage.mimetype or "", data)
    return fields, files


def json_response(model: BaseModel | None, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    body = model.model_dump_json() if model is not None else ""
    response = flask.Response(body, status=status, mimetype="application/json" if model else None)
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(exc: errors.AppError, request_id: str, body: ErrorBody | None = None) -> flask.Response:
    """The error envelope (or ``body``'s shape) with ``exc``'s status, headers and ``Retry-After``."""
    headers = dict(exc.headers)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if body is not None:
        status, model = body(exc, request_id)
        return json_response(model, status, headers)
    envelope = ErrorEnvelope(
        error_type=exc.error_type,
        message=exc.message,
        retry_after=exc.retry_after,
        donation_link=DONATION_LINK if exc.status in (429, 503) else None,
        request_id=request_id,
        details=exc.details,
    )
    return json_response(envelope, exc.status, headers)


def framework_error(exc: wz.HTTPException) -> flask.Response:
    """The envelope for an error the web framework answers before any Api sees the request
    (e.g. a path with a newline matches no rule): never its HTML page."""
    code = exc.code or 500
    kinds: dict[int, type[errors.AppError]] = {
        404: errors.NotFound,
        405: errors.MethodNotAllowed,
        413: errors.PayloadTooLarge,
        415: errors.UnsupportedMediaType,
    }
    error = kinds.get(code, errors.BadRequest if 400 <= code < 500 else errors.AppError)()
    if code in (414, 431):
        error = errors.BadRequest("The request line or its headers are too large.")
    rid = secrets.token_hex(16)
    response = error_response(error, rid)
    response.status_code = code if 400 <= code < 600 else 500
    response.headers["X-Request-Id"] = rid
    return response


def _trace(request: flask.Request) -> str | None:
    header = request.headers.get("X-Cloud-Trace-Context")
    if not header:
        return None
    trace_id = header.split("/", 1)[0]
    if not re.fullmatch(r"[0-9a-fA-F]{1,32}", trace_id):
        return None
    import os

    project = os.environ.get("GOOGLE_CLOUD_PROJECT")
    return f"projects/{project}/traces/{trace_id}" if project else trace_id


def _allowed(settings: Settings, origin: str | None) -> bool:
    """A listed origin (with credentials) or ``*`` (without): see shared/browser.py."""
    return browser.preflight_allowed(settings, origin)


def _preflight(settings: Settings, origin: str | None, methods: str) -> flask.Response:
    response = flask.Response(status=204)
    if _allowed(settings, origin):
        response.headers["Access-Control-Allow-Methods"] = methods  # this function's own methods
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization, Idempotency-Key, X-Request-Id"
        response.headers["Access-Control-Max-Age"] = "3600"
    return response


def _grant_cors(response: flask.Response, settings: Settings, origin: str | None) -> None:
    response.headers.add("Vary", "Origin")
    response.headers.update(browser.cors_headers(settings, origin))  # ``*``: never with credentials


def sse_response(
    events: Iterable[tuple[str | None, dict[str, Any]]], headers: dict[str, str] | None = None
) -> flask.Response:
    """``text/event-stream``: one ``data:`` line per event, named events where given."""

    def body() -> Iterable[str]:
        for name, data in events:
            prefix = f"event: {name}\n" if name else ""
            yield f"{prefix}data: {json.dumps(data)}\n\n"

    response = flask.Response(body(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response
