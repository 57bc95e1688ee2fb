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
the Fisher) in `config.memory.statistics_dtype`, one fresh gradient at a time, and the activations of one batch (fewer
with `config.memory.gradient_checkpointing`); `config.memory.layers_per_pass` bounds the sums to a few layers at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from ..architectures import UnitGroup
from ..architectures.base import GroupKey
from .reduction import (  # noqa: F401  (re-exported)
    READINGS,
    REDUCTION_DTYPE,
    SAMPLE_SIZE,
    TaylorStatistics,
    group_generator,
    reduce_group,
)
from .sharded import is_fully_sharded, sharded_statistics
from .streamed import can_stream, streamed_statistics
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

Statistics = dict[GroupKey, TaylorStatistics]
GradientAccumulator = Callable[["ScoringContext", list, bool], tuple[list[torch.Tensor], list[torch.Tensor] | None]]


def taylor_statistics(
    context: ScoringContext, second_order: bool = False, accumulate: GradientAccumulator | None = None
) -> Statistics:
    """Per-group Taylor statistics (module docstring) from passes over `context.calibration`.

    Criteria read them through `context.statistics.taylor(second_order)`, which computes them once per context.
    First order: `fine1`, `vector1`, `group1`, the saliency sample. `second_order=True` runs per-sequence backward
    passes and adds `fine2`, `vector2`, `group2` (the two passes are independent, so a criterion's result does not
    depend on which criterion ran first).

    With `config.memory.layers_per_pass` set, the pruned layers are scored that many at a time, one calibration pass
    each, so per-weight buffers exist for one run of layers only; the statistics are the same as all at once.
    `accumulate(context, params, second_order)` replaces `accumulate_gradients` (e.g. to shard the batches).
    A model sharded with FSDP2 is scored by `sharded.sharded_statistics`, each rank a share of the batches.
    First order without `accumulate` uses the streamed pass where it applies (`streamed.can_stream`): the same
    statistics up to float rounding, one backward pass, no per-weight buffers (`layers_per_pass` is then moot).
    """
    if is_fully_sharded(context.model):
        return sharded_statistics(context, second_order)
    if not second_order and accumulate is None and can_stream(context):
        return streamed_statistics(context)
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
        group.key: reduce_group(group, context.layer_of(group), buffers, group_generator(context, group))
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
