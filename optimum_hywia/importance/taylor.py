"""Gradient (Taylor) criteria of LLM-Pruner and the two coarse readings of HyWIA (see `gradients.py`)."""

from __future__ import annotations

from .base import Scores, ScoringContext
from .gradients import taylor_statistics
from .registry import register_importance


def _statistic(context: ScoringContext, name: str, second_order: bool = False) -> Scores:
    statistics = taylor_statistics(context, second_order=second_order)
    return {key: stats[name].clone() for key, stats in statistics.items()}


@register_importance("element1", needs_calibration=True)
def element1(context: ScoringContext) -> Scores:
    """Fine-grained, first order: Σ_{k∈u} |w_k·g_k| (LLM-Pruner element-wise)."""
    return _statistic(context, "fine1")


@register_importance("element2", needs_calibration=True)
def element2(context: ScoringContext) -> Scores:
    """Fine-grained, second order: Σ_{k∈u} |w_k·g_k − ½·w_k²·F_k|, F the per-sequence diagonal Fisher."""
    return _statistic(context, "fine2", second_order=True)


@register_importance("vector", needs_calibration=True)
def vector(context: ScoringContext) -> Scores:
    """Coarse, LLM-Pruner vector-wise: |Σ w·g| per row/column of each member, summed over the unit."""
    return _statistic(context, "vector1")


@register_importance("groupvec", needs_calibration=True)
def groupvec(context: ScoringContext) -> Scores:
    """Coarse, whole unit: |Σ_{k∈u} w_k·g_k|, the first-order estimate of the loss change of removing u."""
    return _statistic(context, "group1")
