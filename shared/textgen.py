"""Text generation (chat, prompt enhancement): a direct answer or a stream of events."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from shared import errors
from shared.models import TextAnswer, TextRequest, TextUsage
from shared.providers.base import ErrorKind, ProviderError
from shared.providers.base import TextRequest as ProviderTextRequest
from shared.providers.router import ProviderRouter

log = logging.getLogger("gateway.text")

Event = tuple[str | None, dict[str, Any]]


def refusal(exc: ProviderError) -> errors.AppError:
    """Our own words for a provider failure; the vendor's text never reaches the user."""
    if exc.kind is ErrorKind.MODERATION:
        return errors.ContentPolicy()
    if exc.kind is ErrorKind.BAD_REQUEST:
        return errors.BadRequest("The provider could not process this request.")
    retry = int(exc.retry_after) if exc.retry_after else 10
    return errors.ProviderUnavailable(retry_after=retry)


class TextService:
    def __init__(self, router: ProviderRouter) -> None:
        self.router = router

    @staticmethod
    def _request(body: TextRequest) -> ProviderTextRequest:
        return ProviderTextRequest(body.as_messages(), body.max_tokens, body.temperature)

    def complete(self, body: TextRequest) -> TextAnswer:
        try:
            served, output = self.router.complete(self._request(body), body.provider)
        except ProviderError as exc:
            raise refusal(exc) from None
        return TextAnswer(
            text=output.text,
            provider=served.provider,
            model=output.model,
            usage=TextUsage(prompt_tokens=output.prompt_tokens, completion_tokens=output.completion_tokens),
        )

    def stream(self, body: TextRequest) -> Iterator[Event]:
        """Open the upstream stream now (so a refusal is a normal error answer), then yield events."""
        try:
            served, chunks = self.router.stream(self._request(body), body.provider)
            first = next(chunks, None)
        except ProviderError as exc:
            raise refusal(exc) from None
        return self._events(served.provider, served.model, first, chunks)

    @staticmethod
    def _events(provider: str, model: str, first: str | None, chunks: Iterator[str]) -> Iterator[Event]:
        yield "start", {"provider": provider, "model": model}
        count = 0
        try:
            if first is not None:
                count += 1
                yield None, {"delta": first}
            for chunk in chunks:
                count += 1
                yield None, {"delta": chunk}
        except ProviderError as exc:
            log.warning("stream broke midway", extra={"fields": {"provider": provider, "kind": exc.kind.value}})
            yield (
                "error",
                {
                    "error_type": "stream_interrupted",
                    "message": "The provider stopped answering midway; the text above is incomplete.",
                },
            )
            return
        yield "done", {"chunks": count}
