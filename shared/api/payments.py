"""Payments: the plans, subscribe (-> the external checkout page), and the payment provider's signed webhook."""

from __future__ import annotations

from shared import errors, http, wiring
from shared.api import API_PREFIX
from shared.money_models import CheckoutAnswer, PlanList, PlanView, SubscribeRequest, WebhookAnswer


def _plans(call: http.Call) -> http.Reply:
    p = call.settings.payment
    plans = [PlanView(name=x.name, tier=x.tier, price=x.price, currency=p.currency, days=x.days)
             for x in p.plans.values()]
    return http.Reply(PlanList(plans=plans, checkout=bool(p.checkout_url)))


def _subscribe(call: http.Call) -> http.Reply:
    services = wiring.services()
    body: SubscribeRequest = call.body
    user = services.account(call.request)  # a signed-in account (not an anonymous one): 401
    checkout = services.payments.subscribe(user.user_id, user.email, body.plan)
    return http.Reply(CheckoutAnswer(checkout_url=checkout.url, request_id=checkout.request_id))


def _raw_body(call: http.Call) -> bytes:
    """The body exactly as sent (the signature covers these bytes), at most MAX_JSON_BYTES."""
    limit = call.settings.max_json_bytes
    if call.request.content_length is not None and call.request.content_length > limit:
        raise errors.PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB.")
    data: bytes = call.request.stream.read(limit + 1)
    if len(data) > limit:
        raise errors.PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB.")
    return data


def _webhook(call: http.Call) -> http.Reply:
    body = _raw_body(call)
    outcome = wiring.services().payments.webhook(body, call.header("X-Signature"))
    return http.Reply(WebhookAnswer(result=outcome.result))


api = http.Api(
    "payments",
    API_PREFIX,
    [
        http.get("/plans", _plans, answer=PlanList, summary="The plans one can subscribe to", tag="payments"),
        http.post(
            "/subscribe",
            _subscribe,
            body=SubscribeRequest,
            answer=CheckoutAnswer,
            summary="Subscribe to a plan: a pending request and the payment page to complete it on",
            tag="payments",
            errors=(401, 503),
        ),
        http.post(
            "/webhooks/payment",
            _webhook,
            answer=WebhookAnswer,
            summary="The payment provider's events, signed: X-Signature t=<unix seconds>,v1=<HMAC-SHA256 hex>",
            tag="payments",
            errors=(400, 413),
        ),
    ],
    wiring.settings,
)
