"""OpenAPI 3.1, generated from the routes (``shared.routes``) and their pydantic models.

Each operation lists every status its route answers (``Route.errors``, ``Route.also``), every
media type (JSON, a stream, a file's types), the headers every answer carries and the security
it needs, so a contract fuzzer can hold the server to the document
(``tests/contract/test_openapi_contract.py`` runs schemathesis with all checks against it).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.models import ErrorEnvelope
from shared.routes import Route

ERRORS = {
    400: "The body is not valid JSON (or nests too deep), the form could not be read, or the provider refused it",
    401: "A valid task token is required",
    403: "Refused: an invalid or expired media link, or a cookie-authenticated write from another site",
    404: "Nothing here: no such job, file or path",
    405: "This method is not served here (Allow lists the ones that are)",
    409: "The job has already finished (succeeded, failed or canceled)",
    413: "The body or the upload is over its size limit",
    414: "The request line is too long (answered by the HTTP server)",
    415: "Wrong content type, or an upload that is not a PNG, JPEG or WebP image",
    422: "Invalid fields (details), an unusable image, a content-policy refusal, or a reused Idempotency-Key",
    424: "The caller's own provider key was rejected or cannot be read",
    429: "Rate limited, or the address is blocked for a while",
    431: "The request's headers are too large (answered by the HTTP server)",
    502: "The provider answered with something unusable",
    503: "Busy: the queue is full, the store is contended, or no provider is available; retry after Retry-After",
    504: "The job is not done in time; it goes on (fetch it later by its id)",
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {"description": "This request's id (the caller's own when valid)", "schema": {"type": "string"}},
    "RateLimit-Policy": {"description": 'The caller\'s limit, e.g. "anonymous";q=3;w=60', "schema": {"type": "string"}},
    "RateLimit": {"description": 'What is left of it, e.g. "anonymous";r=2;t=20', "schema": {"type": "string"}},
    "Location": {"description": "The job's URL", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}},
    "Allow": {"description": "The methods served at this path", "schema": {"type": "string"}},
    "X-Job-Id": {"description": "The job behind the answer (also its usage record)", "schema": {"type": "string"}},
}

SECURITY: dict[str, dict[str, Any]] = {
    "tasksToken": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer $TASKS_TOKEN"},
    "tasksTokenHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Tasks-Token",
        "description": "$TASKS_TOKEN, when Authorization carries Cloud Tasks' OIDC token",
    },
    "taskApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "$TASK_API_KEY"},
}

UPLOAD_TYPES = "image/png, image/jpeg, image/webp"
SERVER_ANSWERED = frozenset({414, 431})  # before any function sees the request: no X-Request-Id
_REF = "#/components/schemas/{}".format
_PARAM = re.compile(r"<(?:([a-z]+):)?([a-z_]+)>")


def _path(rule: str) -> tuple[str, list[tuple[str, str]]]:
    """The OpenAPI path of a werkzeug rule and its parameters as (name, converter)."""
    params = [(name, converter or "default") for converter, name in _PARAM.findall(rule)]
    return _PARAM.sub(r"{\2}", rule), params


def _headers(required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    found = {name: {**HEADERS[name], "required": True} for name in required}
    found.update({name: {**HEADERS[name], "required": False} for name in optional})
    return found


def _error(route: Route, code: int) -> dict[str, Any]:
    required: tuple[str, ...] = ("X-Request-Id",)
    optional: tuple[str, ...] = ()
    if code in (429, 503):
        required, optional = (*required, "Retry-After"), tuple(h for h in route.headers if h.startswith("RateLimit"))
    elif code == 405:
        required = (*required, "Allow")
    elif code in SERVER_ANSWERED:
        required, optional = (), ("X-Request-Id",)
    return {
        "description": ERRORS[code],
        "headers": _headers(required, optional),
        "content": {"application/json": {"schema": {"$ref": _REF((route.error_answer or ErrorEnvelope).__name__)}}},
    }


def _event(name: str, model: type[BaseModel] | str) -> dict[str, Any]:
    data: dict[str, Any] = {"const": model}  # an exact text, e.g. OpenAI's "[DONE]"
    if not isinstance(model, str):
        data = {"type": "string", "contentMediaType": "application/json"}
        data["contentSchema"] = {"$ref": _REF(model.__name__)}
    return {
        "type": "object",
        "properties": {"event": {"const": name}, "data": data},
        "required": ["event", "data"],
    }


def _media(route: Route, media_type: str) -> dict[str, Any]:
    if media_type == "text/event-stream":  # Open API 3.1: the schema of each event, as {event, data}
        return {"schema": {"anyOf": [_event(name, model) for name, model in route.events]}}
    return {"schema": {"type": "string", "contentMediaType": media_type}}


def _success(route: Route, code: int) -> dict[str, Any]:
    if code == 204:  # no body, so no media type
        return {"description": "No content", "headers": _headers(("X-Request-Id", *route.headers))}
    content = {m: _media(route, m) for m in route.answer_media}
    if route.answer is not None:
        content = {"application/json": {"schema": {"$ref": _REF(route.answer.__name__)}}, **content}
    if not content:
        content = {"application/json": {"schema": {"type": "object"}}}
    description = "OK"
    if code == 202:
        description = "Accepted: a new job is queued"
    elif route.status == 202:
        description = "The job an identical submit (or the same Idempotency-Key) already made"
    return {"description": description, "headers": _headers(("X-Request-Id", *route.headers)), "content": content}


def _form_field(schema: dict[str, Any]) -> dict[str, Any]:
    """A form has no null (a client leaves the field out): the non-null branch, with no null default."""
    field = dict(schema)
    branches = field.pop("anyOf", None)
    if branches is not None:
        kept = [branch for branch in branches if branch.get("type") != "null"]
        field.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
    if "default" in field and field["default"] is None:
        del field["default"]
    return field


def _request_body(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    assert route.body is not None
    name = route.body.__name__
    if route.body_kind != "multipart":
        return {"required": True, "content": {"application/json": {"schema": {"$ref": _REF(name)}}}}
    # Flattened (no allOf/$ref): the image part beside the model's fields, each sent as form text.
    model = copy.deepcopy(components[name])
    properties = {key: _form_field(value) for key, value in model["properties"].items()}
    properties["image"] = {"type": "string", "format": "binary", "description": f"{UPLOAD_TYPES}, size-limited"}
    schema = {
        "type": "object",
        "properties": properties,
        "required": ["image", *model.get("required", [])],
        "additionalProperties": False,
    }
    encoding = {"image": {"contentType": UPLOAD_TYPES}}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema, "encoding": encoding}}}


def _parameters(route: Route, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    found = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name, _converter in params
    ]
    if route.query is not None:
        schema = route.query.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            found.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return found


def _operation(route: Route, path: str, params: list[tuple[str, str]], components: dict[str, Any]) -> dict[str, Any]:
    responses = {str(code): _success(route, code) for code in sorted({route.status, *route.also})}
    responses.update({str(code): _error(route, code) for code in route.errors})
    operation: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "parameters": _parameters(route, params),
        "responses": dict(sorted(responses.items())),
    }
    if route.security:
        operation["security"] = [{name: []} for name in route.security]
    if route.body is not None:
        operation["requestBody"] = _request_body(route, components)
    return operation


def _components(routes: list[Route]) -> dict[str, Any]:
    bodies = {r.body for r in routes if r.body is not None}
    models: set[type[BaseModel]] = {ErrorEnvelope, *bodies, *(r.answer for r in routes if r.answer is not None)}
    models.update(model for r in routes for _name, model in r.events if not isinstance(model, str))
    models.update(r.error_answer for r in routes if r.error_answer is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, schema = models_json_schema(
        [(m, "validation" if m in bodies else "serialization") for m in ordered],
        ref_template="#/components/schemas/{model}",
    )
    return schema.get("$defs", {})


def build(routes: list[Route], version: str) -> dict[str, Any]:
    components = _components(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path, params = _path(route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, path, params, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "AiArt Gateway", "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components, "securitySchemes": SECURITY},
    }
