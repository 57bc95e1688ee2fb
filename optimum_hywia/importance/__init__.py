"""Importance criteria: callables giving one score per prunable unit, found by name in a registry."""

from .activations import activation_statistics, compensation_bias, flap_bias_compensation
from .base import Criterion, Scores, ScoringContext, scatter_to_units, unit_sums
from .gradients import fine_grained_densities, taylor_statistics
from .registry import ImportanceCriterion, available_importances, get_importance, register_importance

from . import activations, hywia, magnitude, taylor  # noqa: E402,F401  (register the criteria)

__all__ = [
    "Criterion",
    "ImportanceCriterion",
    "Scores",
    "ScoringContext",
    "activation_statistics",
    "available_importances",
    "compensation_bias",
    "fine_grained_densities",
    "flap_bias_compensation",
    "get_importance",
    "register_importance",
    "scatter_to_units",
    "taylor_statistics",
    "unit_sums",
]
