"""Importance criteria: callables giving one score per prunable unit, found by name in a registry.

Layers, bottom up: `units` (per-unit sums) → `gradient_pass`, `gradients`, `activation_stats` (statistics) →
`statistics` (`CalibrationStatistics`, `Need`) → `base` (`ScoringContext`, `ImportanceResult`) → `registry` →
the criteria (`magnitude`, `taylor`, `activations`; HyWIA's lives in `optimum_hywia.hywia`).
"""

from . import activations, magnitude, taylor  # noqa: F401  (register the criteria)
from .activation_stats import ActivationSums, activation_statistics
from .activations import compensation_bias, flap_bias_compensation
from .base import Criterion, ImportanceResult, ScoringContext
from .gradients import TaylorStatistics, fine_grained_densities, statistics_from_gradients, taylor_statistics
from .registry import ImportanceCriterion, available_importances, get_importance, register_importance
from .statistics import CalibrationStatistics, Need
from .units import Scores, scatter_to_units, unit_sums

__all__ = [
    "ActivationSums",
    "CalibrationStatistics",
    "Criterion",
    "ImportanceCriterion",
    "ImportanceResult",
    "Need",
    "Scores",
    "ScoringContext",
    "TaylorStatistics",
    "activation_statistics",
    "available_importances",
    "compensation_bias",
    "fine_grained_densities",
    "flap_bias_compensation",
    "get_importance",
    "register_importance",
    "scatter_to_units",
    "statistics_from_gradients",
    "taylor_statistics",
    "unit_sums",
]
