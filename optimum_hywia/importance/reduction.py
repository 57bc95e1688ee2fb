"""Per-weight Taylor saliencies of one group reduced to its per-unit statistics (`TaylorStatistics`).

The statistics are defined in `gradients`' module docstring; this module holds the one reduction both gradient
passes share: the buffered pass (`gradients.taylor_statistics`, from summed per-weight buffers) and the streamed
pass (`streamed`, from each gradient the moment autograd produces it).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from torch import nn

from ..architectures import UnitGroup, UnitMember, member_module
from .units import scatter_to_units, whole_tensor

SAMPLE_SIZE = 65536
REDUCTION_DTYPE = torch.float32  # per-weight saliencies while reducing; per-unit statistics are float64
READINGS = ("fine", "vector", "group")


@dataclass(frozen=True)
class TaylorStatistics:
    """Per-unit Taylor statistics of one group (`gradients` module docstring); the second-order ones only from a
    per-sequence pass. float64 [num_units] each, except the sample and `num_weights`.

    Example:
        >>> stats = context.statistics.taylor()[(3, "mlp")]  # doctest: +SKIP
        >>> stats.fine1, stats.reading("group", order=1)  # doctest: +SKIP
    """

    fine1: torch.Tensor
    vector1: torch.Tensor
    group1: torch.Tensor
    abs_saliency_sample: torch.Tensor
    num_weights: int
    fine2: torch.Tensor | None = None
    vector2: torch.Tensor | None = None
    group2: torch.Tensor | None = None

    def reading(self, name: str, order: int = 1) -> torch.Tensor:
        """The `name` statistic (`fine`, `vector` or `group`) of saliency `order` (1 or 2)."""
        if name not in READINGS or order not in (1, 2):
            raise ValueError(f"No Taylor statistic `{name}` of order {order!r}; readings: {list(READINGS)}, order 1/2.")
        value = getattr(self, f"{name}{order}")
        if value is None:
            raise ValueError("Second-order statistics come from the per-sequence pass: `taylor(second_order=True)`.")
        return value




def group_generator(context, group: UnitGroup) -> torch.Generator:
    seed = zlib.crc32(f"{getattr(context.config, 'seed', 0)}/{group.layer}/{group.kind}".encode())
    return torch.Generator().manual_seed(seed)


def _unit_lines(member: UnitMember, device: torch.device) -> torch.Tensor | None:
    """Positions of the rows/columns that belong to a unit; None when all do."""
    inside = member.unit_of >= 0
    return None if bool(inside.all()) else inside.nonzero().flatten().to(device)


def _flat_unit_values(values: torch.Tensor, member: UnitMember, bias: torch.Tensor | None) -> torch.Tensor:
    """Per-weight values of a member restricted to its unit rows/columns, flattened (bias entries appended)."""
    lines = _unit_lines(member, values.device)
    if lines is not None:
        values = values.index_select(member.dim, lines)
        bias = None if bias is None else bias.index_select(0, lines)
    flat = values.reshape(-1)
    return flat if bias is None else torch.cat([flat, bias])


def reduce_group(
    group: UnitGroup,
    layer: nn.Module,
    buffers: dict[int, tuple[torch.Tensor, torch.Tensor | None]],
    generator: torch.Generator,
) -> TaylorStatistics:
    """Per-unit statistics of one group from the final per-weight g (and F) buffers, which are then dropped."""
    second = any(fisher is not None for _, fisher in buffers.values())
    orders = ("1", "2") if second else ("1",)
    zeros = lambda: torch.zeros(group.num_units, dtype=torch.float64)  # noqa: E731
    stats = {f"{name}{order}": zeros() for name in ("fine", "vector", "group") for order in orders}
    # the sample's positions are drawn over the group's unit weights in member order, before any value is computed
    counts = []
    for member in group.members:
        linear = member_module(layer, member)
        lines = int((member.unit_of >= 0).sum())
        has_bias = member.dim == 0 and linear.bias is not None
        counts.append(lines * linear.weight.shape[1 - member.dim] + (lines if has_bias else 0))
    total = sum(counts)
    positions = (
        torch.arange(total)
        if total <= SAMPLE_SIZE
        else torch.randint(total, (SAMPLE_SIZE,), generator=generator).sort().values
    )
    sample, start = [], 0
    for member, count in zip(group.members, counts):
        linear = member_module(layer, member)
        weight = whole_tensor(linear.weight.detach()).to(REDUCTION_DTYPE)  # an FSDP2 shard: gathered
        g_w, f_w = buffers.pop(id(linear.weight))
        has_bias = member.dim == 0 and linear.bias is not None
        if has_bias:
            bias = whole_tensor(linear.bias.detach()).to(REDUCTION_DTYPE)
            g_b, f_b = buffers.pop(id(linear.bias))
        saliency = {"1": weight * g_w}
        bias_saliency = {"1": bias * g_b} if has_bias else {}
        if second:
            saliency["2"] = saliency["1"] - 0.5 * weight.square() * f_w
            if has_bias:
                bias_saliency["2"] = bias_saliency["1"] - 0.5 * bias.square() * f_b
        for order in orders:
            s = saliency[order]
            signed = s.sum(dim=1 - member.dim, dtype=torch.float64)
            absolute = s.abs().sum(dim=1 - member.dim, dtype=torch.float64)
            if has_bias:
                signed = signed + bias_saliency[order].double()
                absolute = absolute + bias_saliency[order].abs().double()
            stats[f"fine{order}"] += scatter_to_units(absolute, member, group.num_units).cpu()
            stats[f"vector{order}"] += scatter_to_units(signed.abs(), member, group.num_units).cpu()
            stats[f"group{order}"] += scatter_to_units(signed, member, group.num_units).cpu()
        mine = positions[(positions >= start) & (positions < start + count)] - start
        if len(mine):
            flat = _flat_unit_values(saliency["1"].abs(), member, bias_saliency["1"].abs() if has_bias else None)
            sample.append(flat[mine.to(flat.device)].double().cpu())
        start += count
        del saliency, bias_saliency
    for order in orders:
        stats[f"group{order}"] = stats[f"group{order}"].abs()
    sample = torch.cat(sample) if sample else torch.zeros(0, dtype=torch.float64)
    return TaylorStatistics(abs_saliency_sample=sample, num_weights=total, **stats)
