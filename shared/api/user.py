"""Users: the record, their own provider keys, usage by month and the monthly bill."""

from __future__ import annotations

from shared import http, wiring
from shared.account_models import (
    BillAnswer,
    BillLineAnswer,
    BillRequest,
    KeyList,
    KeyRequest,
    KeyView,
    ModeUsage,
    UsageItem,
    UsagePageAnswer,
    UsageQuery,
    UserAnswer,
)
from shared.api import API_PREFIX
from shared.api.api_keys import ROUTES as API_KEY_ROUTES
from shared.services.usage import unit_of


def _me(call: http.Call) -> http.Reply:
    services = wiring.services()
    view = services.accounts.me(services.account(call.request))
    record = view.record
    overrides = {"media": record.limit_override, "text": record.text_limit_override}
    return http.Reply(
        UserAnswer(
            uid=record.id,
            email=record.email,
            tier=record.tier,
            tier_expires_at=record.tier_expires_at,
            usage_stats={m.value: ModeUsage(generations=n, cost_units=c) for m, (n, c) in view.usage_stats.items()},
            rate_limit_overrides={name: value for name, value in overrides.items() if value is not None},
            monthly_budget_units=record.budget_override,
            created_at=record.created_at,
            last_active=record.last_active,
        )
    )


def _keys(call: http.Call) -> http.Reply:
    services = wiring.services()
    stored = services.accounts.list_keys(services.account(call.request).user_id)
    return http.Reply(KeyList(keys=[KeyView(provider=k.provider, last4=k.hint, added_at=k.updated_at) for k in stored]))


def _put_key(call: http.Call) -> http.Reply:
    services = wiring.services()
    body: KeyRequest = call.body
    user = services.account(call.request)
    stored = services.accounts.put_key(user.user_id, call.params["provider"], body.api_key)
    return http.Reply(KeyView(provider=stored.provider, last4=stored.hint, added_at=stored.updated_at))


def _delete_key(call: http.Call) -> http.Reply:
    services = wiring.services()
    user = services.account(call.request)
    services.accounts.delete_key(user.user_id, call.params["provider"])
    return http.Reply(None, status=204)


def _usage(call: http.Call) -> http.Reply:
    services = wiring.services()
    user = services.account(call.request)
    args = call.request.args  # checked by the use case: a bad month or cursor is a 422
    page = services.usage.page(user.user_id, args.get("month"), args.get("cursor"))
    items = [
        UsageItem(
            id=r.id,
            at=r.at,
            mode=r.mode.value,
            provider=r.provider,
            model=r.model,
            duration_seconds=round(r.duration, 3),
            cost_units=r.cost_units,
            quantity=r.quantity,
            unit=unit_of(r.mode),
            cached=r.cached,
        )
        for r in page.items
    ]
    return http.Reply(UsagePageAnswer(month=page.month, items=items, next_cursor=page.next_cursor))


def _bill(call: http.Call) -> http.Reply:
    services = wiring.services()
    body: BillRequest = call.body
    bill = services.usage.bill(services.account(call.request).user_id, body.month)
    lines = [
        BillLineAnswer(
            mode=line.mode.value,
            provider=line.provider,
            generations=line.generations,
            quantity=line.quantity,
            unit=unit_of(line.mode),
            cost_units=line.cost_units,
        )
        for line in bill.lines
    ]
    answer = BillAnswer(
        month=bill.month,
        lines=lines,
        by_mode=bill.by_mode,
        by_provider=bill.by_provider,
        generations=bill.generations,
        total_units=bill.total_units,
    )
    return http.Reply(answer)


SIGNED_IN = (401, 503)
api = http.Api(
    "user",
    f"{API_PREFIX}/user",
    [
        http.get("/me", _me, answer=UserAnswer, summary="Your user record", tag="user", errors=SIGNED_IN),
        http.get("/keys", _keys, answer=KeyList, summary="Your own keys (never the key)", tag="user", errors=SIGNED_IN),
        http.put(
            "/keys/<provider>",
            _put_key,
            body=KeyRequest,
            answer=KeyView,
            summary="Store your own key for a provider, after checking it with the provider",
            tag="user",
            errors=(*SIGNED_IN, 404),
        ),
        http.delete("/keys/<provider>", _delete_key, summary="Remove your key", tag="user", errors=(*SIGNED_IN, 404)),
        http.get(
            "/usage",
            _usage,
            answer=UsagePageAnswer,
            summary="Your generations in a month, newest first, a page at a time",
            tag="user",
            errors=(*SIGNED_IN, 422),
            query=UsageQuery,
        ),
        http.post(
            "/billing/calculate",
            _bill,
            body=BillRequest,
            answer=BillAnswer,
            summary="Your bill for a month, from the recorded cost units",
            tag="user",
            errors=SIGNED_IN,
        ),
        *API_KEY_ROUTES,  # gateway API keys (shared/api/api_keys.py)
    ],
    wiring.settings,
)
