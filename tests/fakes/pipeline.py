"""Running the real gateway against fake vendors on one fake clock (shared by pipeline tests)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from shared import wiring
from shared.config import Settings
from tests.fakes.clock import FakeClock
from tests.fakes.server import FakeVendor


def serve(**vendors: type[FakeVendor]) -> Iterator[dict[str, FakeVendor]]:
    """Start one fake server per vendor for a module's tests; stop them afterwards."""
    servers = {name: cls().start() for name, cls in vendors.items()}
    yield servers
    for server in servers.values():
        server.stop()


def install_gateway(
    monkeypatch: pytest.MonkeyPatch,
    fakes: Mapping[str, FakeVendor],
    defaults: Mapping[str, str],
    settings: Mapping[str, str],
) -> FakeClock:
    """A fresh gateway from ``defaults`` overridden by ``settings``, on a clock the fakes share."""
    clock = FakeClock()
    for fake in fakes.values():
        fake.reset()
        fake.clock = clock
    for name, value in {**defaults, **settings}.items():
        monkeypatch.setenv(name, value)
    wiring.install(wiring.Gateway(Settings(), clock))
    return clock
