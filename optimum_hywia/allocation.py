"""Allocation (how many units each layer and kind loses) and selection (which ones), kept apart.

An allocation reads the scoring context and the unit scores and returns the number of units to remove per group;
selection then removes the lowest-scored units inside each group. Every criterion runs under every allocation, so
comparisons are fair. Every pruned layer keeps at least `min_units_per_layer` units of each kind. With `round_to` > 1,
the kept MLP channels of every group are then rounded to a multiple of `round_to` (`rounded_width`) after the
allocation, so the budget is met to within about half a multiple of channels per layer (more where a clamp applies).

Budgets: `layer`, `global` and `llm_pruner` remove a `pruning_ratio` fraction of the *units* of each kind; the
parameter-budget allocations (`cost_aware`, `params_global`, `fine_implied`, `learned`) remove a `pruning_ratio`
fraction of the *parameters* held by the prunable units, attention and MLP competing for it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .architectures import ATTENTION, MLP, UnitGroup
from .importance.base import GroupKey, Scores, ScoringContext

Allocation = Callable[[ScoringContext, Scores], dict[GroupKey, int]]
_ALLOCATIONS: dict[str, Allocation] = {}


def register_allocation(name: str) -> Callable[[Allocation], Allocation]:
    """Decorator adding an allocation `fn(context, scores) -> {(layer, kind): units to remove}` under `name`."""

    def decorator(fn: Allocation) -> Allocation:
        if name in _ALLOCATIONS:
            raise ValueError(f"Allocation `{name}` is already registered.")
        _ALLOCATIONS[name] = fn
        return fn

    return decorator


def available_allocations() -> list[str]:
    return sorted(_ALLOCATIONS)


def _num_blocks(group: UnitGroup) -> int:
    return 1 if group.blocks is None else int(group.blocks.max()) + 1


def round_to_blocks(group: UnitGroup, count: int) -> int:
    """`count` rounded down so every block loses the same number and keeps at least one unit."""
    if group.blocks is None:
        return count
    blocks = _num_blocks(group)
    return min(count // blocks, group.num_units // blocks - 1) * blocks


def removable(group: UnitGroup, min_keep: int) -> int:
    """The most units `group` may lose."""
    return round_to_blocks(group, max(group.num_units - min_keep, 0))


def params_budget(groups: list[UnitGroup], ratio: float) -> float:
    return ratio * sum(group.num_units * group.params_per_unit for group in groups)


def _same_ratio(groups: list[UnitGroup], ratio: float, min_keep: int) -> dict[GroupKey, int]:
    return {g.key: min(round_to_blocks(g, round(ratio * g.num_units)), removable(g, min_keep)) for g in groups}


def mean_normalised(scores: torch.Tensor) -> torch.Tensor:
    mean = scores.double().mean()
    return scores.double() / mean if mean > 0 else torch.ones_like(scores, dtype=torch.float64)


def _greedy(groups: list[UnitGroup], keys: list[torch.Tensor], min_keep: int, stop: Callable[[int, int], bool]):
    """Remove units in ascending order of `keys` (one tensor per group) until `stop(removed_units, removed_params)`."""
    pooled = torch.cat(keys)
    owner = torch.cat([torch.full((g.num_units,), i) for i, g in enumerate(groups)])
    counts = [0] * len(groups)
    caps = [removable(g, min_keep) for g in groups]
    removed_units = removed_params = 0
    for position in torch.argsort(pooled, stable=True).tolist():
        if stop(removed_units, removed_params):
            break
        index = int(owner[position])
        if counts[index] < caps[index]:
            counts[index] += 1
            removed_units += 1
            removed_params += groups[index].params_per_unit
    return {g.key: round_to_blocks(g, c) for g, c in zip(groups, counts)}


def _mean_normalised_ranking(groups: list[UnitGroup], scores: Scores, ratio: float, min_keep: int):
    budget = round(ratio * sum(g.num_units for g in groups))
    keys = [mean_normalised(scores[g.key]) for g in groups]
    return _greedy(groups, keys, min_keep, lambda units, _: units >= budget)


def _by_kind(groups: list[UnitGroup]) -> dict[str, list[UnitGroup]]:
    kinds: dict[str, list[UnitGroup]] = {}
    for group in groups:
        kinds.setdefault(group.kind, []).append(group)
    return kinds


@register_allocation("layer")
def same_ratio_per_layer(context: ScoringContext, scores: Scores) -> dict[GroupKey, int]:
    """Pure LLM-Pruner: every group loses round(ratio · units)."""
    return _same_ratio(context.groups, context.config.pruning_ratio, context.config.min_units_per_layer)


@register_allocation("global")
def global_ranking(context: ScoringContext, scores: Scores) -> dict[GroupKey, int]:
    """One ranking per unit kind over all pruned layers, each score divided by its layer's mean."""
    config, counts = context.config, {}
    for groups in _by_kind(context.groups).values():
        counts.update(_mean_normalised_ranking(groups, scores, config.pruning_ratio, config.min_units_per_layer))
    return counts


