"""The spend guard: no paid provider is called unless its estimated cost is reserved first.

Admission reserves: a job submit (``JobService.submit``) reserves for the first paid provider of
its route that every budget it falls under can afford, before the job is accepted, and keeps the
reservation on the job; a text request reserves as the router reaches a paid provider, before the
vendor is called. Completion settles to the real cost (the job runner; the text service after the
answer or the stream); a failure before the vendor charged, or a cancel of a job never started,
releases. Each job attempt runs under its own reservation: the first under the submit's, a retry
after a lost worker reserves again (the lost one may have been charged).

``Gate`` is what the router asks before each provider (``ProviderRouter.generate(..., allow=)``):
a paid provider goes ahead under a reservation that covers it (made or moved there), else it is
skipped as over budget; a free provider goes ahead unless a budget refusal came first and
``BUDGET_FALLBACK=refuse``. A caller's own key (BYOK) never reaches the gate; free routes never
count. When nothing could be afforded the caller hears ``BudgetExhausted`` (429) with
``retry_after`` until the earliest reset of the budgets that refused.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from shared import errors
from shared.budget.decision import exhausted_message, free_allowed, retry_after
from shared.budget.lines import BudgetLine, Reservation, field_name
from shared.budget.periods import period
from shared.budget.rules import BudgetCaps, Spender, deployment_lines, lines_for, text_tokens, text_units, video_units
from shared.budget.status import BudgetStatus, status
from shared.clock import Clock
from shared.domain import Caller, ErrorKind, Job, Mode, ProviderError, UnreadableKey
from shared.stores.base import BudgetStore, UserKeyStore, UserStore

if TYPE_CHECKING:
    from shared.providers.base import Provider
    from shared.providers.router import ProviderRouter

log = logging.getLogger("gateway.budget")
OPEN_CACHE_SECONDS = 5.0  # how long health reuses its answer to "are paid routes open?"
Units = Callable[[float], float]  # price -> the estimate (upper bound) of one call


def job_units(mode: Mode, params: dict[str, Any]) -> Units:
    if mode.is_video:
        seconds = float(params.get("duration_seconds", 2.0))
        return lambda price: video_units(price, seconds)
    return lambda price: price


class Gate:
    """One request's (or one job attempt's) reservation, provider by provider as the router tries them."""

    def __init__(
        self,
        guard: BudgetService,
        spender: Callable[[], Spender],
        mode: Mode,
        units: Units,
        held: Reservation | None = None,
    ) -> None:
        self.guard = guard
        self._spender = spender
        self.mode = mode
        self.units = units
        self.current = held
        self.refused: list[BudgetLine] = []
        self._refusal: ProviderError | None = None

    def __call__(self, provider: Provider) -> ProviderError | None:
        if not provider.paid:
            return None if free_allowed(bool(self.refused), self.guard.caps.fallback) else self._refusal
        if self.current is not None and self.current.provider == provider.name:
            return None
        price = self.guard.router.price(provider, self.mode)
        now = self.guard.clock.now()
        lines = lines_for(self.guard.caps, provider.name, self._spender(), now) if price is not None else []
        units = self.units(price) if price is not None else 0.0
        if not lines or units <= 0:
            self._swap(None, now)  # no cap applies to this call
            return None
        wanted = Reservation(secrets.token_urlsafe(12), units, tuple(lines), provider.name)
        refused = self.guard.store.reserve(wanted, now)
        if refused is not None:
            self.refused.append(refused)
            self._refusal = ProviderError(ErrorKind.UNAVAILABLE, "Over its spend budget.", provider=provider.name)
            return self._refusal
        self._swap(wanted, now)
        return None

    def _swap(self, reservation: Reservation | None, now: float) -> None:
        """Move to ``reservation``: the one held before was for a provider that failed (unpaid)."""
        held, self.current = self.current, reservation
        if held is not None:
            self.guard.store.settle(held, 0.0, now)

    def over_budget(self, exc: ProviderError) -> bool:
        """Whether ``exc`` (what the router raised) is this gate's refusal: nothing was affordable."""
        return exc is self._refusal

    def exhausted(self) -> errors.BudgetExhausted:
        wait = retry_after(self.refused, self.guard.clock.now())
        return errors.BudgetExhausted(exhausted_message(self.refused, wait), retry_after=wait)

    def settle(self, provider: str | None, cost: float | None) -> None:
        """Settle once: ``cost`` units when ``provider`` (who served) is the one reserved for, 0 when
        another served, everything reserved when ``cost`` is None (unknown: maybe billed)."""
        held, self.current = self.current, None
        if held is None:
            return
        spent = held.units if cost is None else (cost if provider == held.provider else 0.0)
        self.guard.store.settle(held, spent, self.guard.clock.now())


