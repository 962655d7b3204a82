"""Which provider serves a mode, in what order, and failover between them.

A route is an ordered list of provider names per mode (configuration). Unavailable, quota,
rate-limited and key errors fail over to the next provider; moderation refusals and bad
requests never do: another vendor would not make them right. A provider whose circuit is open
is skipped; a paid provider/model with no price is never routed. Once an async vendor has
accepted a video task, the job stays with it (failing over would pay twice). A caller's own
key (``user_keys``, see ``shared.providers.byok``) replaces all of this with one provider.

Every media result, whichever provider made it and with whose key, passes ``check_output``
before it leaves the router: a result that is not the image or video it claims is
``BAD_OUTPUT`` (no failover, no breaker: the vendor answered, and charged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from itertools import chain
from typing import TypeVar, cast

from shared.clock import Clock
from shared.domain import Mode
from shared.providers.base import (
    ErrorKind,
    GenerationRequest,
    JobContext,
    MediaOutput,
    Provider,
    ProviderError,
    TextOutput,
    TextRequest,
)
from shared.providers.byok import UserKeyProviders, tagged
from shared.providers.guards import CircuitBreaker, Throttle
from shared.providers.results import OutputLimits, check_output

log = logging.getLogger("gateway.providers")
T = TypeVar("T")
# Asked right before each provider is called: an error to skip it with (failing over), or None to go
# ahead. The spend guard's (``shared.services.budget.Gate``) reserves budget for a paid provider here.
Allow = Callable[[Provider], ProviderError | None]


def _holding(chunks: Iterator[str], stack: ExitStack) -> Iterator[str]:
    """Yield the stream's chunks; release what ``stack`` holds when it ends or is closed."""
    try:
        yield from chunks
    finally:
        stack.close()


@dataclass(frozen=True)
class Served:
    provider: str
    model: str
    unit_price: float = 1.0
    user_key: bool = False  # served with the caller's own key (the platform paid nothing)


