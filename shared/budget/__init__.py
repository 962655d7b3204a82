"""The spend guard's pure logic: budgets in cost units, periods, estimates, reservations.

A paid call is made only under a *reservation*: its estimated cost (an upper bound), taken
atomically from every budget the request falls under before the vendor is called, and settled
to the real cost afterwards. Nothing here touches a store or the clock; see
``shared.services.budget`` for the use case and ``shared.stores.*.budgets`` for the counters.
"""

from shared.budget.lines import BudgetLine, BudgetUsage, Reservation
from shared.budget.periods import Period, period
from shared.budget.rules import BudgetCaps, Spender, lines_for

__all__ = ["BudgetCaps", "BudgetLine", "BudgetUsage", "Period", "Reservation", "Spender", "lines_for", "period"]
