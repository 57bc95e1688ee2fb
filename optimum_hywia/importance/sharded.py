"""First-order Taylor statistics of a model sharded with FSDP2 (`torch.distributed.fsdp.fully_shard`).

Streamed (the default, `statistics_pass="streamed"`, `streamed_sharded_statistics`): each rank runs its share of the
calibration windows (`rank, rank + world, ...`) through the sharded model once, every decoder layer checkpointed,
and backward once, as the one-process streamed pass does. FSDP2 hands each parameter's gradient to a
post-accumulate-grad hook once, already reduce-scattered (the rank's rows of the mean over ranks); the hook gathers
it, × world, and as soon as a group's last member is in the group is reduced by `reduction.reduce_group` on the
gathered weights. Every rank runs the same hooks in the same order, so the gathers pair up, and every rank ends with
the same statistics: no per-weight sum outlives its layer, so a rank holds about its shard of the weights.

Buffered (`statistics_pass="buffered"`, or where the streamed pass does not apply): each rank runs the calibration
batches `rank, rank + world, ...` (the ranks with one batch fewer run a zero-weighted pass, so every rank joins
every collective); the hooks sum the gradient shards in `config.memory.statistics_dtype`, so a rank holds 1/world of the
per-weight sums (decoder layers checkpointed and each batch's backward in chunks whose logits stay within
`gradient_pass.LOGITS_CHUNK_BYTES`); then, one decoder layer at a time, the layer is unsharded, its members' sums
are gathered (× world) and each group is reduced by the same `reduce_group`.

Second-order statistics need each sequence's own gradient, which FSDP2 averages over ranks: they are refused.

Example:
    >>> from torch.distributed.fsdp import fully_shard  # doctest: +SKIP
    >>> for layer in model.model.layers: fully_shard(layer)  # doctest: +SKIP
    >>> fully_shard(model)  # doctest: +SKIP
    >>> is_fully_sharded(model), sharded_statistics(context)[(0, "mlp")].fine1  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor
from tqdm.auto import tqdm

from ..architectures import UnitGroup, groups_by_layer, member_module
from ..finite import check_gradient
from ..architectures.base import GroupKey
from .gradient_pass import (
    activation_checkpointing,
    calibration_loss,
    gradient_scope,
    input_device,
    member_parameters,
    statistics_dtype,
    supports_activation_checkpointing,
    windows_per_chunk,
)
from .reduction import TaylorStatistics, group_generator, reduce_group
from .streamed import GroupReducer, can_stream, streamed_pass, window_weights
from .units import whole_tensor

if TYPE_CHECKING:
    from .base import ScoringContext


def is_fully_sharded(model: nn.Module) -> bool:
    """Whether any parameter of `model` is an FSDP2 shard (a `DTensor`)."""
    return any(isinstance(parameter, DTensor) for parameter in model.parameters())


def _layer_members(layer: nn.Module, groups: list[UnitGroup]) -> dict[str, nn.Linear]:
    """The member projections of `groups` in `layer`, by path, each once."""
    return {member.path: member_module(layer, member) for group in groups for member in group.members}


class _ShardSums:
    """Per-parameter sums of the reduce-scattered gradient shards, filled by post-accumulate-grad hooks."""

    def __init__(self, params: list[nn.Parameter], dtype: torch.dtype):
        self.dtype = dtype
        self.sums: dict[int, torch.Tensor] = {}
        self.handles = [p.register_post_accumulate_grad_hook(self._fold) for p in params]

    def _fold(self, param: nn.Parameter) -> None:
        grad, param.grad = param.grad.to(self.dtype), None
        if id(param) in self.sums:
            self.sums[id(param)].add_(grad)
        else:
            self.sums[id(param)] = grad

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def full(self, param: nn.Parameter, scale: float) -> torch.Tensor:
        """The whole gradient sum of `param` (a collective: every rank calls it in the same order), × `scale`."""
        shard = self.sums.pop(id(param), None)
        if shard is None:
            shard = torch.zeros_like(param, dtype=self.dtype)
        return whole_tensor(shard).mul_(scale)


def _sharded_pass(context: ScoringContext, params: list[nn.Parameter]) -> _ShardSums:
    """The calibration backward pass of this rank's share of the batches, gradient shards summed by hooks."""
    model, config = context.model, context.config
    batches = list(context.calibration)
    world, rank = dist.get_world_size(), dist.get_rank()
    own = batches[rank::world]
    passes = -(-len(batches) // world)
    device = input_device(model)
    sums = _ShardSums(params, statistics_dtype(context))
    # with the streamed pass's memory in mind: layers checkpointed and logits a bounded chunk at a time
    lean = config.memory.statistics_pass == "streamed" and supports_activation_checkpointing(model)
    micro = config.memory.gradient_micro_batch or (windows_per_chunk(model, batches[0].shape[1]) if lean else None)
    checkpointing = activation_checkpointing(model, config.memory.gradient_checkpointing or lean)
    try:
        with gradient_scope(model, params), checkpointing, torch.enable_grad():
            for step in tqdm(range(passes), desc="Gradients (sharded)", leave=False, disable=rank != 0):
                batch = (own[step] if step < len(own) else batches[0]).to(device)
                weight = 1.0 if step < len(own) else 0.0  # a pass that only keeps this rank in step with the others
                for part in batch.split(micro or len(batch)):
                    (calibration_loss(model, part) * (weight * len(part) / len(batch))).backward()
    except BaseException:
        sums.remove()
        raise
    sums.remove()
    return sums


def sharded_statistics(context: ScoringContext, second_order: bool = False) -> dict[GroupKey, TaylorStatistics]:
    """Per-group first-order `TaylorStatistics` of an FSDP2-sharded model (module docstring), the same on every
    rank; a decoder layer that is not its own FSDP module (`fully_shard(layer)`) is refused."""
    if second_order:
        raise ValueError(
            "Second-order Taylor statistics (taylor_order=2) need per-sequence gradients, which FSDP averages over "
            "ranks; use taylor_order=1 with FSDP, or prune in one process."
        )
    if not context.calibration:
        raise ValueError("Gradient statistics need calibration batches (`context.calibration` is empty).")
    by_layer = groups_by_layer(context.groups)
    for index in by_layer:
        if not isinstance(context.layers[index], FSDPModule):
            raise ValueError(
                f"Decoder layer {index} is not an FSDP module: shard every decoder layer with `fully_shard(layer)` "
                "before the model (`optimum_hywia.fsdp.shard_model` does both)."
            )
    if can_stream_sharded(context):
        return streamed_sharded_statistics(context)
    sharded_params = {index: _layer_members(context.layers[index], groups) for index, groups in by_layer.items()}
    sums = _sharded_pass(context, member_parameters(context))
    world = float(dist.get_world_size())  # FSDP2 averages the shards over ranks; the pass wants their sum
    statistics = {}
    for index in sorted(by_layer):
        layer = context.layers[index]
        gathered = {}
        for path, linear in sharded_params[index].items():
            gathered[path] = [sums.full(linear.weight, world)]
            if linear.bias is not None:
                gathered[path].append(sums.full(linear.bias, world))
        layer.unshard()
        try:
            statistics.update(_reduce_layer(context, layer, by_layer[index], gathered))
        finally:
            layer.reshard()
    return statistics


def _reduce_layer(
    context: ScoringContext,
    layer: nn.Module,
    groups: list[UnitGroup],
    gathered: dict[str, list[torch.Tensor]],
) -> dict[GroupKey, TaylorStatistics]:
    """Reduce the groups of one unsharded layer from its members' gathered gradient sums (weight, then bias)."""
    buffers: dict[int, tuple[torch.Tensor, None]] = {}
    for path, sums in gathered.items():
        linear = layer.get_submodule(path)
        for name, full, parameter in zip(("weight", "bias"), sums, (linear.weight, linear.bias)):
            check_gradient(f"layers.{groups[0].layer}.{path}.{name}", full)
            buffers[id(parameter)] = (full, None)
    return {
        group.key: reduce_group(group, layer, buffers, group_generator(context, group)) for group in groups
    }


def can_stream_sharded(context: ScoringContext) -> bool:
    """Whether the streamed sharded pass applies: a forward that takes `logits_to_keep` (the root computes no
    logits) and the one-process conditions (`streamed.can_stream`) with the hidden state from the FSDP root."""
    if "logits_to_keep" not in inspect.signature(context.model.forward).parameters:
        return False
    return can_stream(context, _hidden_through_the_root)


def streamed_sharded_statistics(context: ScoringContext) -> dict[GroupKey, TaylorStatistics]:
    """The streamed pass (`streamed.py`) on an FSDP2-sharded model: each rank runs its share of the calibration
    windows (`rank, rank + world, ...`, each with its weight in the whole set's loss) through the model once, all
    decoder layers checkpointed, and backward once. FSDP2 hands each parameter's gradient over once, a shard of the
    mean over ranks; the reducer gathers it (× world: the sum over every rank's windows) and, when a group's last
    member is in, reduces the group on whole weights. Every rank runs the same hooks in the same order, so their
    gathers pair up, and ends with the same statistics; no per-weight sum outlives its layer."""
    model = context.model
    world, rank = dist.get_world_size(), dist.get_rank()
    device = input_device(model)
    windows, weights = torch.cat(context.calibration), window_weights(context.calibration)
    own = torch.arange(rank, len(windows), world)
    if len(own):
        input_ids, weights = windows[own].to(device), weights[own].to(device)
    else:  # more ranks than windows: a zero-weighted window keeps this rank in the others' collectives
        input_ids, weights = windows[:1].to(device), torch.zeros(1, device=device)
    reducer = GroupReducer(context, context.groups, full_gradient=lambda gradient: whole_tensor(gradient).mul_(world))
    return streamed_pass(context, input_ids, weights, _hidden_through_the_root, reducer,
                         desc="Gradients (sharded, streamed)", show_progress=rank == 0)


def _hidden_through_the_root(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """The last hidden state from a forward of the FSDP2 root (which gathers the embeddings and the output head, and
    keeps them gathered until the backward pass) that computes no logits: they come in chunks (`streamed_pass`)."""
    no_logits = torch.zeros(0, dtype=torch.long, device=input_ids.device)
    output = model(input_ids=input_ids, output_hidden_states=True, logits_to_keep=no_logits, use_cache=False)
    return output.hidden_states[-1]
