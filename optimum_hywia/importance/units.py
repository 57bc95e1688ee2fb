"""How per-weight values become per-unit scores: sums over each unit's rows/columns of its member projections."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.distributed.tensor import DTensor

from ..architectures import UnitGroup, UnitMember, member_module
from ..architectures.base import GroupKey

Scores = dict[GroupKey, torch.Tensor]


def whole_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` itself, or all of it when it is an FSDP2 shard (a `DTensor`: gathered, a collective)."""
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def line_sums(tensor: torch.Tensor, member: UnitMember) -> torch.Tensor:
    """Sum a weight-shaped tensor over the dimension that does not index units: one value per row/column."""
    return tensor.sum(dim=1 - member.dim)


def scatter_to_units(values: torch.Tensor, member: UnitMember, num_units: int) -> torch.Tensor:
    """Add per-row/column `values` into their units (rows/columns of no unit are dropped)."""
    unit_of = member.unit_of.to(values.device)
    inside = unit_of >= 0
    out = torch.zeros(num_units, dtype=torch.float64, device=values.device)
    return out.index_add_(0, unit_of[inside], values[inside].double())


def unit_sums(
    layer: nn.Module,
    group: UnitGroup,
    weight_fn: Callable[[torch.Tensor, UnitMember], torch.Tensor],
    bias_fn: Callable[[torch.Tensor, UnitMember], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Σ over each unit's weights of `weight_fn(weight)` (plus `bias_fn(bias)` over its bias entries)."""
    total = torch.zeros(group.num_units, dtype=torch.float64)
    for member in group.members:
        linear = member_module(layer, member)
        per_line = line_sums(weight_fn(whole_tensor(linear.weight.detach()), member), member)
        if bias_fn is not None and member.dim == 0 and linear.bias is not None:
            per_line = per_line + bias_fn(whole_tensor(linear.bias.detach()), member)
        total += scatter_to_units(per_line, member, group.num_units).cpu()
    return total
