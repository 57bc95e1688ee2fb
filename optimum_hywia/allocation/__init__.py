"""How many units each group loses: the budget maths (`budget`) and the named allocations (`strategies`).

`budget` holds pure functions of the unit groups and their scores (the counts that allocations and HyWIA's views
both use); `strategies` holds the registered allocations and `plan_pruning`. HyWIA depends on this package, never
the reverse.

Example:
    >>> from optimum_hywia.allocation import available_allocations
    >>> "cost_aware" in available_allocations()
    True
"""

from .budget import GroupKey, Removal, select_kept_units
from .strategies import PARAMETER_BUDGET, available_allocations, plan_pruning, register_allocation

__all__ = [
    "PARAMETER_BUDGET",
    "GroupKey",
    "Removal",
    "available_allocations",
    "plan_pruning",
    "register_allocation",
    "select_kept_units",
]
