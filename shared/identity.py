"""Who is calling: the signed-in user when there is one, else an anonymous browser.

Two different things identify an anonymous caller:

* ``Caller.key`` = ``anon:<visitor id>``, a random id carried signed in the ``__session`` cookie,
  owns the visitor's jobs (listing and canceling). Visitors behind one address (carrier NAT,
  an office) never see each other's jobs.
* ``Caller.ip`` = the network address (an IPv4 address, or the IPv6 network of
  ``IPV6_PREFIX_LENGTH`` bits, /64 by default) keys rate limits and abuse blocks, so clearing
  cookies, or rotating addresses inside one's own /64, buys nothing.
"""

from __future__ import annotations

import ipaddress

import flask

from shared.auth import Verifier, VisitorIds, credential
from shared.browser import minted_visitor, remember_visitor
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


def network_of(address: str, ipv6_prefix: int = 64) -> str:
    """What limits are keyed on: an IPv4 address (also when IPv4-mapped), else its IPv6 network.

    One subscriber usually gets a whole /64 (often more), so keying on the /128 would hand out a
    fresh grace allowance and a fresh bucket for each of its 2**64 addresses.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ipv6_prefix >= 128:
        return str(ip)
    return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))


def _visitor(request: flask.Request, token: str | None, visitors: VisitorIds) -> str:
    """The browser's visitor id; a new one (remembered for the answer's cookie) when it has none."""
    already = minted_visitor(request)
    if already is not None:
        return already
    visitor = visitors.verify(token) if token else None
    if visitor is None:
        visitor, signed = visitors.issue()
        remember_visitor(request, visitor, signed)
    return visitor


def resolve_caller(
    request: flask.Request,
    trusted_hops: int,
    verifier: Verifier,
    users: UserStore | None,
    visitors: VisitorIds,
    ipv6_prefix: int = 64,
) -> Caller:
    ip = network_of(client_ip(request, trusted_hops), ipv6_prefix)
    token = credential(request)
    identity = verifier.verify(token) if token else None
    if identity is None:
        return Caller(key=f"anon:{_visitor(request, token, visitors)}", tier="anonymous", ip=ip)
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
        budget_override=record.budget_override,
    )
