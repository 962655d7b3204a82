"""Text generation (chat, prompt enhancement): a direct answer or a stream of events.

Response cache: a text request whose route holds a paid provider is looked up by the SHA-256
of its canonical form (the (provider, model) route, messages, max_tokens, temperature; and the
caller, when their own key serves it) and, within ``TEXT_CACHE_TTL_SECONDS``, answered from the
store without calling the vendor; a stream is then replayed from the cached text. Only complete
answers from paid providers are stored. BYOK: a signed-in caller's own key serves their request
(see ``shared.providers.byok``); its failures are reported as the key's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from shared import errors
from shared.clock import Clock, SystemClock
from shared.domain import Caller
from shared.models import TextAnswer, TextRequest, TextUsage
from shared.providers.base import ErrorKind, ProviderError
from shared.providers.base import TextRequest as ProviderTextRequest
from shared.providers.byok import UNREADABLE, user_key_failure
from shared.providers.router import ProviderRouter, Served
from shared.stores.base import CacheStore, UnreadableKey, UserKeyStore

log = logging.getLogger("gateway.text")

Event = tuple[str | None, dict[str, Any]]
_WORDS = re.compile(r"\s*\S+\s*|\s+")


def refusal(exc: ProviderError) -> errors.AppError:
    """Our own words for a provider failure; the vendor's text never reaches the user."""
    retry = int(exc.retry_after) if exc.retry_after else 10
    failure = user_key_failure(exc)
    if failure is not None:
        error_type, message = failure
        if error_type == "user_key_rate_limited":
            return errors.UserKeyRateLimited(message, retry_after=retry)
        return errors.UserKeyRejected(message)
    if exc.kind is ErrorKind.MODERATION:
        return errors.ContentPolicy()
    if exc.kind is ErrorKind.BAD_REQUEST:
        return errors.BadRequest("The provider could not process this request.")
    return errors.ProviderUnavailable(retry_after=retry)


def cache_key(route: list[tuple[str, str]], request: ProviderTextRequest, scope: str | None) -> str:
    canonical = {
        "route": [list(pair) for pair in route],
        "messages": [[m.role, m.content] for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "scope": scope,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class TextService:
    def __init__(
        self,
        router: ProviderRouter,
        cache: CacheStore | None = None,
        clock: Clock | None = None,
        cache_ttl_seconds: float = 0.0,
        user_keys: UserKeyStore | None = None,
    ) -> None:
        self.router = router
        self.cache = cache
        self.clock = clock or SystemClock()
        self.cache_ttl = cache_ttl_seconds
        self.user_keys = user_keys

    @staticmethod
    def _request(body: TextRequest) -> ProviderTextRequest:
        return ProviderTextRequest(body.as_messages(), body.max_tokens, body.temperature)

    def _keys(self, caller: Caller | None) -> dict[str, str]:
        if caller is None or caller.user_id is None or self.user_keys is None:
            return {}
        try:
            return self.user_keys.keys_for(caller.user_id)
        except UnreadableKey as exc:
            raise errors.UserKeyUnreadable(UNREADABLE.format(provider=exc.provider)) from None

    def _cache_key(
        self, request: ProviderTextRequest, body: TextRequest, keys: Mapping[str, str], caller: Caller | None
    ) -> str | None:
        if self.cache is None or self.cache_ttl <= 0:
            return None
        route = self.router.text_route(body.provider, keys)
        if route is None:
            return None
        pairs, own = route
        return cache_key(pairs, request, caller.key if own and caller is not None else None)

    def _lookup(
        self, request: ProviderTextRequest, body: TextRequest, keys: Mapping[str, str], caller: Caller | None
    ) -> tuple[str | None, dict[str, Any] | None]:
        """The request's cache key (None = not cached) and the cached answer, if any."""
        key = self._cache_key(request, body, keys, caller)
        if key is None or self.cache is None:
            return key, None
        return key, self.cache.get(key, self.clock.now())

    def _paid(self, served: Served) -> bool:
        provider = self.router.providers.get(served.provider)
        return served.user_key or bool(provider is not None and provider.paid)

    def _keep(self, key: str | None, served: Served, value: dict[str, Any]) -> None:
        if key is not None and self.cache is not None and self._paid(served):
            self.cache.put(key, value, self.clock.now() + self.cache_ttl)

    def complete(self, body: TextRequest, caller: Caller | None = None) -> TextAnswer:
        request = self._request(body)
        keys = self._keys(caller)
        try:
            key, hit = self._lookup(request, body, keys, caller)
            if hit is not None:
                return TextAnswer(**hit, cached=True)
            served, output = self.router.complete(request, body.provider, keys)
        except ProviderError as exc:
            raise refusal(exc) from None
        answer = TextAnswer(
            text=output.text,
            provider=served.provider,
            model=output.model,
            usage=TextUsage(prompt_tokens=output.prompt_tokens, completion_tokens=output.completion_tokens),
        )
        self._keep(key, served, answer.model_dump(exclude={"cached"}))
        return answer

    def stream(self, body: TextRequest, caller: Caller | None = None) -> Iterator[Event]:
        """Open the upstream stream now (so a refusal is a normal error answer), then yield events."""
        request = self._request(body)
        keys = self._keys(caller)
        try:
            key, hit = self._lookup(request, body, keys, caller)
            if hit is not None:
                return self._replay(hit)
            served, chunks = self.router.stream(request, body.provider, keys)
            first = next(chunks, None)
        except ProviderError as exc:
            raise refusal(exc) from None
        return self._events(served, first, chunks, key)

    @staticmethod
    def _replay(hit: dict[str, Any]) -> Iterator[Event]:
        yield "start", {"provider": hit["provider"], "model": hit["model"], "cached": True}
        parts = _WORDS.findall(hit["text"])
        for part in parts:
            yield None, {"delta": part}
        yield "done", {"chunks": len(parts)}

    def _events(self, served: Served, first: str | None, chunks: Iterator[str], key: str | None) -> Iterator[Event]:
        yield "start", {"provider": served.provider, "model": served.model}
        parts: list[str] = []
        try:
            if first is not None:
                parts.append(first)
                yield None, {"delta": first}
            for chunk in chunks:
                parts.append(chunk)
                yield None, {"delta": chunk}
        except ProviderError as exc:
            log.warning("stream broke midway", extra={"fields": {"provider": served.provider, "kind": exc.kind.value}})
            yield (
                "error",
                {
                    "error_type": "stream_interrupted",
                    "message": "The provider stopped answering midway; the text above is incomplete.",
                },
            )
            return
        usage = {"prompt_tokens": 0, "completion_tokens": 0}  # a stream reports none
        self._keep(
            key, served, {"text": "".join(parts), "provider": served.provider, "model": served.model, "usage": usage}
        )
        yield "done", {"chunks": len(parts)}
