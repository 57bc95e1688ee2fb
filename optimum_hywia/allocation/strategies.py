"""Allocation: how many units each group loses, by name; then selection (which ones) and the pruning plan.

An allocation is `fn(context, scores, removal) -> {(layer, kind): units to remove}`: it reads the scoring context
(groups, config, statistics), the unit scores and, when the criterion gives one, its removal fractions per group
(`ImportanceResult.removal`). Selection then removes the lowest-scored units inside each group. Every criterion
runs under every allocation that does not need a removal, so comparisons are fair. Every pruned layer keeps at least
`min_units_per_layer` units of each kind. With `round_to` > 1, the kept MLP channels of every group are then rounded
to a multiple of `round_to` (`budget.rounded_width`) after the allocation, so the budget is met to within about
half a multiple of channels per layer (more where a clamp applies). The budget maths live in `budget.py`.

What `pruning_ratio` means depends on the allocation (`PARAMETER_BUDGET`):
- `layer`, `global`, `llm_pruner`: a fraction of the *units* of each kind;
- `cost_aware`, `params_global`, `fine_implied`, `learned`: a fraction of the *parameters* held by the prunable units,
  attention and MLP competing for it;
- `uniform`: the same parameter budget, spent identically in every pruned layer (plain-architecture serving).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..architectures import MLP, UnitGroup
from ..importance.base import ScoringContext
from ..importance.gradients import fine_grained_densities
from ..importance.units import Scores
from ..registry import ALLOCATIONS
from .budget import (
    GroupKey,
    Removal,
    cost_aware_counts,
    fractions_to_counts,
    llm_pruner_counts,
    nested_kept_units,
    params_budget,
    params_ranking,
    removable,
    round_mlp_counts,
    round_to_blocks,
    rounded_width,
    same_ratio_counts,
    select_kept_units,
    units_ranking,
)

Allocation = Callable[[ScoringContext, Scores, "Removal | None"], dict[GroupKey, int]]
PARAMETER_BUDGET = ("cost_aware", "params_global", "fine_implied", "learned", "uniform")


def register_allocation(name: str) -> Callable[[Allocation], Allocation]:
    """Decorator adding an allocation `fn(context, scores, removal) -> {(layer, kind): units to remove}`.

    Example:
        >>> @register_allocation("half_everywhere")  # doctest: +SKIP
        ... def half(context, scores, removal=None):
        ...     return {g.key: g.num_units // 2 for g in context.groups}
    """

    def decorator(fn: Allocation) -> Allocation:
        return ALLOCATIONS.add(name, fn)

    return decorator


def available_allocations() -> list[str]:
    return ALLOCATIONS.names()


def _by_kind(groups: list[UnitGroup]) -> dict[str, list[UnitGroup]]:
    kinds: dict[str, list[UnitGroup]] = {}
    for group in groups:
        kinds.setdefault(group.kind, []).append(group)
    return kinds


def _fractions_to_counts(context: ScoringContext, removal: Removal) -> dict[GroupKey, int]:
    config = context.config
    return fractions_to_counts(context.groups, removal, config.pruning_ratio, config.min_units_per_layer)


@register_allocation("layer")
def same_ratio_per_layer(context: ScoringContext, scores: Scores, removal: Removal | None = None) -> dict[GroupKey, int]:
    """Pure LLM-Pruner: every group loses round(ratio · units)."""
    return same_ratio_counts(context.groups, context.config.pruning_ratio, context.config.min_units_per_layer)


@register_allocation("global")
def global_ranking(context: ScoringContext, scores: Scores, removal: Removal | None = None) -> dict[GroupKey, int]:
    """One ranking per unit kind over all pruned layers, each score divided by its layer's mean."""
    config, counts = context.config, {}
    for groups in _by_kind(context.groups).values():
        counts.update(units_ranking(groups, scores, config.pruning_ratio, config.min_units_per_layer))
    return counts


@register_allocation("llm_pruner")
def llm_pruner_split(context: ScoringContext, scores: Scores, removal: Removal | None = None) -> dict[GroupKey, int]:
    """MLP channels: the same ratio in every layer. Attention: one mean-normalised ranking over layers.

    LLM-Pruner's split where a layer has too few attention units (3 KV groups in SmolLM2) for a per-layer ratio.
    """
    config = context.config
    return llm_pruner_counts(context.groups, scores, config.pruning_ratio, config.min_units_per_layer)


@register_allocation("cost_aware")
def cost_aware_ranking(context: ScoringContext, scores: Scores, removal: Removal | None = None) -> dict[GroupKey, int]:
    """Every unit of every pruned layer and kind in one ranking by raw score per parameter."""
    config = context.config
    return cost_aware_counts(context.groups, scores, config.pruning_ratio, config.min_units_per_layer)


@register_allocation("params_global")
def raw_global_ranking(context: ScoringContext, scores: Scores, removal: Removal | None = None) -> dict[GroupKey, int]:
    """Every unit in one ranking by its raw score (FLAP's global adaptive structure on standardised scores)."""
    config, groups = context.config, context.groups
    return params_ranking(groups, [scores[g.key].double() for g in groups], config.pruning_ratio,
                          config.min_units_per_layer)


@register_allocation("fine_implied")
def fine_implied_allocation(context: ScoringContext, scores: Scores, removal: Removal | None = None):
    """Per-group density that a global ranking of individual weights by |w·g| would give, scaled to the budget."""
    densities = fine_grained_densities(context.statistics.taylor(), context.config.pruning_ratio)
    return _fractions_to_counts(context, {key: 1.0 - density for key, density in densities.items()})


@register_allocation("learned")
def learned_allocation(context: ScoringContext, scores: Scores, removal: Removal | None = None):
    """The removal fractions the HyWIA fusion learned (`ImportanceResult.removal`), scaled to the budget."""
    if removal is None:
        raise ValueError("The `learned` allocation needs `importance='hywia'` with `fusion='attention'`.")
    return _fractions_to_counts(context, removal)


UNIFORM_MLP_MULTIPLE = 8  # kept MLP widths of the `uniform` allocation: a multiple of 8 (tensor-core tiles)


@register_allocation("uniform")
def uniform_allocation(context: ScoringContext, scores: Scores, removal: Removal | None = None) -> dict[GroupKey, int]:
    """Every pruned layer keeps the same widths, so with no skipped layers the model saves as its plain architecture.

    Attention: every layer loses floor(ratio · units) units (heads are few, so the ratio is never exceeded there).
    MLP: every layer loses the same number of channels, enough to bring the removed parameters to the budget of the
    parameter-budget allocations, the kept width rounded to a multiple of 8 (`round_to` rounds further).
    """
    config, min_keep = context.config, context.config.min_units_per_layer
    counts = {
        g.key: min(round_to_blocks(g, int(config.pruning_ratio * g.num_units)), removable(g, min_keep))
        for g in context.groups
        if g.kind != MLP
    }
    mlp = [g for g in context.groups if g.kind == MLP]
    if mlp:
        removed = sum(counts[g.key] * g.params_per_unit for g in context.groups if g.kind != MLP)
        per_layer = max(round((params_budget(context.groups, config.pruning_ratio) - removed)
                              / sum(g.params_per_unit for g in mlp)), 0)
        for g in mlp:
            kept = rounded_width(g.num_units - per_layer, g.num_units, UNIFORM_MLP_MULTIPLE, min_keep)
            counts[g.key] = min(g.num_units - kept, removable(g, min_keep))
    return counts


def allocate(name: str, context: ScoringContext, scores: Scores, removal: Removal | None = None) -> dict[GroupKey, int]:
    return ALLOCATIONS.get(name)(context, scores, removal)


def plan_pruning(
    context: ScoringContext,
    scores: Scores,
    allocation: str,
    removal: Removal | None = None,
    previous: dict[GroupKey, torch.Tensor] | None = None,
    budget_scores: Scores | None = None,
) -> dict[GroupKey, torch.Tensor]:
    """Kept unit indices per group under the named allocation, MLP widths rounded to `config.round_to`.

    `previous`: the units an earlier stage kept (the callback's iterative pruning); a unit outside them never comes
    back, so each stage keeps a subset of the last. `budget_scores`: what the allocation compares across groups
    (None: `scores`, which always choose the units inside each group).
    """
    counts = allocate(allocation, context, scores if budget_scores is None else budget_scores, removal)
    config = context.config
    if config.round_to > 1:
        counts = round_mlp_counts(context.groups, counts, config.round_to, config.min_units_per_layer)
    plan = {g.key: select_kept_units(g, scores[g.key], counts[g.key]) for g in context.groups}
    if previous is None:
        return plan
    return {
        g.key: nested_kept_units(g, scores[g.key], g.num_units - len(plan[g.key]), previous[g.key])
        for g in context.groups
    }