class ProviderRouter:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        routes: Mapping[Mode, list[str]],
        max_concurrent: int = 2,
        *,
        clock: Clock,
        throttles: Mapping[str, Throttle] | None = None,
        breaker: CircuitBreaker | None = None,
        prices: Mapping[str, float] | None = None,
        byok: UserKeyProviders | None = None,
        limits: OutputLimits | None = None,
    ) -> None:
        """``throttles`` per provider name (default: ``max_concurrent`` calls at once, no rate cap);
        ``limits``: how large a result may be (default ``OutputLimits()``)."""
        self.providers = dict(providers)
        self.routes = {mode: [n for n in names if n in self.providers] for mode, names in routes.items()}
        self.limits = limits or OutputLimits()
        self.throttles = {
            name: (throttles or {}).get(name) or Throttle(name, 0, max_concurrent, clock, 0.0)
            for name in self.providers
        }
        self.breaker = breaker
        self.prices = dict(prices or {})
        self.byok = byok

    def price(self, provider: Provider, mode: Mode) -> float | None:
        """Cost units per unit of output (image, video second, 1K text tokens); None = unpriced."""
        price = self.prices.get(f"{provider.name}/{provider.model_for(mode)}")
        if price is None and not provider.paid:
            return 1.0
        return price

    def route(self, mode: Mode, preferred: str | None = None, resume: str | None = None) -> list[Provider]:
        names = [n for n in self.routes.get(mode, []) if self.price(self.providers[n], mode) is not None]
        if preferred:
            if preferred not in names:
                raise ProviderError(ErrorKind.BAD_REQUEST, f"Provider '{preferred}' is not available for {mode.value}.")
            names.remove(preferred)
            names.insert(0, preferred)
        if resume in names:
            names.remove(resume)
            names.insert(0, resume)
        if not names:
            raise ProviderError(ErrorKind.UNAVAILABLE, f"No provider is configured for {mode.value}.")
        return [self.providers[n] for n in names]

    def states(self) -> dict[str, str]:
        return self.breaker.states() if self.breaker else {}

    def unhealthy_share(self) -> float:
        """The share of providers whose breaker is not closed: the load figure's provider signal."""
        if not self.providers:
            return 1.0
        states = self.states()
        return sum(states.get(name, "closed") != "closed" for name in self.providers) / len(self.providers)

    def _call(self, name: str, provider: Provider, call: Callable[[Provider], T], hold: bool) -> T:
        """Call inside the provider's throttle slot; with ``hold`` (a stream) the slot is kept
        until the stream is exhausted or closed, so a vendor's concurrency cap counts open streams.
        A stream's first chunk is read here: one that breaks before any text fails over like a refused call."""
        if not hold:
            with self.throttles[name].slot():
                return call(provider)
        stack = ExitStack()
        stack.enter_context(self.throttles[name].slot())
        try:
            chunks = cast(Iterator[str], call(provider))
            first = next(chunks, None)
        except BaseException:
            stack.close()
            raise
        return cast(T, _holding(chain([] if first is None else [first], chunks), stack))

    def _attempt(
        self,
        mode: Mode,
        providers: list[Provider],
        call: Callable[[Provider], T],
        sticky: Callable[[str], bool],
        hold: bool = False,
        allow: Allow | None = None,
    ) -> tuple[Served, T]:
        known = self.breaker.snapshot() if self.breaker else {}
        last: ProviderError | None = None
        for provider in providers:
            name = provider.name
            if self.breaker and not self.breaker.admit(name, known):
                last = ProviderError(ErrorKind.UNAVAILABLE, "The provider's circuit is open.", provider=name)
                continue
            refusal = allow(provider) if allow is not None else None
            if refusal is not None:
                last = refusal
                continue
            try:
                output = self._call(name, provider, call, hold)
            except ProviderError as exc:
                exc.provider = exc.provider or name
                if self.breaker and exc.kind is ErrorKind.UNAVAILABLE:
                    self.breaker.failed(name)
                if not exc.kind.fails_over or sticky(name):
                    raise
                log.warning(
                    "provider failed, trying the next", extra={"fields": {"provider": name, "kind": exc.kind.value}}
                )
                last = exc
                continue
            if self.breaker:
                self.breaker.succeeded(name, known)
            price = self.price(provider, mode)
            return Served(name, provider.model_for(mode), 1.0 if price is None else price), output
        assert last is not None
        raise last

    def _own(self, mode: Mode, preferred: str | None, user_keys: Mapping[str, str] | None) -> Provider | None:
        if not user_keys or self.byok is None:
            return None
        return self.byok.pick(mode, user_keys, preferred)

    @staticmethod
    def _with_own_key(mode: Mode, provider: Provider, call: Callable[[Provider], T]) -> tuple[Served, T]:
        """One call with the caller's key: no other provider, no platform key, errors marked as the key's."""
        try:
            output = call(provider)
        except ProviderError as exc:
            exc.provider = exc.provider or provider.name
            exc.user_key = True
            raise
        return Served(provider.name, provider.model_for(mode), 0.0, user_key=True), output

    def generate(
        self,
        request: GenerationRequest,
        context: JobContext,
        preferred: str | None = None,
        user_keys: Mapping[str, str] | None = None,
        allow: Allow | None = None,
    ) -> tuple[Served, MediaOutput]:
        own = self._own(request.mode, preferred, user_keys)
        if own is not None:
            served, output = self._with_own_key(
                request.mode, own, lambda p: p.generate(request, context.for_provider(p.name))
            )
            return served, self._checked(served, request.mode, output)
        accepted: set[str] = set()
        if context.resume_provider and context.resume_task_id:
            accepted.add(context.resume_provider)

        def save(provider: str, task_id: str) -> None:
            accepted.add(provider)
            context.save_task(provider, task_id)

        tracked = replace(context, save_task=save)
        providers = self.route(request.mode, preferred, context.resume_provider)
        served, output = self._attempt(
            request.mode,
            providers,
            lambda p: p.generate(request, tracked.for_provider(p.name)),
            lambda name: request.mode.is_video and name in accepted,
            allow=allow,
        )
        return served, self._checked(served, request.mode, output)

    def _checked(self, served: Served, mode: Mode, output: MediaOutput) -> MediaOutput:
        """``output`` as it really is, or ``BAD_OUTPUT`` marked as ``served``'s."""
        try:
            return check_output(output, mode, self.limits)
        except ProviderError as exc:
            exc.provider, exc.user_key = served.provider, served.user_key
            log.warning(
                "provider result refused", extra={"fields": {"provider": served.provider, "kind": exc.kind.value}}
            )
            raise

    def complete(
        self,
        request: TextRequest,
        preferred: str | None = None,
        user_keys: Mapping[str, str] | None = None,
        allow: Allow | None = None,
    ) -> tuple[Served, TextOutput]:
        own = self._own(Mode.TEXT, preferred, user_keys)
        if own is not None:
            served, output = self._with_own_key(Mode.TEXT, own, lambda p: p.complete(request))
        else:
            providers = self.route(Mode.TEXT, preferred)
            served, output = self._attempt(
                Mode.TEXT, providers, lambda p: p.complete(request), lambda _name: False, allow=allow
            )
        return replace(served, model=output.model), output

    def stream(
        self,
        request: TextRequest,
        preferred: str | None = None,
        user_keys: Mapping[str, str] | None = None,
        allow: Allow | None = None,
    ) -> tuple[Served, Iterator[str]]:
        """Open the stream on the first provider that answers (failover happens before any text)."""
        own = self._own(Mode.TEXT, preferred, user_keys)
        if own is not None:
            served, chunks = self._with_own_key(Mode.TEXT, own, lambda p: p.stream(request))
            return served, tagged(chunks)
        providers = self.route(Mode.TEXT, preferred)
        return self._attempt(
            Mode.TEXT, providers, lambda p: p.stream(request), lambda _name: False, hold=True, allow=allow
        )

    def text_route(
        self, preferred: str | None, user_keys: Mapping[str, str] | None
    ) -> tuple[list[tuple[str, str]], bool] | None:
        """The (provider, model) pairs a text request would try and whether that is the caller's
        own key, for the response cache key; None when no paid provider is among them (a free
        answer is not worth a store write)."""
        own = self._own(Mode.TEXT, preferred, user_keys)
        providers = [own] if own is not None else self.route(Mode.TEXT, preferred)
        if not any(p.paid for p in providers):
            return None
        return [(p.name, p.model_for(Mode.TEXT)) for p in providers], own is not None
