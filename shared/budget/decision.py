"""What the guard answers once budgets have refused: fall back to a free provider, or refuse
until the earliest reset that could make a paid route affordable again."""

from __future__ import annotations

import math
from collections.abc import Sequence

from shared.budget.lines import BudgetLine
from shared.budget.rules import Fallback


def free_allowed(refused: bool, fallback: Fallback) -> bool:
    """Whether a free provider (``local``) may serve after a paid one was refused for budget.

    A free provider reached for any other reason (a paid one failed) is always allowed."""
    return not refused or fallback == "local"


def retry_after(refused: Sequence[BudgetLine], now: float) -> int:
    """Seconds until the earliest reset among the budgets that refused (at least 1)."""
    if not refused:
        return 60
    return max(int(math.ceil(min(line.resets_at for line in refused) - now)), 1)


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    if seconds < 90 * 60:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"


def exhausted_message(refused: Sequence[BudgetLine], wait: int) -> str:
    names = {line.name for line in refused}
    if names == {"user"}:
        what = "Your account has used its monthly allowance of paid generations."
    elif names == {"anonymous"}:
        what = "Today's free allowance for visitors who are not signed in is used up. Signing in raises it."
    else:
        what = "This site's budget for paid generations is used up for now."
    return f"{what} It resets in {_duration(wait)}. Donations keep paid generation free for everyone."
