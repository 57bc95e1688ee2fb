"""Candidate removal fractions per (layer, kind) that HyWIA's allocation attention weighs (`ALLOCATION_VIEWS`).

- `uniform`: LLM-Pruner's split (MLP channels: the same ratio in every layer; attention: one mean-normalised ranking
  of the fine scores over the layers);
- `fine_weights`: the density a global ranking of single weights by |w·g| implies (`fine_grained_densities`);
- `fine_units`, `coarse_units`: global rankings of whole units per parameter by fine and by coarse score, to the
  parameter budget (the `cost_aware` allocation's ranking).
"""

from __future__ import annotations

import torch

from ..importance.base import ScoringContext
from ..importance.gradients import fine_grained_densities
from ..importance.units import Scores
from ..allocation.budget import GroupKey, Removal, cost_aware_counts, llm_pruner_counts

ALLOCATION_VIEWS = ("uniform", "fine_weights", "fine_units", "coarse_units")
INITIAL_VIEW = "fine_units"  # where the allocation attention starts (the cost-aware ranking by fine score)

def view_fractions(context: ScoringContext, fine: Scores, coarse: Scores) -> dict[str, Removal]:
    """Each view of `ALLOCATION_VIEWS`: the fraction of every group's units it removes, from the raw scores."""
    config, groups = context.config, context.groups
    ratio, min_keep = config.pruning_ratio, config.min_units_per_layer
    densities = fine_grained_densities(context.statistics.taylor(config.taylor_order == 2), ratio)
    counts = {
        "uniform": llm_pruner_counts(groups, fine, ratio, min_keep),
        "fine_units": cost_aware_counts(groups, fine, ratio, min_keep),
        "coarse_units": cost_aware_counts(groups, coarse, ratio, min_keep),
    }
    fractions = {name: {g.key: value[g.key] / g.num_units for g in groups} for name, value in counts.items()}
    fractions["fine_weights"] = {g.key: 1.0 - densities[g.key] for g in groups}
    return {name: fractions[name] for name in ALLOCATION_VIEWS}


def removal_views(views: dict[str, Removal]) -> dict[GroupKey, torch.Tensor]:
    """Per group: the candidate removal fractions as one tensor, in the order of `ALLOCATION_VIEWS`."""
    keys = views[ALLOCATION_VIEWS[0]].keys()
    return {key: torch.tensor([views[name][key] for name in ALLOCATION_VIEWS]) for key in keys}
