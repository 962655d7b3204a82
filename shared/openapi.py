"""OpenAPI 3.1, generated from the routes and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.http import Route
from shared.models import ErrorEnvelope

_ERRORS = {
    "400": "Malformed request",
    "404": "Not found",
    "405": "Method not allowed",
    "413": "Body too large",
    "415": "Unsupported media type",
    "422": "Validation failed",
    "429": "Rate limited",
    "503": "Busy or no provider available",
}


def _path(rule: str) -> tuple[str, list[str]]:
    names = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule)
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule), names


_REF = "#/components/schemas/{}".format


def _request_body(route: Route) -> dict[str, Any]:
    assert route.body is not None
    if route.body_kind == "multipart":
        schema = {
            "allOf": [
                {"$ref": _REF(route.body.__name__)},
                {
                    "type": "object",
                    "properties": {"image": {"type": "string", "format": "binary"}},
                    "required": ["image"],
                },
            ]
        }
        return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    return {"required": True, "content": {"application/json": {"schema": {"$ref": _REF(route.body.__name__)}}}}


def _operation(route: Route, path: str, names: list[str]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names],
        "responses": {
            code: {"description": text, "content": {"application/json": {"schema": {"$ref": _REF("ErrorEnvelope")}}}}
            for code, text in _ERRORS.items()
        },
    }
    if route.answer is not None:
        content = {"application/json": {"schema": {"$ref": _REF(route.answer.__name__)}}}
    else:
        content = {route.answer_media: {"schema": {"type": "string", "format": "binary"}}}
    operation["responses"][str(route.status)] = {"description": "Success", "content": content}
    if route.body is not None:
        operation["requestBody"] = _request_body(route)
    return operation


def build(routes: list[Route], version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorEnvelope}
    for route in routes:
        models.update(m for m in (route.body, route.answer) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, schema = models_json_schema(
        [(m, "validation" if m in {r.body for r in routes} else "serialization") for m in ordered],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path, names = _path(route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, path, names)
    return {
        "openapi": "3.1.0",
        "info": {"title": "AiArt Gateway", "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schema.get("$defs", {})},
    }
