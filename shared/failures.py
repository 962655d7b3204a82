"""The one mapping from a provider failure to what the caller sees: ``error_type``, status, message.

The job runner records ``error_type`` and ``message`` on the failed job; the text path raises
the error as the request's answer. Either way the words are ours: a vendor's text never reaches
the caller.
"""

from __future__ import annotations

from shared import errors
from shared.domain import ErrorKind, ProviderError, UnreadableKey

_USER_KEY = {
    ErrorKind.AUTH: "{provider} rejected your own API key. Check or replace it in your account.",
    ErrorKind.QUOTA: "Your own {provider} API key is out of credit or quota. Top it up with {provider} or remove it.",
    ErrorKind.RATE_LIMITED: "{provider} is rate limiting your own API key. Please try again later.",
}
_UNREADABLE = "Your stored {provider} API key could not be read. Please store it again."
DEFAULT_RETRY = 10


def _user_key_failure(exc: ProviderError) -> errors.AppError | None:
    if not exc.user_key or exc.kind not in _USER_KEY:
        return None
    message = _USER_KEY[exc.kind].format(provider=exc.provider or "The provider")
    if exc.kind is ErrorKind.RATE_LIMITED:
        return errors.UserKeyRateLimited(message, retry_after=_retry(exc))
    return errors.UserKeyRejected(message)


def _retry(exc: ProviderError) -> int:
    return int(exc.retry_after) if exc.retry_after else DEFAULT_RETRY


def provider_failure(exc: ProviderError) -> errors.AppError:
    """What the caller is told about ``exc``."""
    own = _user_key_failure(exc)
    if own is not None:
        return own
    if exc.kind is ErrorKind.MODERATION:
        return errors.ContentPolicy()
    if exc.kind is ErrorKind.BAD_REQUEST:
        return errors.ProviderRejected()
    if exc.kind is ErrorKind.BAD_OUTPUT:
        return errors.BadProviderOutput()
    return errors.ProviderUnavailable(retry_after=_retry(exc))


def unreadable_key(exc: UnreadableKey) -> errors.AppError:
    return errors.UserKeyUnreadable(_UNREADABLE.format(provider=exc.provider))


def job_error(error: errors.AppError) -> dict[str, str]:
    """How a failure is kept on a failed job."""
    return {"error_type": error.error_type, "message": error.message}


def job_failure(error: dict[str, str] | None) -> errors.AppError:
    """What a failed job recorded (``job_error``), raised again as the error that made it: for
    callers that waited for the job instead of polling it. The status comes from the type."""
    error = error or {}
    cls = errors.by_type(error.get("error_type", ""))
    retry = DEFAULT_RETRY if cls.status in (429, 503) else None
    return cls(error.get("message") or None, retry_after=retry)
