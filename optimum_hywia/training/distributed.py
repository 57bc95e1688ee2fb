"""Several processes (torch.distributed, e.g. under `accelerate launch`): every rank must prune the same units.

Every helper is a no-op in a single process, so callers need no branches. What crosses ranks:
- per-weight gradient sums of a calibration pass, computed on a shard of the batches per rank and summed with
  `all_reduce` (SUM), then reduced to per-unit statistics exactly as in one process (`sharded_gradients`, the
  `accumulate` of a `ScoringContext`);
- calibration windows seen by each rank during training (`all_gather_object`, ordered by rank);
- the final plan, broadcast from rank 0 (`broadcast_object`), so floating-point differences between ranks can never
  make two ranks cut different units.

Example:
    >>> from optimum_hywia.training.distributed import all_reduce_sum_, world_size
    >>> world_size()
    1
    >>> import torch; t = [torch.ones(2)]; all_reduce_sum_(t); t[0].tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..importance.base import ScoringContext
from ..importance.gradient_pass import accumulate_gradients, statistics_dtype
from ..importance.gradients import GradientAccumulator

T = TypeVar("T")


def is_distributed() -> bool:
    """True when a torch.distributed process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def all_reduce_sum_(tensors: list[torch.Tensor]) -> None:
    """Sum each tensor over all ranks, in place (float64 tensors travel as they are)."""
    if not is_distributed():
        return
    for tensor in tensors:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)


def all_gather_objects(value: T) -> list[T]:
    """`value` of every rank, in rank order (`[value]` in one process)."""
    if not is_distributed():
        return [value]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(value: T, src: int = 0) -> T:
    """Rank `src`'s `value` on every rank (`value` itself in one process)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gradient_accumulator() -> GradientAccumulator | None:
    """How a scoring context sums calibration gradients here: `sharded_gradients` across ranks, None (the
    single-process pass) in one process."""
    return sharded_gradients if is_distributed() else None


def sharded_gradients(
    context: ScoringContext, params: list, second_order: bool
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """`accumulate_gradients` with the calibration batches split over ranks (batch i on rank i mod world size).

    Each rank sums its shard's per-weight gradients g (and Σ over its sequences of the squared per-sequence
    gradients for the Fisher); `all_reduce` SUM gives the whole set's sums on every rank, which are then reduced
    to per-unit statistics exactly as in one process.
    """
    shard = list(context.calibration or [])[rank():: world_size()]
    local = dataclasses.replace(context, calibration=shard, accumulate=None)
    if shard:
        grads, fisher = accumulate_gradients(local, params, second_order)
    else:
        dtype = statistics_dtype(context)
        grads = [torch.zeros_like(p, dtype=dtype) for p in params]
        fisher = [torch.zeros_like(p, dtype=dtype) for p in params] if second_order else None
    all_reduce_sum_(grads)
    if fisher is not None:
        local_sequences = sum(len(batch) for batch in shard)
        total_sequences = sum(len(batch) for batch in context.calibration)
        for fish in fisher:
            fish.mul_(local_sequences)  # back from the shard's mean to its sum
        all_reduce_sum_(fisher)
        for fish in fisher:
            fish.div_(total_sequences)
    return grads, fisher
