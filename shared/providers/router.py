"""Which provider serves a mode, in what order, and failover between them.

A route is an ordered list of provider names per mode (configuration). Moderation refusals
and bad requests never fail over: another vendor would not make them right.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from shared.models import Mode
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

log = logging.getLogger("gateway.providers")


@dataclass(frozen=True)
class Served:
    provider: str
    model: str


class ProviderRouter:
    def __init__(
        self, providers: Mapping[str, Provider], routes: Mapping[Mode, list[str]], max_concurrent: int
    ) -> None:
        self.providers = dict(providers)
        self.routes = {mode: [n for n in names if n in self.providers] for mode, names in routes.items()}
        self._slots = {name: threading.BoundedSemaphore(max_concurrent) for name in self.providers}

    def route(self, mode: Mode, preferred: str | None = None) -> list[Provider]:
        names = list(self.routes.get(mode, []))
        if preferred:
            if preferred not in names:
                raise ProviderError(ErrorKind.BAD_REQUEST, f"Provider '{preferred}' is not available for {mode.value}.")
            names.remove(preferred)
            names.insert(0, preferred)
        if not names:
            raise ProviderError(ErrorKind.UNAVAILABLE, f"No provider is configured for {mode.value}.")
        return [self.providers[n] for n in names]

    def generate(
        self, request: GenerationRequest, context: JobContext, preferred: str | None = None
    ) -> tuple[Served, MediaOutput]:
        last: ProviderError | None = None
        for provider in self.route(request.mode, preferred):
            try:
                with self._slots[provider.name]:
                    output = provider.generate(request, context.for_provider(provider.name))
                return Served(provider.name, provider.model_for(request.mode)), output
            except ProviderError as exc:
                exc.provider = exc.provider or provider.name
                if not exc.kind.fails_over:
                    raise
                log.warning(
                    "provider failed, trying the next",
                    extra={"fields": {"provider": provider.name, "kind": exc.kind.value}},
                )
                last = exc
        assert last is not None
        raise last

    def complete(self, request: TextRequest, preferred: str | None = None) -> tuple[Served, TextOutput]:
        last: ProviderError | None = None
        for provider in self.route(Mode.TEXT, preferred):
            try:
                output = provider.complete(request)
                return Served(provider.name, output.model), output
            except ProviderError as exc:
                if not exc.kind.fails_over:
                    raise
                last = exc
        assert last is not None
        raise last

    def stream(self, request: TextRequest, preferred: str | None = None) -> tuple[Served, Iterator[str]]:
        provider = self.route(Mode.TEXT, preferred)[0]
        return Served(provider.name, provider.model_for(Mode.TEXT)), provider.stream(request)
