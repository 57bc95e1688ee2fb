"""Importance criteria: callables giving one score per prunable unit, found by name in a registry."""

from . import magnitude  # noqa: F401  (registers the data-free criteria)
from .base import Criterion, Scores, ScoringContext, scatter_to_units, unit_sums
from .registry import ImportanceCriterion, available_importances, get_importance, register_importance

__all__ = [
    "Criterion",
    "ImportanceCriterion",
    "Scores",
    "ScoringContext",
    "available_importances",
    "get_importance",
    "register_importance",
    "scatter_to_units",
    "unit_sums",
]
