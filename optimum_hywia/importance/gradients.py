"""Gradient statistics of the calibration causal-LM loss, reduced to per-unit Taylor scores.

One pass over the calibration batches accumulates, for every weight (and bias entry) of every member projection of
the pruned groups, g = Σ_batches ∇ loss_b (loss_b: mean token loss of batch b, labels = input ids). With
`second_order=True` every sequence gets its own backward pass, giving F = mean over sequences of (∇ loss_s)²
(diagonal Fisher); g is then assembled from the same per-sequence gradients as Σ_b (1/|b|) Σ_{s∈b} ∇ loss_s, which
equals the batch gradient up to rounding (every sequence of a [b, L] batch has the same number of tokens).

Per weight k: s_k = w_k·g_k (first order) or s_k = w_k·g_k − ½·w_k²·F_k (second order). Per unit u (suffix 1 or 2
for the order):
- `fine`: Σ_{k∈u} |s_k| — every weight judged alone (LLM-Pruner "element-wise").
- `vector`: for each member, |Σ s| over each row (dim 0, bias entry added into its row) or column (dim 1), summed
  over the unit's rows/columns (LLM-Pruner "vector-wise").
- `group`: |Σ_{k∈u} s_k| over all members together — the Taylor estimate of the loss change of removing u.
- `abs_saliency_sample` (first order): a seeded uniform sample (with replacement, sorted positions; the exact values
  when the group has at most `SAMPLE_SIZE` of them) of the per-weight |w·g| of the group's unit weights and bias
  entries, and `num_weights`, how many there are. Pooled over groups, each sampled value standing for
  num_weights / len(sample) weights, it estimates the per-layer density that a global ranking of individual weights
  by |w·g| would keep: see `fine_grained_densities`.

Scoring never changes the model: each `.grad` is folded into the running sums and released as soon as autograd
writes it (gradients held before are put back), only the member weights require grad during the pass, and training
mode and `requires_grad` flags are restored afterwards. Memory: the weights, one sum per member weight (two with
the Fisher) in `config.statistics_dtype`, one fresh gradient at a time, and the activations of one batch (fewer
with `config.gradient_checkpointing`); `config.layers_per_pass` bounds the sums to a few layers at a time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from ..architectures import UnitGroup, UnitMember, member_module
from ..selection import GroupKey
from .units import scatter_to_units
from .gradient_pass import (  # noqa: F401  (re-exported: the statistics' public entry points live here)
    accumulate_gradients,
    activation_checkpointing,
    calibration_loss,
    gradient_scope,
    input_device,
    layer_chunks,
    member_parameters,
)

if TYPE_CHECKING:
    from .base import ScoringContext

SAMPLE_SIZE = 65536
REDUCTION_DTYPE = torch.float32  # per-weight saliencies while reducing; per-unit statistics are float64
READINGS = ("fine", "vector", "group")


@dataclass(frozen=True)
class TaylorStatistics:
    """Per-unit Taylor statistics of one group (module docstring); the second-order ones only from a per-sequence
    pass. float64 [num_units] each, except the sample and `num_weights`.

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


Statistics = dict[GroupKey, TaylorStatistics]
GradientAccumulator = Callable[["ScoringContext", list, bool], tuple[list[torch.Tensor], list[torch.Tensor] | None]]


def _group_generator(context: ScoringContext, group: UnitGroup) -> torch.Generator:
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


def _reduce_group(
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
        weight = linear.weight.detach().to(REDUCTION_DTYPE)
        g_w, f_w = buffers.pop(id(linear.weight))
        has_bias = member.dim == 0 and linear.bias is not None
        if has_bias:
            bias = linear.bias.detach().to(REDUCTION_DTYPE)
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


def taylor_statistics(
    context: ScoringContext, second_order: bool = False, accumulate: GradientAccumulator | None = None
) -> Statistics:
    """Per-group Taylor statistics (module docstring) from passes over `context.calibration`.

    Criteria read them through `context.statistics.taylor(second_order)`, which computes them once per context.
    First order: `fine1`, `vector1`, `group1`, the saliency sample. `second_order=True` runs per-sequence backward
    passes and adds `fine2`, `vector2`, `group2` (the two passes are independent, so a criterion's result does not
    depend on which criterion ran first).

    With `config.layers_per_pass` set, the pruned layers are scored that many at a time, one calibration pass
    each, so per-weight buffers exist for one run of layers only; the statistics are the same as all at once.
    `accumulate(context, params, second_order)` replaces `accumulate_gradients` (e.g. to shard the batches).
    """
    statistics: Statistics = {}
    for groups in layer_chunks(context):
        params = member_parameters(context, groups)
        if not params:
            continue
        grads, fisher = (accumulate or accumulate_gradients)(context, params, second_order)
        statistics.update(statistics_from_gradients(context, params, grads, fisher, groups))
    return statistics


def statistics_from_gradients(
    context: ScoringContext,
    params: list[nn.Parameter],
    grads: list[torch.Tensor],
    fisher: list[torch.Tensor] | None = None,
    groups: list[UnitGroup] | None = None,
) -> Statistics:
    """Per-group statistics (module docstring) from per-weight g (and F) of `params` = `member_parameters(context,
    groups)` (default groups: all pruned ones).

    The reduction behind `taylor_statistics`, for gradients accumulated elsewhere (e.g. over training steps by
    `HyWIACallback`). The lists are consumed: their buffers are released group by group.
    """
    buffers = {
        id(p): (g, None if fisher is None else f) for p, g, f in zip(params, grads, fisher or [None] * len(params))
    }
    grads.clear()
    if fisher is not None:
        fisher.clear()
    return {
        group.key: _reduce_group(group, context.layer_of(group), buffers, _group_generator(context, group))
        for group in (context.groups if groups is None else groups)
    }


def fine_grained_densities(statistics: Statistics, sparsity: float) -> dict[GroupKey, float]:
    """Per-group density a global ranking of individual weights by |w·g| would keep at `sparsity`.

    Pools every group's `abs_saliency_sample`, each value standing for num_weights / len(sample) weights, finds the
    threshold below which a `sparsity` fraction of all weights falls, and returns each group's fraction of weights
    at or above it (exact when every group's sample holds all its values).
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"`sparsity` must be in [0, 1), got {sparsity!r}.")
    values, weights = [], []
    for stats in statistics.values():
        sample = stats.abs_saliency_sample
        values.append(sample)
        weights.append(torch.full_like(sample, float(stats.num_weights) / max(len(sample), 1)))
    values, weights = torch.cat(values), torch.cat(weights)
    order = torch.argsort(values, stable=True)
    below = torch.cumsum(weights[order], 0)
    cut = int(torch.searchsorted(below, sparsity * float(weights.sum()), right=True))
    threshold = values[order[cut]] if cut < len(order) else float("inf")
    return {
        key: float((stats.abs_saliency_sample >= threshold).double().mean()) if len(stats.abs_saliency_sample)
        else 1.0
        for key, stats in statistics.items()
    }
