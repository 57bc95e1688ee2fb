"""`hywia`: fine- and coarse-grained Taylor scores fused by a learned granularity attention (or a fixed α).

The allocation and fusion modules are imported where used: they build on `importance.base`, which this package
must finish loading first.
"""

from __future__ import annotations

import torch

from .base import Scores, ScoringContext
from .gradients import fine_grained_densities, taylor_statistics
from .registry import register_importance


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
    """Raw fine (Σ|s|) and coarse (|Σ s| over the unit, or LLM-Pruner's vector-wise) scores per group."""
    config = context.config
    statistics = taylor_statistics(context, second_order=config.taylor_order == 2)
    fine_key, coarse_key = f"fine{config.taylor_order}", f"{config.coarse}{config.taylor_order}"
    return (
        {key: stats[fine_key] for key, stats in statistics.items()},
        {key: stats[coarse_key] for key, stats in statistics.items()},
    )


def removal_views(context: ScoringContext, fine: Scores, coarse: Scores) -> dict:
    """Candidate removal fractions per group, in the order of `fusion.ALLOCATION_VIEWS`."""
    from ..allocation import cost_aware_ranking

    ratio = context.config.pruning_ratio
    densities = fine_grained_densities(taylor_statistics(context, context.config.taylor_order == 2), ratio)
    fine_counts, coarse_counts = cost_aware_ranking(context, fine), cost_aware_ranking(context, coarse)
    return {
        g.key: torch.tensor([ratio, 1.0 - densities[g.key], fine_counts[g.key] / g.num_units,
                             coarse_counts[g.key] / g.num_units])
        for g in context.groups
    }


@register_importance("hywia", needs_calibration=True)
def hywia(context: ScoringContext) -> Scores:
    """HyWIA: per-unit blend of normalised fine and coarse Taylor scores (learned or fixed α); the learned
    fusion also leaves a per-(layer, kind) removal fraction for the `learned` allocation in the cache."""
    from ..fusion import FusionInputs, position_features, train_fusion

    config = context.config
    raw_fine, coarse = granularity_scores(context)
    fine = {key: normalise(value, config.score_normalization) for key, value in raw_fine.items()}
    coarse_normalised = {key: normalise(value, config.score_normalization) for key, value in coarse.items()}
    if config.fusion == "fixed":
        alpha = config.fusion_alpha
        return {key: alpha * fine[key] + (1 - alpha) * coarse_normalised[key] for key in fine}
    num_layers = len(context.layers)
    inputs = FusionInputs(
        fine=fine,
        coarse=coarse_normalised,
        views=removal_views(context, raw_fine, coarse),
        queries={g.key: position_features(g.layer, num_layers, g.kind) for g in context.groups},
    )
    result = train_fusion(context, inputs)
    context.cache.update(learned_removal=result.removal, learned_blend=result.blend, fusion_history=result.history)
    return result.scores
