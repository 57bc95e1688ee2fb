"""Candidate removal fractions per (layer, kind) that HyWIA's allocation attention weighs (`ALLOCATION_VIEWS`).

- `uniform`: the same ratio everywhere (LLM-Pruner);
- `fine_weights`: the density a global ranking of single weights by |w·g| implies (`fine_grained_densities`);
- `fine_units`, `coarse_units`: global rankings of whole units per parameter by fine and by coarse score, to the
  parameter budget (the `cost_aware` allocation's ranking).
"""

from __future__ import annotations

import torch

from ..architectures import UnitGroup
from ..importance.base import ScoringContext
from ..importance.gradients import fine_grained_densities
from ..importance.units import Scores
from ..selection import GroupKey, params_ranking

ALLOCATION_VIEWS = ("uniform", "fine_weights", "fine_units", "coarse_units")


def cost_aware_counts(groups: list[UnitGroup], scores: Scores, ratio: float, min_keep: int) -> dict[GroupKey, int]:
    """Units to remove per group when every unit is ranked by score per parameter, to a `ratio` parameter budget."""
    return params_ranking(groups, [scores[g.key].double() / g.params_per_unit for g in groups], ratio, min_keep)


def removal_views(context: ScoringContext, fine: Scores, coarse: Scores) -> dict[GroupKey, torch.Tensor]:
    """Per group: the candidate removal fractions, in the order of `ALLOCATION_VIEWS`, from the raw scores."""
    config, groups = context.config, context.groups
    ratio, min_keep = config.pruning_ratio, config.min_units_per_layer
    densities = fine_grained_densities(context.statistics.taylor(config.taylor_order == 2), ratio)
    fine_counts = cost_aware_counts(groups, fine, ratio, min_keep)
    coarse_counts = cost_aware_counts(groups, coarse, ratio, min_keep)
    return {
        g.key: torch.tensor([ratio, 1.0 - densities[g.key], fine_counts[g.key] / g.num_units,
                             coarse_counts[g.key] / g.num_units])
        for g in groups
    }
