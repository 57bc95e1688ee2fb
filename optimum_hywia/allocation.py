"""Allocation (how many units each layer and kind loses) and selection (which ones), kept apart.

An allocation maps the unit groups and their scores to a number of units to remove per group; selection then
removes the lowest-scored units inside each group. Every pruned layer keeps at least `min_units_per_layer` units
of each kind (a layer never loses all its heads or channels).
"""

from __future__ import annotations

from typing import Callable

import torch

from .architectures import UnitGroup
from .importance.base import GroupKey, Scores

Allocation = Callable[[list[UnitGroup], Scores, float, int], dict[GroupKey, int]]
_ALLOCATIONS: dict[str, Allocation] = {}


def register_allocation(name: str) -> Callable[[Allocation], Allocation]:
    def decorator(fn: Allocation) -> Allocation:
        if name in _ALLOCATIONS:
            raise ValueError(f"Allocation `{name}` is already registered.")
        _ALLOCATIONS[name] = fn
        return fn

    return decorator


def available_allocations() -> list[str]:
    return sorted(_ALLOCATIONS)


def _removable(group: UnitGroup, min_keep: int) -> int:
    """The most units `group` may lose, in whole steps of its blocks."""
    most = max(group.num_units - min_keep, 0)
    return _round_to_blocks(group, most)


def _round_to_blocks(group: UnitGroup, count: int) -> int:
    if group.blocks is None:
        return count
    num_blocks = int(group.blocks.max()) + 1
    per_block = group.num_units // num_blocks
    return min(count // num_blocks, per_block - 1) * num_blocks


@register_allocation("layer")
def same_ratio_per_layer(groups: list[UnitGroup], scores: Scores, ratio: float, min_keep: int) -> dict[GroupKey, int]:
    """LLM-Pruner's split: every group loses round(ratio · units)."""
    return {
        group.key: min(_round_to_blocks(group, round(ratio * group.num_units)), _removable(group, min_keep))
        for group in groups
    }


def mean_normalised(scores: torch.Tensor) -> torch.Tensor:
    mean = scores.double().mean()
    return scores.double() / mean if mean > 0 else torch.ones_like(scores, dtype=torch.float64)


@register_allocation("global")
def global_ranking(groups: list[UnitGroup], scores: Scores, ratio: float, min_keep: int) -> dict[GroupKey, int]:
    """One ranking per unit kind over all pruned layers, each score divided by its layer's mean."""
    counts = {group.key: 0 for group in groups}
    for kind in sorted({group.kind for group in groups}):
        members = [group for group in groups if group.kind == kind]
        pooled = torch.cat([mean_normalised(scores[group.key]) for group in members])
        owner = torch.cat([torch.full((group.num_units,), i) for i, group in enumerate(members)])
        budget = round(ratio * len(pooled))
        caps = [group.num_units - min_keep for group in members]
        for position in torch.argsort(pooled, stable=True).tolist():
            if budget == 0:
                break
            index = int(owner[position])
            if counts[members[index].key] < caps[index]:
                counts[members[index].key] += 1
                budget -= 1
        for group in members:
            counts[group.key] = _round_to_blocks(group, counts[group.key])
    return counts


def allocate(name: str, groups: list[UnitGroup], scores: Scores, ratio: float, min_keep: int) -> dict[GroupKey, int]:
    if name not in _ALLOCATIONS:
        raise ValueError(f"Unknown allocation `{name}`; available: {available_allocations()}.")
    return _ALLOCATIONS[name](groups, scores, ratio, min_keep)


def select_kept_units(group: UnitGroup, scores: torch.Tensor, num_remove: int) -> torch.Tensor:
    """Indices (ascending) of the units kept when the `num_remove` lowest-scored units of `group` go."""
    if group.blocks is None:
        removed = torch.argsort(scores, stable=True)[:num_remove]
    else:
        num_blocks = int(group.blocks.max()) + 1
        per_block = num_remove // num_blocks
        removed = torch.cat([
            torch.nonzero(group.blocks == block).flatten()[
                torch.argsort(scores[group.blocks == block], stable=True)[:per_block]
            ]
            for block in range(num_blocks)
        ])
    keep = torch.ones(group.num_units, dtype=torch.bool)
    keep[removed] = False
    return keep.nonzero().flatten()


def plan_pruning(
    groups: list[UnitGroup], scores: Scores, allocation: str, ratio: float, min_keep: int
) -> dict[GroupKey, torch.Tensor]:
    """Kept unit indices per group under the named allocation."""
    counts = allocate(allocation, groups, scores, ratio, min_keep)
    return {group.key: select_kept_units(group, scores[group.key], counts[group.key]) for group in groups}
