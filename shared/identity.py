"""Who is calling: the signed-in user when there is one, else the client address."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import flask

TIER_PRIORITY = {"donor": 1, "registered": 2, "anonymous": 3}


@dataclass(frozen=True)
class Caller:
    key: str
    tier: str
    ip: str
    user_id: str | None = None

    @property
    def priority(self) -> int:
        return TIER_PRIORITY.get(self.tier, 3)

    def owns(self, owner: str) -> bool:
        return owner == self.key


def client_ip(request: flask.Request, trusted_hops: int) -> str:
    """The socket address, or the address ``trusted_hops`` proxies back in X-Forwarded-For."""
    candidate = request.remote_addr or "unknown"
    if trusted_hops > 0:
        chain = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
        if chain:
            candidate = chain[-trusted_hops] if len(chain) >= trusted_hops else chain[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return "unknown"


def resolve_caller(request: flask.Request, trusted_hops: int = 0) -> Caller:
    ip = client_ip(request, trusted_hops)
    return Caller(key=f"ip:{ip}", tier="anonymous", ip=ip)
