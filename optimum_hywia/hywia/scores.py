"""HyWIA's two granularities: the raw fine (Σ|s| over the unit's weights) and coarse (|Σ s| over the unit, or
LLM-Pruner's vector-wise reading) Taylor scores, and their within-group normalisation."""

from __future__ import annotations

import torch

from ..importance.base import ScoringContext
from ..importance.units import Scores


def normalise(scores: torch.Tensor, how: str) -> torch.Tensor:
    """`rank`: (rank + ½)/n in (0, 1); `mean`: divided by the group's mean (all ones when the mean is 0)."""
    scores = scores.double()
    if how == "rank":
        ranks = torch.empty_like(scores)
        ranks[torch.argsort(scores, stable=True)] = torch.arange(len(scores), dtype=torch.float64)
        return (ranks + 0.5) / len(scores)
    mean = scores.mean()
    return scores / mean if mean > 0 else torch.ones_like(scores)


def granularity_scores(context: ScoringContext) -> tuple[Scores, Scores]:
    """Raw fine and coarse (`config.coarse`) scores of order `config.taylor_order`, per group."""
    config = context.config
    statistics = context.statistics.taylor(second_order=config.taylor_order == 2)
    return (
        {key: stats.reading("fine", config.taylor_order) for key, stats in statistics.items()},
        {key: stats.reading(config.coarse, config.taylor_order) for key, stats in statistics.items()},
    )
