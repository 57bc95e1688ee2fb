"""Budget maths: how many units each group may lose, budgets in units or parameters, and which units go.

Pure functions of the unit groups (`architectures.base.UnitGroup`) and score tensors; nothing here knows about
criteria, models or the configuration, so allocations, the HyWIA fusion and the callback all share one copy.

Example:
    >>> import torch
    >>> from optimum_hywia.architectures import UnitGroup
    >>> group = UnitGroup(layer=0, kind="mlp", num_units=4, members=[], params_per_unit=10)
    >>> removable(group, min_keep=1), params_budget([group], 0.5)
    (3, 20.0)
    >>> select_kept_units(group, torch.tensor([0.3, 0.1, 0.9, 0.5]), 2).tolist()
    [2, 3]
"""

from __future__ import annotations

from typing import Callable

import torch

from ..architectures.base import ATTENTION, MLP, GroupKey, UnitGroup

Removal = dict[GroupKey, float]  # the fraction of each group's units to remove


def num_blocks(group: UnitGroup) -> int:
    return 1 if group.blocks is None else int(group.blocks.max()) + 1


def round_to_blocks(group: UnitGroup, count: int) -> int:
    """`count` rounded down so every block loses the same number and keeps at least one unit."""
    if group.blocks is None:
        return count
    blocks = num_blocks(group)
    return min(count // blocks, group.num_units // blocks - 1) * blocks


def removable(group: UnitGroup, min_keep: int) -> int:
    """The most units `group` may lose."""
    return round_to_blocks(group, max(group.num_units - min_keep, 0))


def params_budget(groups: list[UnitGroup], ratio: float) -> float:
    """Parameters to remove: `ratio` of those held by the prunable units of `groups`."""
    return ratio * sum(group.num_units * group.params_per_unit for group in groups)


def same_ratio_counts(groups: list[UnitGroup], ratio: float, min_keep: int) -> dict[GroupKey, int]:
    """Every group loses round(ratio · units), within its cap."""
    return {g.key: min(round_to_blocks(g, round(ratio * g.num_units)), removable(g, min_keep)) for g in groups}


def mean_normalised(scores: torch.Tensor) -> torch.Tensor:
    mean = scores.double().mean()
    return scores.double() / mean if mean > 0 else torch.ones_like(scores, dtype=torch.float64)


def greedy_counts(
    groups: list[UnitGroup], keys: list[torch.Tensor], min_keep: int, stop: Callable[[int, int], bool]
) -> dict[GroupKey, int]:
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


def units_ranking(groups: list[UnitGroup], scores: dict, ratio: float, min_keep: int) -> dict[GroupKey, int]:
    """One ranking over `groups` of each score divided by its group's mean, to a budget of `ratio` of the units."""
    budget = round(ratio * sum(g.num_units for g in groups))
    keys = [mean_normalised(scores[g.key]) for g in groups]
    return greedy_counts(groups, keys, min_keep, lambda units, _: units >= budget)


def params_ranking(groups: list[UnitGroup], keys: list[torch.Tensor], ratio: float, min_keep: int):
    """One ranking over every unit of `groups` by `keys`, to a budget of `ratio` of the prunable parameters."""
    budget = params_budget(groups, ratio)
    return greedy_counts(groups, keys, min_keep, lambda _, params: params >= budget)


def bisect_scale(removed_at: Callable[[float], float], budget: float, iterations: int) -> float:
    """The smallest scale s (to bisection precision) with removed_at(s) >= budget, `removed_at` non-decreasing.

    Example:
        >>> round(bisect_scale(lambda s: 3 * s, budget=6.0, iterations=50), 6)
        2.0
    """
    low, high = 0.0, 1.0
    while removed_at(high) < budget and high < 1e6:
        high *= 2
    for _ in range(iterations):
        middle = (low + high) / 2
        low, high = (middle, high) if removed_at(middle) < budget else (low, middle)
    return high


def fractions_to_counts(
    groups: list[UnitGroup], removal: dict[GroupKey, float], ratio: float, min_keep: int
) -> dict[GroupKey, int]:
    """Scale per-group removal fractions by one factor so the removed parameters meet the `ratio` budget."""

    def counts_at(scale: float) -> dict[GroupKey, int]:
        return {
            g.key: min(round_to_blocks(g, round(min(scale * removal[g.key], 1.0) * g.num_units)), removable(g, min_keep))
            for g in groups
        }

    def removed(scale: float) -> int:
        counts = counts_at(scale)
        return sum(counts[g.key] * g.params_per_unit for g in groups)

    return counts_at(bisect_scale(removed, params_budget(groups, ratio), iterations=60))


def select_kept_units(group: UnitGroup, scores: torch.Tensor, num_remove: int) -> torch.Tensor:
    """Indices (ascending) of the units kept when the `num_remove` lowest-scored units of `group` go."""
    if group.blocks is None:
        removed = torch.argsort(scores, stable=True)[:num_remove]
    else:
        per_block = num_remove // num_blocks(group)
        removed = torch.cat(
            [
                torch.nonzero(group.blocks == block).flatten()[
                    torch.argsort(scores[group.blocks == block], stable=True)[:per_block]
                ]
                for block in range(num_blocks(group))
            ]
        )
    keep = torch.ones(group.num_units, dtype=torch.bool)
    keep[removed] = False
    return keep.nonzero().flatten()


def nested_kept_units(group: UnitGroup, scores: torch.Tensor, num_remove: int, previous: torch.Tensor) -> torch.Tensor:
    """Kept units when a unit outside `previous` (the units an earlier stage kept) can never come back: those rank
    below all others, and at least as many units go as before."""
    removed = torch.ones(group.num_units, dtype=torch.bool)
    removed[previous] = False
    forced = scores.double().clone().masked_fill_(removed, float("-inf"))
    return select_kept_units(group, forced, max(num_remove, int(removed.sum())))


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


def round_mlp_counts(
    groups: list[UnitGroup], counts: dict[GroupKey, int], round_to: int, min_keep: int
) -> dict[GroupKey, int]:
    """Units to remove per group once every MLP group's kept width is a multiple of `round_to` (see `rounded_width`)."""
    return {
        g.key: g.num_units - rounded_width(g.num_units - counts[g.key], g.num_units, round_to, min_keep)
        if g.kind == MLP
        else counts[g.key]
        for g in groups
    }


def cost_aware_counts(groups: list[UnitGroup], scores: dict[GroupKey, torch.Tensor], ratio: float,
                      min_keep: int) -> dict[GroupKey, int]:
    """Units to remove per group when every unit is ranked by score per parameter, to a `ratio` parameter budget."""
    return params_ranking(groups, [scores[g.key].double() / g.params_per_unit for g in groups], ratio, min_keep)


def llm_pruner_counts(groups: list[UnitGroup], scores: dict[GroupKey, torch.Tensor], ratio: float,
                      min_keep: int) -> dict[GroupKey, int]:
    """LLM-Pruner's split: the same ratio of MLP channels per layer, attention units ranked over the layers."""
    attention = [g for g in groups if g.kind == ATTENTION]
    counts = same_ratio_counts([g for g in groups if g.kind != ATTENTION], ratio, min_keep)
    counts.update(units_ranking(attention, scores, ratio, min_keep))
    return counts