@register_allocation("llm_pruner")
def llm_pruner_split(context: ScoringContext, scores: Scores) -> dict[GroupKey, int]:
    """MLP channels: the same ratio in every layer. Attention: one mean-normalised ranking over layers.

    LLM-Pruner's split where a layer has too few attention units (3 KV groups in SmolLM2) for a per-layer ratio.
    """
    config, kinds = context.config, _by_kind(context.groups)
    counts = _same_ratio(kinds.get(MLP, []), config.pruning_ratio, config.min_units_per_layer)
    attention = kinds.get(ATTENTION, [])
    counts.update(_mean_normalised_ranking(attention, scores, config.pruning_ratio, config.min_units_per_layer))
    return counts


def _params_ranking(context: ScoringContext, keys: list[torch.Tensor]) -> dict[GroupKey, int]:
    budget = params_budget(context.groups, context.config.pruning_ratio)
    return _greedy(context.groups, keys, context.config.min_units_per_layer, lambda _, params: params >= budget)


@register_allocation("cost_aware")
def cost_aware_ranking(context: ScoringContext, scores: Scores) -> dict[GroupKey, int]:
    """Every unit of every pruned layer and kind in one ranking by raw score per parameter."""
    return _params_ranking(context, [scores[g.key].double() / g.params_per_unit for g in context.groups])


@register_allocation("params_global")
def raw_global_ranking(context: ScoringContext, scores: Scores) -> dict[GroupKey, int]:
    """Every unit in one ranking by its raw score (FLAP's global adaptive structure on standardised scores)."""
    return _params_ranking(context, [scores[g.key].double() for g in context.groups])


def fractions_to_counts(context: ScoringContext, removal: dict[GroupKey, float]) -> dict[GroupKey, int]:
    """Scale per-group removal fractions by one factor so the removed parameters meet the budget."""
    groups, min_keep = context.groups, context.config.min_units_per_layer
    budget = params_budget(groups, context.config.pruning_ratio)

    def counts_at(scale: float) -> dict[GroupKey, int]:
        return {
            g.key: min(
                round_to_blocks(g, round(min(scale * removal[g.key], 1.0) * g.num_units)), removable(g, min_keep)
            )
            for g in groups
        }

    def removed(counts: dict[GroupKey, int]) -> int:
        return sum(counts[g.key] * g.params_per_unit for g in groups)

    low, high = 0.0, 1.0
    while removed(counts_at(high)) < budget and high < 1e6:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if removed(counts_at(middle)) < budget else (low, middle)
    return counts_at(high)


