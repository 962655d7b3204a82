"""What a route is: method, path, handler, body and answer models, and every status it answers.

``shared.http`` serves routes and ``shared.openapi`` documents them from the same declarations
(``shared/api/*``), so each status, media type and header a route answers is said once. The
defaults below are what the HTTP edge itself answers; a declaration adds what its use case raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    from shared.http import Call, Handler

BodyKind = Literal["json", "multipart", "none"]

ROUTING = (404, 405)  # a path under the function's base that no route serves; a method no route there serves
LIMITS = (414, 431)  # the HTTP server's own: a request line or headers too long to read
BODY = (400, 413, 415, 422)  # unreadable body, over the size limit, wrong content type, invalid fields
CROSS_SITE = (403,)  # a write that only the __session cookie authenticates, from another site (shared/browser.py)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A stream event: (SSE event name, the model of its JSON data, or the exact text of its data).
Event = tuple[str, "type[BaseModel] | str"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    body: type[BaseModel] | None = None
    body_kind: BodyKind = "none"
    answer: type[BaseModel] | None = None  # the application/json answer
    status: int = 200
    summary: str = ""
    tag: str = "gateway"
    answer_media: tuple[str, ...] = ()  # other media types of the answer: a stream, a file's types
    also: tuple[int, ...] = ()  # other success statuses with the same answer
    errors: tuple[int, ...] = (*ROUTING, *LIMITS)  # every error status (each answers the error envelope)
    headers: tuple[str, ...] = ()  # headers every success answer carries (names in shared.openapi.HEADERS)
    security: tuple[str, ...] = ()  # schemes, any one of which is required (shared.openapi.SECURITY)
    query: type[BaseModel] | None = None  # the query parameters the handler reads
    events: tuple[Event, ...] = ()  # a text/event-stream answer's events
    error_answer: type[BaseModel] | None = None  # the error body; None: shared.models.ErrorEnvelope
    guard: Callable[[Call], None] | None = None  # checked before the body is read (a credential: 401 before any 422)


def error_statuses(method: str, body_kind: BodyKind, extra: tuple[int, ...], invalid: int = 422) -> tuple[int, ...]:
    """The defaults above plus ``extra``; ``invalid`` is the status of invalid fields (the OpenAI surface: 400)."""
    codes = {*ROUTING, *LIMITS, *extra}
    if method in WRITES:
        codes.update(CROSS_SITE)
    if body_kind != "none":
        codes.update(code for code in BODY if code != 422)
        codes.add(invalid)
    return tuple(sorted(codes))


def get(
    path: str,
    handler: Handler,
    *,
    answer: type[BaseModel] | None = None,
    summary: str = "",
    tag: str = "gateway",
    answer_media: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
    query: type[BaseModel] | None = None,
    error_answer: type[BaseModel] | None = None,
) -> Route:
    return Route(
        "GET",
        path,
        handler,
        answer=answer,
        summary=summary,
        tag=tag,
        answer_media=answer_media,
        errors=error_statuses("GET", "none", errors),
        query=query,
        error_answer=error_answer,
    )


def post(
    path: str,
    handler: Handler,
    *,
    body: type[BaseModel] | None = None,
    body_kind: BodyKind = "json",
    answer: type[BaseModel] | None = None,
    status: int = 200,
    also: tuple[int, ...] = (),
    summary: str = "",
    tag: str = "gateway",
    answer_media: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
    headers: tuple[str, ...] = (),
    security: tuple[str, ...] = (),
    events: tuple[Event, ...] = (),
    error_answer: type[BaseModel] | None = None,
    invalid: int = 422,
    guard: Callable[[Call], None] | None = None,
) -> Route:
    kind: BodyKind = body_kind if body else "none"
    return Route(
        "POST",
        path,
        handler,
        body=body,
        body_kind=kind,
        answer=answer,
        status=status,
        summary=summary,
        tag=tag,
        answer_media=answer_media,
        also=also,
        errors=error_statuses("POST", kind, errors, invalid),
        headers=headers,
        security=security,
        events=events,
        error_answer=error_answer,
        guard=guard,
    )


def delete(
    path: str,
    handler: Handler,
    *,
    answer: type[BaseModel] | None = None,
    summary: str = "",
    tag: str = "gateway",
    errors: tuple[int, ...] = (),
) -> Route:
    codes = error_statuses("DELETE", "none", errors)
    return Route("DELETE", path, handler, answer=answer, summary=summary, tag=tag, errors=codes)


def put(
    path: str,
    handler: Handler,
    *,
    body: type[BaseModel],
    answer: type[BaseModel] | None = None,
    summary: str = "",
    tag: str = "gateway",
    errors: tuple[int, ...] = (),
) -> Route:
    """A JSON body that replaces the resource at ``path``."""
    codes = error_statuses("PUT", "json", errors)
    return Route("PUT", path, handler, body, "json", answer=answer, summary=summary, tag=tag, errors=codes)
