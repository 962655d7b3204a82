"""Who is calling: the signed-in user when there is one, else the client address."""

from __future__ import annotations

import ipaddress

import flask

from shared.auth import SESSION_COOKIE, Verifier
from shared.domain import Caller
from shared.stores.base import UserStore


def client_ip(request: flask.Request, trusted_hops: int) -> str:
    """The socket address, or the address ``trusted_hops`` proxies back in X-Forwarded-For.

    Each trusted proxy appends the address it saw, so the client is ``trusted_hops`` places
    from the end; anything further left was written by the client and is not trusted.
    """
    candidate = request.remote_addr or "unknown"
    if trusted_hops > 0:
        chain = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
        if chain:
            candidate = chain[-trusted_hops] if len(chain) >= trusted_hops else chain[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return "unknown"


def _token(request: flask.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


def resolve_caller(
    request: flask.Request,
    trusted_hops: int = 0,
    verifier: Verifier | None = None,
    users: UserStore | None = None,
) -> Caller:
    ip = client_ip(request, trusted_hops)
    token = _token(request) if verifier is not None else None
    identity = verifier.verify(token) if verifier is not None and token else None
    if identity is None:
        return Caller(key=f"ip:{ip}", tier="anonymous", ip=ip)
    record = users.get(identity.user_id) if users is not None else None
    if record is None:
        return Caller(key=f"user:{identity.user_id}", tier=identity.tier, ip=ip, user_id=identity.user_id)
    return Caller(
        key=f"user:{record.id}",
        tier=record.tier,
        ip=ip,
        user_id=record.id,
        limit_override=record.limit_override,
        text_limit_override=record.text_limit_override,
    )
