"""The admin API's accounts and payments routes (paths relative to ``/api/v1/admin``), served by the
``admin`` function's route table (``shared/api/admin.py`` adds ``ROUTES``).

Every route calls ``wiring.services().admin(request)`` first: 401 without sign-in (or with an
anonymous account), 403 without the ``admin`` claim; only then is anything else read.
"""

from __future__ import annotations

from typing import Any

from shared import http, wiring
from shared.money_models import (
    AdminUserAnswer,
    SubscriptionPage,
    SubscriptionQuery,
    SubscriptionView,
    TaskAnswer,
    TaskRequest,
    TierRequest,
    UserQuery,
)

ADMIN = (401, 403)




def _subscriptions(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.admin(call.request)
    query = http.query(call, SubscriptionQuery)
    payments = services.payments
    items, cursor = payments.page(query.status, query.cursor, query.limit)
    views = [
        SubscriptionView(
            id=s.id,
            uid=s.user_id,
            plan=s.plan,
            tier=s.tier,
            price=s.price,
            days=s.days,
            status=payments.status_of(s),
            created_at=s.created_at,
            activated_at=s.activated_at,
            expires_at=s.expires_at,
            ended_at=s.ended_at,
        )
        for s in items
    ]
    return http.Reply(SubscriptionPage(subscriptions=views, next_cursor=cursor))


def _user(record: Any) -> AdminUserAnswer:  # a user record (shared.stores.base.UserRecord)
    return AdminUserAnswer(
        uid=record.id,
        email=record.email,
        tier=record.tier,
        tier_expires_at=record.tier_expires_at,
        created_at=record.created_at,
        last_active=record.last_active,
        limit_override=record.limit_override,
        text_limit_override=record.text_limit_override,
        budget_override=record.budget_override,
    )


def _find_user(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.admin(call.request)
    query = http.query(call, UserQuery)
    return http.Reply(_user(services.admin_tasks.find_user(query.email)))


def _set_tier(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.admin(call.request)
    body: TierRequest = call.body
    return http.Reply(_user(services.admin_tasks.set_tier(call.params["uid"], body.tier, body.expires_at)))


def _task(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.admin(call.request)
    body: TaskRequest = call.body
    name = call.params["name"]
    return http.Reply(TaskAnswer(task=name, result=services.admin_tasks.run(name, body.month, body.cursor)))


def _revoke_key(call: http.Call) -> http.Reply:
    services = wiring.services()
    services.admin(call.request)
    services.api_keys.revoke_any(call.params["key_id"])
    return http.Reply(None, status=204)


ROUTES = [
    http.get(
        "/subscriptions",
        _subscriptions,
        answer=SubscriptionPage,
        query=SubscriptionQuery,
        summary="Subscriptions, newest first, a page at a time",
        tag="admin",
        errors=(*ADMIN, 422),
    ),
    http.get(
        "/users",
        _find_user,
        answer=AdminUserAnswer,
        query=UserQuery,
        summary="The user record of the account with this email",
        tag="admin",
        errors=(*ADMIN, 404, 422, 503),
    ),
    http.post(
        "/users/<uid>/tier",
        _set_tier,
        body=TierRequest,
        answer=AdminUserAnswer,
        summary="Set a user's tier (and when it ends); mirrored into the tier claim",
        tag="admin",
        errors=(*ADMIN, 404, 503),
    ),
    http.post(
        "/tasks/<name>",
        _task,
        body=TaskRequest,
        answer=TaskAnswer,
        summary="Run a task now: cleanup, billing {month, cursor?} (every user's bill) or backup",
        tag="admin",
        errors=(*ADMIN, 404),
    ),
    http.delete(
        "/api-keys/<key_id>",
        _revoke_key,
        summary="Revoke any user's gateway API key",
        tag="admin",
        errors=(*ADMIN, 404),
    ),
]