@register_allocation("fine_implied")
def fine_implied_allocation(context: ScoringContext, scores: Scores) -> dict[GroupKey, int]:
    """Per-group density that a global ranking of individual weights by |w·g| would give, scaled to the budget."""
    from .importance.gradients import fine_grained_densities, taylor_statistics

    densities = fine_grained_densities(taylor_statistics(context), context.config.pruning_ratio)
    return fractions_to_counts(context, {key: 1.0 - density for key, density in densities.items()})


@register_allocation("learned")
def learned_allocation(context: ScoringContext, scores: Scores) -> dict[GroupKey, int]:
    """The keep fractions the HyWIA fusion learned (`context.cache["learned_removal"]`), scaled to the budget."""
    if "learned_removal" not in context.cache:
        raise ValueError("The `learned` allocation needs `importance='hywia'` with `fusion='attention'`.")
    return fractions_to_counts(context, context.cache["learned_removal"])


UNIFORM_MLP_MULTIPLE = 8  # kept MLP widths of the `uniform` allocation: a multiple of 8 (tensor-core tiles)


@register_allocation("uniform")
def uniform_allocation(context: ScoringContext, scores: Scores) -> dict[GroupKey, int]:
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


def allocate(name: str, context: ScoringContext, scores: Scores) -> dict[GroupKey, int]:
    if name not in _ALLOCATIONS:
        raise ValueError(f"Unknown allocation `{name}`; available: {available_allocations()}.")
    return _ALLOCATIONS[name](context, scores)


def select_kept_units(group: UnitGroup, scores: torch.Tensor, num_remove: int) -> torch.Tensor:
    """Indices (ascending) of the units kept when the `num_remove` lowest-scored units of `group` go."""
    if group.blocks is None:
        removed = torch.argsort(scores, stable=True)[:num_remove]
    else:
        per_block = num_remove // _num_blocks(group)
        removed = torch.cat(
            [
                torch.nonzero(group.blocks == block).flatten()[
                    torch.argsort(scores[group.blocks == block], stable=True)[:per_block]
                ]
                for block in range(_num_blocks(group))
            ]
        )
    keep = torch.ones(group.num_units, dtype=torch.bool)
    keep[removed] = False
    return keep.nonzero().flatten()


def rounded_width(kept: int, full: int, round_to: int, min_keep: int = 1) -> int:
    """The width nearest to `kept` (ties go up) among the multiples of `round_to` from max(round_to, min_keep) up to
    `full`, and `full` itself: keeping every unit is always allowed, a multiple or not.

    Example:
        >>> rounded_width(100, 1536, 64), rounded_width(96, 1536, 64), rounded_width(10, 1536, 64)
        (128, 128, 64)
        >>> rounded_width(1530, 1536, 64), rounded_width(1490, 1500, 64), rounded_width(30, 40, 64)
        (1536, 1500, 40)
    """
    floor = -(-max(round_to, min_keep) // round_to) * round_to  # the smallest multiple >= both bounds
    if floor >= full:
        return full
    down = max(kept // round_to * round_to, floor)
    if down >= kept:
        return down
    up = min(down + round_to, full)
    return up if up - kept <= kept - down else down


def _round_mlp_counts(groups: list[UnitGroup], counts: dict[GroupKey, int], round_to: int, min_keep: int):
    """Units to remove per group once every MLP group's kept width is a multiple of `round_to` (see `rounded_width`)."""
    return {
        g.key: g.num_units - rounded_width(g.num_units - counts[g.key], g.num_units, round_to, min_keep)
        if g.kind == MLP
        else counts[g.key]
        for g in groups
    }


def plan_pruning(context: ScoringContext, scores: Scores, allocation: str) -> dict[GroupKey, torch.Tensor]:
    """Kept unit indices per group under the named allocation, MLP widths rounded to `config.round_to`."""
    counts = allocate(allocation, context, scores)
    config = context.config
    if config.round_to > 1:
        counts = _round_mlp_counts(context.groups, counts, config.round_to, config.min_units_per_layer)
    return {g.key: select_kept_units(g, scores[g.key], counts[g.key]) for g in context.groups}
