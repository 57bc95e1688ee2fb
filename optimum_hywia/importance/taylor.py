"""Gradient (Taylor) criteria of LLM-Pruner and the two coarse readings of HyWIA (see `gradients.py`)."""

from __future__ import annotations

from .base import ScoringContext
from .registry import register_importance
from .statistics import Need
from .units import Scores


def _statistic(context: ScoringContext, name: str, order: int = 1) -> Scores:
    statistics = context.statistics.taylor(second_order=order == 2)
    return {key: stats.reading(name, order).clone() for key, stats in statistics.items()}


@register_importance("element1", needs={Need.TAYLOR}, gives_removal=False)
def element1(context: ScoringContext) -> Scores:
    """Fine-grained, first order: Σ_{k∈u} |w_k·g_k| (LLM-Pruner element-wise)."""
    return _statistic(context, "fine")


@register_importance("element2", needs={Need.TAYLOR2}, gives_removal=False)
def element2(context: ScoringContext) -> Scores:
    """Fine-grained, second order: Σ_{k∈u} |w_k·g_k − ½·w_k²·F_k|, F the per-sequence diagonal Fisher."""
    return _statistic(context, "fine", order=2)


@register_importance("vector", needs={Need.TAYLOR}, gives_removal=False)
def vector(context: ScoringContext) -> Scores:
    """Coarse, LLM-Pruner vector-wise: |Σ w·g| per row/column of each member, summed over the unit."""
    return _statistic(context, "vector")


@register_importance("groupvec", needs={Need.TAYLOR}, gives_removal=False)
def groupvec(context: ScoringContext) -> Scores:
    """Coarse, whole unit: |Σ_{k∈u} w_k·g_k|, the first-order estimate of the loss change of removing u."""
    return _statistic(context, "group")