class BudgetService:
    def __init__(
        self,
        store: BudgetStore,
        router: ProviderRouter,
        caps: BudgetCaps,
        clock: Clock,
        users: UserStore | None = None,
        user_keys: UserKeyStore | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.caps = caps
        self.clock = clock
        self.users = users
        self.user_keys = user_keys
        self._open: tuple[float, bool] | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.caps.enabled

    # -- admission -------------------------------------------------------------------------

    def reserve_job(self, caller: Caller, mode: Mode, params: dict[str, Any]) -> Reservation | None:
        """Reserve for the job a submit is about to accept (None: nothing to reserve), or raise
        ``BudgetExhausted``. Paid providers of the route over budget are passed over."""
        if not self.enabled or self._own_key(caller, mode, params.get("provider")):
            return None
        try:
            providers = self.router.route(mode, params.get("provider"))
        except ProviderError:
            return None  # nothing routable: the job fails when run, as without budgets
        gate = Gate(self, lambda: _spender(caller), mode, job_units(mode, params))
        for provider in providers:
            if gate(provider) is None:
                return gate.current
        raise gate.exhausted()

    def release(self, reservation: Reservation | dict[str, Any] | None) -> None:
        if reservation is None:
            return
        held = reservation if isinstance(reservation, Reservation) else Reservation.from_dict(reservation)
        self.store.settle(held, 0.0, self.clock.now())

    def job_gate(self, job: Job) -> Gate | None:
        """The gate of one run of ``job``: its first attempt holds the submit's reservation."""
        if not self.enabled:
            return None
        held = Reservation.from_dict(job.budget) if job.budget and job.attempts <= 1 else None
        found: list[Spender] = []

        def spender() -> Spender:  # a user's own cap costs a read, only when a reservation is made here
            if not found:
                found.append(self._job_spender(job))
            return found[0]

        return Gate(self, spender, job.mode, job_units(job.mode, job.params), held)

    def text_gate(self, caller: Caller | None, contents: Iterable[str], max_tokens: int) -> Gate | None:
        if not self.enabled:
            return None
        tokens = text_tokens(contents, max_tokens)
        spender = _spender(caller) if caller is not None else Spender("anonymous")
        return Gate(self, lambda: spender, Mode.TEXT, lambda price: text_units(price, tokens))

    def _own_key(self, caller: Caller, mode: Mode, preferred: str | None) -> bool:
        """Whether the caller's own key (BYOK) will serve: then the platform pays nothing."""
        byok = self.router.byok
        if caller.user_id is None or byok is None or self.user_keys is None:
            return False
        try:
            keys = self.user_keys.keys_for(caller.user_id)
        except UnreadableKey:
            return False
        return bool(keys) and byok.pick(mode, keys, preferred) is not None

    def _job_spender(self, job: Job) -> Spender:
        if not job.owner.startswith("user:"):
            return Spender(job.tier)
        user_id = job.owner.removeprefix("user:")
        record = self.users.get(user_id) if self.users is not None else None
        return Spender(job.tier, user_id, record.budget_override if record is not None else None)

    # -- visibility ------------------------------------------------------------------------

    def _paid_providers(self) -> list[str]:
        routed = {name for names in self.router.routes.values() for name in names}
        return [name for name, p in self.router.providers.items() if p.paid and name in routed]

    def report(self) -> list[BudgetStatus]:
        """Every deployment-wide budget of the current periods: cap, reserved, spent, remaining,
        reset time, burn rate, used fraction (the admin endpoint; alerts at 50/80/100 %)."""
        now = self.clock.now()
        lines = deployment_lines(self.caps, self._paid_providers(), now)
        usage = self.store.usage(lines)
        starts = {kind: period(kind, now, self.caps.tz).start for kind in ("day", "month")}
        return [status(line, usage.get(line.key), starts[line.group.split(":")[0]], now) for line in lines]

    def paid_routes_open(self) -> bool:
        """Whether a paid provider can be reserved for now: some routed paid provider whose own
        budget, and the deployment's, have anything left (no amounts; cached a few seconds)."""
        now = self.clock.now()
        with self._lock:
            if self._open is not None and now - self._open[0] < OPEN_CACHE_SECONDS:
                return self._open[1]
        paid = self._paid_providers()
        answer = bool(paid)
        if answer and self.enabled:
            statuses = self.report()
            shared = all(s.remaining > 0 for s in statuses if s.name == "deployment")
            own = {s.name: s.remaining > 0 for s in statuses if s.name.startswith("provider_")}
            answer = shared and any(own.get(field_name(f"provider_{name}"), True) for name in paid)
        with self._lock:
            self._open = (now, answer)
        return answer


def _spender(caller: Caller) -> Spender:
    return Spender(caller.tier, caller.user_id, caller.budget_override)
