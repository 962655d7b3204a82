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
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from shared.budget.rules import text_spent, text_tokens
from shared.clock import Clock
from shared.domain import Caller, ChatTurn, ProviderError, UnreadableKey
from shared.errors import AppError
from shared.failures import provider_failure, unreadable_key
from shared.providers.base import TextRequest as ProviderTextRequest
from shared.providers.router import ProviderRouter, Served
from shared.stores.base import CacheStore, UserKeyStore

if TYPE_CHECKING:
    from shared.services.analytics import AnalyticsService
    from shared.services.budget import BudgetService, Gate
    from shared.services.usage import UsageService

log = logging.getLogger("gateway.text")

Event = tuple[str | None, dict[str, Any]]
_WORDS = re.compile(r"\s*\S+\s*|\s+")


@dataclass(frozen=True)
class TextQuery:
    """A text request: the conversation, its bounds, and the provider asked for (if any)."""

    messages: list[ChatTurn]
    max_tokens: int = 512
    temperature: float = 0.7
    provider: str | None = None

    @property
    def request(self) -> ProviderTextRequest:
        return ProviderTextRequest(self.messages, self.max_tokens, self.temperature)


@dataclass(frozen=True)
class TextResult:
    text: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False  # answered from the response cache: the provider was not called


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
        cache: CacheStore,
        clock: Clock,
        cache_ttl_seconds: float,
        user_keys: UserKeyStore,
        budget: BudgetService | None = None,
        usage: UsageService | None = None,
        analytics: AnalyticsService | None = None,
    ) -> None:
        self.analytics = analytics  # one counter write per answer or refusal (README "Analytics")
        self.budget = budget  # the spend guard: a paid provider is reserved for before it is called
        self.usage = usage  # every answer is recorded for its caller (one write)
        self.router = router
        self.cache = cache
        self.clock = clock
        self.cache_ttl = cache_ttl_seconds
        self.user_keys = user_keys

    def _keys(self, caller: Caller | None) -> dict[str, str]:
        if caller is None or caller.user_id is None:
            return {}
        try:
            return self.user_keys.keys_for(caller.user_id)
        except UnreadableKey as exc:
            raise unreadable_key(exc) from None

    def _cache_key(self, query: TextQuery, keys: Mapping[str, str], caller: Caller | None) -> str | None:
        if self.cache_ttl <= 0:
            return None
        route = self.router.text_route(query.provider, keys)
        if route is None:
            return None
        pairs, own = route
        return cache_key(pairs, query.request, caller.key if own and caller is not None else None)

    def _lookup(
        self, query: TextQuery, keys: Mapping[str, str], caller: Caller | None
    ) -> tuple[str | None, dict[str, Any] | None]:
        """The request's cache key (None = not cached) and the cached answer, if any."""
        key = self._cache_key(query, keys, caller)
        if key is None:
            return key, None
        return key, self.cache.get(key, self.clock.now())

    def _paid(self, served: Served) -> bool:
        provider = self.router.providers.get(served.provider)
        return served.user_key or bool(provider is not None and provider.paid)

    def _keep(self, key: str | None, served: Served, result: TextResult) -> None:
        if key is not None and self._paid(served):
            self.cache.put(key, _cached(result), self.clock.now() + self.cache_ttl)

    def _gate(self, query: TextQuery, caller: Caller | None) -> Gate | None:
        if self.budget is None or not self.budget.enabled:
            return None
        return self.budget.text_gate(caller, [m.content for m in query.messages], query.max_tokens)

    @staticmethod
    def _refused(exc: ProviderError, gate: Gate | None) -> AppError:
        gate_refused = gate is not None and gate.over_budget(exc)
        if gate is not None:
            gate.settle(None, 0.0)  # the vendor did not answer: nothing billed
        return gate.exhausted() if gate is not None and gate_refused else provider_failure(exc)

    @staticmethod
    def _spent(query: TextQuery, served: Served, prompt: int, completion: int, text: str) -> float:
        contents = [m.content for m in query.messages]
        return text_spent(served.unit_price, contents, prompt, completion, text)

    def _record(self, caller: Caller | None, result: TextResult, tokens: int, cost: float, started: float) -> None:
        if self.usage is not None:
            self.usage.record_text(caller, result.provider, result.model, tokens, cost, started, result.cached)
        if self.analytics is not None:
            self.analytics.text_finished(caller, result.provider, True, cost, started, result.cached)

    def _failed(self, caller: Caller | None, exc: ProviderError, gate: Gate | None, started: float) -> None:
        if self.analytics is not None:  # a budget refusal is no provider's failure
            provider = None if gate is not None and gate.over_budget(exc) else exc.provider
            self.analytics.text_finished(caller, provider, False, 0.0, started, False)

    def complete(self, query: TextQuery, caller: Caller | None = None) -> TextResult:
        started = self.clock.now()
        keys = self._keys(caller)
        gate = self._gate(query, caller)
        try:
            key, hit = self._lookup(query, keys, caller)
            if hit is not None:
                cached = replace(_result(hit), cached=True)
                self._record(caller, cached, cached.prompt_tokens + cached.completion_tokens, 0.0, started)
                return cached
            served, output = self.router.complete(query.request, query.provider, keys, allow=gate)
        except ProviderError as exc:
            self._failed(caller, exc, gate, started)
            raise self._refused(exc, gate) from None
        spent = self._spent(query, served, output.prompt_tokens, output.completion_tokens, output.text)
        if gate is not None:
            gate.settle(served.provider, spent)
        result = TextResult(output.text, served.provider, output.model, output.prompt_tokens, output.completion_tokens)
        self._keep(key, served, result)
        tokens = _tokens(query, output.prompt_tokens + output.completion_tokens, output.text)
        self._record(caller, result, tokens, spent, started)
        return result

    def stream(self, query: TextQuery, caller: Caller | None = None) -> Iterator[Event]:
        """Open the upstream stream now (so a refusal is a normal error answer), then yield events."""
        started = self.clock.now()
        keys = self._keys(caller)
        gate = self._gate(query, caller)
        try:
            key, hit = self._lookup(query, keys, caller)
            if hit is not None:
                cached = replace(_result(hit), cached=True)
                self._record(caller, cached, _tokens(query, 0, cached.text), 0.0, started)
                return self._replay(hit)
            served, chunks = self.router.stream(query.request, query.provider, keys, allow=gate)
            first = next(chunks, None)
        except ProviderError as exc:
            self._failed(caller, exc, gate, started)
            raise self._refused(exc, gate) from None
        events = self._recorded(self._events(served, first, chunks, key), query, served, caller, started)
        if gate is None or gate.current is None:
            return events
        return self._settled(events, query, served, gate)

    def _recorded(
        self, events: Iterator[Event], query: TextQuery, served: Served, caller: Caller | None, started: float
    ) -> Iterator[Event]:
        """The stream's events; when it completes, its usage is recorded (a stream reports no tokens)."""
        parts: list[str] = []
        for name, data in events:
            if name is None:
                parts.append(data["delta"])
            if name == "done":
                text = "".join(parts)
                result = TextResult(text, served.provider, served.model, 0, 0)
                self._record(caller, result, _tokens(query, 0, text), self._spent(query, served, 0, 0, text), started)
            yield name, data

    def _settled(self, events: Iterator[Event], query: TextQuery, served: Served, gate: Gate) -> Iterator[Event]:
        """The stream's events; at its end the reservation is settled to the text streamed (a
        stream reports no usage), and to all of it when the stream broke or was closed midway."""
        parts: list[str] = []
        complete = False
        try:
            for name, data in events:
                if name is None:
                    parts.append(data["delta"])
                complete = name == "done"
                yield name, data
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()  # a client gone midway: the upstream stream (and its throttle slot) ends now
            spent = self._spent(query, served, 0, 0, "".join(parts)) if complete else None
            gate.settle(served.provider, spent)

    @staticmethod
    def _replay(hit: dict[str, Any]) -> Iterator[Event]:
        yield "start", {"provider": hit["provider"], "model": hit["model"]}  # as a live stream: nothing says cached
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
        # a stream reports no usage
        self._keep(key, served, TextResult("".join(parts), served.provider, served.model, 0, 0))
        yield "done", {"chunks": len(parts)}


def _tokens(query: TextQuery, reported: int, text: str) -> int:
    """The tokens a request is billed: what the vendor reported, else a bound of what was sent and got."""
    return reported if reported > 0 else text_tokens([m.content for m in query.messages], 0) + len(text.encode())


def _cached(result: TextResult) -> dict[str, Any]:
    """What the response cache keeps of an answer (the stored shape of earlier releases)."""
    data = asdict(result)
    del data["cached"]
    usage = {"prompt_tokens": data.pop("prompt_tokens"), "completion_tokens": data.pop("completion_tokens")}
    return {**data, "usage": usage}


def _result(hit: dict[str, Any]) -> TextResult:
    usage = hit.get("usage") or {}
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return TextResult(hit["text"], hit["provider"], hit["model"], prompt, completion)
