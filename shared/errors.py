"""One error hierarchy. Each class maps to one HTTP status and one ``error_type``.

Handlers raise these; only ``shared.http`` turns them into the error envelope.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 500
    error_type: str = "internal_error"
    default_message: str = "Something went wrong on our side. Please try again in a moment."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.retry_after = retry_after
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(AppError):
    status = 400
    error_type = "bad_request"
    default_message = "The request could not be read."


class Unauthorized(AppError):
    status = 401
    error_type = "unauthorized"
    default_message = "Please sign in to do this."


class Forbidden(AppError):
    status = 403
    error_type = "forbidden"
    default_message = "You are not allowed to do this."


class NotFound(AppError):
    status = 404
    error_type = "not_found"
    default_message = "Nothing was found at this address."


class MethodNotAllowed(AppError):
    status = 405
    error_type = "method_not_allowed"
    default_message = "This method is not allowed here."


class Conflict(AppError):
    status = 409
    error_type = "conflict"
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(AppError):
    status = 413
    error_type = "payload_too_large"
    default_message = "The request body is too large."


class UnsupportedMediaType(AppError):
    status = 415
    error_type = "unsupported_media_type"
    default_message = "This content type is not supported."


class ValidationFailed(AppError):
    status = 422
    error_type = "validation_error"
    default_message = "Some fields are missing or invalid."


class IdempotencyKeyReused(ValidationFailed):
    error_type = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used for a different request. Use a new key."


class ContentPolicy(AppError):
    status = 422
    error_type = "content_policy"
    default_message = "The provider refused this prompt or image under its content policy. Try rewording it."


class ProviderRejected(BadRequest):
    default_message = "The provider could not process this request."


class BadProviderOutput(AppError):
    status = 502
    error_type = "bad_provider_output"
    default_message = "The provider answered with something other than the image or video it claimed."


class RateLimited(AppError):
    status = 429
    error_type = "rate_limited"
    default_message = "You are sending requests too quickly."


class AbuseBlocked(AppError):
    status = 429
    error_type = "abuse_blocked"
    default_message = "Too many refused requests came from your address; it is blocked for a while."


class BudgetExhausted(AppError):
    status = 429
    error_type = "budget_exhausted"
    default_message = "The budget for paid generations is used up for now. Please try again after it resets."


class ServerBusy(AppError):
    status = 503
    error_type = "server_busy"
    default_message = "The queue is full right now. Please try again shortly."


class ProviderUnavailable(AppError):
    status = 503
    error_type = "provider_unavailable"
    default_message = "No generation provider is available right now. Please try again shortly."


class UserKeyRejected(AppError):
    status = 424  # the request depended on the caller's own provider key, which failed
    error_type = "user_key_rejected"
    default_message = "The provider rejected your own API key. Check or replace it in your account."


class UserKeyRateLimited(AppError):
    status = 429
    error_type = "user_key_rate_limited"
    default_message = "The provider is rate limiting your own API key. Please try again later."


class UserKeyUnreadable(AppError):
    status = 424
    error_type = "user_key_unreadable"
    default_message = "Your stored API key could not be read. Please store it again."


class ModelNotFound(NotFound):
    error_type = "model_not_found"
    default_message = "This model is not offered here. GET /v1/models lists the models."


class UnsupportedParameter(BadRequest):
    error_type = "unsupported_parameter"
    default_message = "A parameter of this request is not supported here."


class JobTimeout(AppError):
    status = 504  # the job goes on: its id (in ``details``) lets the caller fetch the result later
    error_type = "job_timeout"
    default_message = "The job did not finish in time; it is still queued or running."


def by_type(error_type: str) -> type[AppError]:
    """The class that answers ``error_type`` (a failed job keeps only the type and message)."""
    pending: list[type[AppError]] = [AppError]
    found: dict[str, type[AppError]] = {}
    while pending:
        cls = pending.pop()
        found.setdefault(cls.error_type, cls)
        pending.extend(cls.__subclasses__())
    return found.get(error_type, AppError)
