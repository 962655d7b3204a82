"""The admin's account routes: find a user by email, and run a task now (cleanup, billing, backup).

``billing`` bills every user for a month with the same use case as a user's own bill
(``UsageService.bill``), ``BILLING_PAGE`` users per call in id order: an answer with a
``next_cursor`` is continued by calling again with it, so one call stays well inside a request's
time however many users there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from shared import errors
from shared.auth import Verifier
from shared.services.backup import BackupService
from shared.services.cleanup import CleanupService
from shared.services.payments import TierWriter
from shared.services.usage import UsageService
from shared.stores.base import UserRecord, UserStore

TASKS = ("cleanup", "billing", "backup")
BILLING_PAGE = 200


@dataclass
class BillingRun:
    month: str
    users: int = 0  # billed by this call
    billed: list[dict[str, Any]] = field(default_factory=list)  # users with any usage: uid, generations, units
    generations: int = 0
    total_units: float = 0.0
    by_mode: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_provider: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    next_cursor: str | None = None  # more users: call again with it


class AdminTasks:
    def __init__(
        self,
        users: UserStore,
        verifier: Verifier,
        usage: UsageService,
        cleanup: Callable[[], CleanupService],
        backup: Callable[[], BackupService],
        accounts: TierWriter,
        tiers: list[str],
    ) -> None:
        self.accounts = accounts
        self.tiers = tiers  # what an admin may set: every tier but anonymous
        self.users = users
        self.verifier = verifier
        self.usage = usage
        self.cleanup = cleanup  # built on first use
        self.backup = backup

    def find_user(self, email: str) -> UserRecord:
        """The user record of the account with this email (404 when there is none)."""
        user_id = self.verifier.find_user(email)
        record = self.users.get(user_id) if user_id is not None else None
        if record is None:
            raise errors.NotFound("No user with this email has signed in here.")
        return record

    def set_tier(self, user_id: str, tier: str, expires_at: float | None) -> UserRecord:
        """Set a signed-up user's tier (404 for a uid that never signed in; 422 for an unknown tier)."""
        if tier not in self.tiers:
            raise errors.ValidationFailed(f"tier is one of {', '.join(self.tiers)}.")
        if self.users.get(user_id) is None:
            raise errors.NotFound("No user with this uid has signed in here.")
        return self.accounts.set_tier(user_id, tier, expires_at)

    def run(self, name: str, month: str | None = None, cursor: str | None = None) -> dict[str, Any]:
        """Run the task ``name`` now and say what it did."""
        if name == "cleanup":
            return asdict(self.cleanup().run())
        if name == "backup":
            return asdict(self.backup().run(force=True))
        if name == "billing":
            if month is None:
                raise errors.ValidationFailed("The billing task needs a month (YYYY-MM).")
            return asdict(self.bill_everyone(month, cursor))
        raise errors.NotFound(f"There is no task '{name}'. Tasks: {', '.join(TASKS)}.")

    def bill_everyone(self, month: str, cursor: str | None = None) -> BillingRun:
        label = self.usage.month(month).label  # 422 for a month that is not one
        run = BillingRun(label)
        ids = self.users.ids(cursor, BILLING_PAGE)
        for user_id in ids:
            bill = self.usage.bill(user_id, label)
            run.users += 1
            if bill.generations:
                run.billed.append({"uid": user_id, "generations": bill.generations, "total_units": bill.total_units})
            run.generations += bill.generations
            run.total_units += bill.total_units
            for mode, units in bill.by_mode.items():
                run.by_mode[mode] += units
            for provider, units in bill.by_provider.items():
                run.by_provider[provider] += units
        run.by_mode, run.by_provider = dict(run.by_mode), dict(run.by_provider)
        run.next_cursor = ids[-1] if len(ids) == BILLING_PAGE else None
        return run
