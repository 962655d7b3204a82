"""What the HTTP edge does for browsers: CORS, the cross-site write check, the session cookie.

**CORS.** An origin listed in ``CORS_ORIGINS`` gets its own name back with
``Access-Control-Allow-Credentials: true``. ``*`` means any origin *without* credentials
(``Access-Control-Allow-Origin: *``, never with Allow-Credentials), so a wildcard never lets
another site read an answer made with a visitor's cookie.

**Cross-site writes.** A cross-site ``<form method=post enctype=multipart/form-data>`` needs no
preflight, and browsers may attach cookies to it. So a state-changing request (POST, PUT, PATCH,
DELETE) that the ``__session`` cookie authenticates must come from this site itself or from an
origin listed in ``CORS_ORIGINS`` (``*`` does not count): otherwise 403 ``origin_refused``. A
request that sends ``Authorization: Bearer`` is authenticated by that header alone (the cookie is
then not read), which a page on another site cannot add without passing CORS; the worker's task
routes are such requests. Without an ``Origin`` header (old clients) ``Sec-Fetch-Site:
cross-site`` is refused too.

**The session cookie.** ``__session`` holds a Firebase session cookie (``POST /api/v1/auth/session``):
``HttpOnly; SameSite=Strict; Path=/``, and ``Secure`` except on plain-http localhost
(``session_cookie_headers``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import flask

from shared import errors
from shared.auth import SESSION_COOKIE, uses_bearer
from shared.config import Settings

EXPOSED = "RateLimit, RateLimit-Policy, Retry-After, X-Request-Id, Location"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class OriginRefused(errors.Forbidden):
    error_type = "origin_refused"
    default_message = "This request came from another site. Use the site itself to do this."


def _listed(settings: Settings, origin: str | None) -> bool:
    return origin is not None and origin != "*" and origin in settings.cors_origins


def preflight_allowed(settings: Settings, origin: str | None) -> bool:
    return origin is not None and (_listed(settings, origin) or "*" in settings.cors_origins)


def cors_headers(settings: Settings, origin: str | None) -> dict[str, str]:
    if _listed(settings, origin):
        assert origin is not None
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": EXPOSED,
        }
    if origin is not None and "*" in settings.cors_origins:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED}
    return {}


def _same_origin(request: flask.Request, origin: str) -> bool:
    """Whether ``origin`` names the host the request was sent to (directly, or through a proxy
    that says so in X-Forwarded-Host: a header no cross-site form can set)."""
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    forwarded = [h.strip().lower() for h in request.headers.get("X-Forwarded-Host", "").split(",")]
    return bool(netloc) and netloc in {request.host.lower(), *forwarded}


def refuse_cross_site_write(request: flask.Request, settings: Settings) -> None:
    """Raise ``OriginRefused`` for a cookie-authenticated state change from another site."""
    if request.method not in UNSAFE or SESSION_COOKIE not in request.cookies or uses_bearer(request):
        return
    origin = request.headers.get("Origin")
    if origin is not None:
        if _listed(settings, origin) or _same_origin(request, origin):
            return
        raise OriginRefused()
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        raise OriginRefused()


def _plain_http_localhost(request: flask.Request) -> bool:
    try:
        host = urlsplit(f"//{request.host}").hostname or ""
    except ValueError:
        return False
    return request.scheme == "http" and (host in _LOOPBACK or host.endswith(".localhost"))


def set_session_cookie(request: flask.Request, response: flask.Response, settings: Settings, value: str | None) -> None:
    """Set the Firebase session cookie (``value``), or expire it (None: signed out)."""
    response.set_cookie(
        SESSION_COOKIE,
        value or "",
        max_age=settings.session_ttl_seconds if value else 0,
        expires=None if value else 0,
        path="/",
        secure=settings.environment == "production" or not _plain_http_localhost(request),
        httponly=True,
        samesite="Strict",
    )
