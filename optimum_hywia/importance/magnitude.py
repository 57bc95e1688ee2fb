"""Data-free criteria: weight magnitude and random scores (baselines)."""

from __future__ import annotations

import torch

from .base import ScoringContext
from .registry import register_importance
from .units import Scores, unit_sums


@register_importance("magnitude_l1", gives_removal=False)
def magnitude_l1(context: ScoringContext) -> Scores:
    """Σ|w| over each unit's weights and biases."""
    return {
        group.key: unit_sums(context.layer_of(group), group, lambda w, m: w.abs(), lambda b, m: b.abs())
        for group in context.groups
    }


@register_importance("magnitude_l2", gives_removal=False)
def magnitude_l2(context: ScoringContext) -> Scores:
    """sqrt(Σ w²) over each unit's weights and biases."""
    return {
        group.key: unit_sums(context.layer_of(group), group, lambda w, m: w.square(), lambda b, m: b.square()).sqrt()
        for group in context.groups
    }


@register_importance("random", gives_removal=False)
def random_scores(context: ScoringContext) -> Scores:
    """Uniform random scores, seeded by `config.seed` (a floor every criterion should beat)."""
    generator = torch.Generator().manual_seed(context.config.seed)
    return {
        group.key: torch.rand(group.num_units, generator=generator, dtype=torch.float64) for group in context.groups
    }
