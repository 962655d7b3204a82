"""Who is calling: the Firebase account the request's credential proves, else a one-off caller.

* ``Caller.key`` owns jobs: ``user:<uid>`` for every Firebase account, anonymous ones included
  (Firebase anonymous sign-in gives each browser its own uid; linking it to an email or Google
  account keeps the uid, so the jobs stay). Visitors behind one address (carrier NAT, an office)
  never see each other's jobs.
* A request with no valid credential (curl, a script) is ``anon:<random>``: a new owner on every
  request, so it can submit and follow each job by its id (the capability) but lists nothing.
* ``Caller.ip`` = the network address (an IPv4 address, or the IPv6 network of
  ``IPV6_PREFIX_LENGTH`` bits, /64 by default) keys the limits of every anonymous-tier caller and
  abuse blocks, so a new anonymous account, or clearing cookies, buys nothing.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
from typing import Protocol

import flask

from shared.auth import Verifier, authenticate
from shared.domain import Caller, Identity
from shared.stores.base import UserRecord


class Accounts(Protocol):
    def record_for(self, identity: Identity) -> UserRecord | None:
        """The signed-in user's record (made on first sight); None when the identity no longer
        counts (signed out after the token was issued)."""


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


@functools.lru_cache(maxsize=4096)  # a pure function of its arguments; parsing costs more than the lookup
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


def resolve_caller(
    request: flask.Request,
    trusted_hops: int,
    verifier: Verifier,
    accounts: Accounts | None,
    ipv6_prefix: int = 64,
) -> Caller:
    ip = network_of(client_ip(request, trusted_hops), ipv6_prefix)
    identity = authenticate(request, verifier)
    record = None
    if identity is not None and not identity.anonymous and accounts is not None:
        record = accounts.record_for(identity)
        if record is None:
            identity = None
    if identity is None:
        return Caller(key=f"anon:{secrets.token_urlsafe(18)}", tier="anonymous", ip=ip)
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
        admin=identity.admin,
    )
