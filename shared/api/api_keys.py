"""A user's gateway API keys (paths relative to ``/api/v1/user``; served by the ``user`` function).

The secret is answered once, when the key is made; lists show its first characters. These routes
take a Firebase sign-in (the session cookie or an ID token), never a gateway key: a leaked key
cannot make more keys, or outlive its revocation by minting one.
"""

from __future__ import annotations

from typing import Any

from shared import http, wiring
from shared.money_models import ApiKeyList, ApiKeyRequest, ApiKeyView, NewApiKeyAnswer

SIGNED_IN = (401, 503)


def _view(record: Any) -> dict[str, Any]:  # a stored ApiKeyRecord
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
    }


def _create(call: http.Call) -> http.Reply:
    services = wiring.services()
    body: ApiKeyRequest = call.body
    made = services.api_keys.create(services.account(call.request).user_id, body.name)
    return http.Reply(NewApiKeyAnswer(**_view(made.record), secret=made.secret), status=201)


def _list(call: http.Call) -> http.Reply:
    services = wiring.services()
    keys = services.api_keys.list(services.account(call.request).user_id)
    return http.Reply(ApiKeyList(keys=[ApiKeyView(**_view(k)) for k in keys]))


def _revoke(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.api_keys.revoke(services.account(call.request).user_id, call.params["key_id"])
    return http.Reply(None, status=204)


ROUTES = [
    http.post(
        "/api-keys",
        _create,
        body=ApiKeyRequest,
        answer=NewApiKeyAnswer,
        status=201,
        summary="Make a gateway API key (sk-gw-…) for /v1: the secret is shown once",
        tag="user",
        errors=(*SIGNED_IN, 409),
    ),
    http.get("/api-keys", _list, answer=ApiKeyList, summary="Your gateway API keys (never the secret)", tag="user",
             errors=SIGNED_IN),
    http.delete("/api-keys/<key_id>", _revoke, summary="Revoke a gateway API key", tag="user",
                errors=(*SIGNED_IN, 404)),
]
