"""When the callback prunes (`PruningSchedule`) and which training settings it refuses before the first step."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from transformers import TrainingArguments

logger = logging.getLogger(__name__)
RATIO_SCHEDULES = ("linear", "cubic")
# the default schedule prunes once, after this fraction of the optimizer steps: those steps' gradients give the
# first-order Taylor statistics, and the remaining 90% of the run recovers the pruned model
DEFAULT_PRUNE_FRACTION = Fraction(1, 10)  # exact: 0.1 * 30 in floats is 3.0000000000000004, whose ceil is 4


def is_step(value: Any) -> bool:
    """A training step number: an integer >= 0."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class PruningSchedule:
    """Optimizer steps after which a stage prunes (0: before training) and the cumulative ratio each reaches.

    Example:
        >>> PruningSchedule.build(0.5, prune_steps=(2, 6, 3)).steps
        (2, 4, 6)
    """

    steps: tuple[int, ...]
    ratios: tuple[float, ...]

    @classmethod
    def build(cls, target: float, prune_at_step: int | None = None, prune_steps: tuple | None = None,
              ratio_schedule: str = "linear") -> "PruningSchedule | None":
        """The schedule of `prune_at_step` or `prune_steps`; None when neither is given: the default schedule, which
        needs `max_steps` and is built when training starts (`PruningSchedule.default`)."""
        if prune_at_step is not None and prune_steps is not None:
            raise ValueError("Pass at most one of `prune_at_step` (one-shot) or `prune_steps=(start, end, n_stages)` "
                             f"(iterative); got prune_at_step={prune_at_step!r}, prune_steps={prune_steps!r}. With "
                             "neither, the callback prunes once after 10% of max_steps.")
        if ratio_schedule not in RATIO_SCHEDULES:
            raise ValueError(f"`ratio_schedule` must be one of {list(RATIO_SCHEDULES)}, got {ratio_schedule!r}.")
        if prune_at_step is None and prune_steps is None:
            return None
        if prune_at_step is not None:
            if not is_step(prune_at_step):
                raise ValueError(f"`prune_at_step` must be an integer >= 0, got {prune_at_step!r}.")
            return cls((prune_at_step,), (target,))
        if not (isinstance(prune_steps, (tuple, list)) and len(prune_steps) == 3 and all(map(is_step, prune_steps))):
            raise ValueError(f"`prune_steps` must be (start, end, n_stages) of integers >= 0, got {prune_steps!r}.")
        start, end, stages = prune_steps
        if stages < 1 or end < start or end - start < stages - 1:
            raise ValueError(f"`prune_steps`={tuple(prune_steps)} needs n_stages >= 1 and end - start >= n_stages - 1.")
        steps = tuple(start + round(i * (end - start) / (stages - 1)) for i in range(stages)) if stages > 1 else (end,)
        fractions = [(i + 1) / stages for i in range(stages)]
        if ratio_schedule == "cubic":  # Zhu & Gupta: prune more early, less when the model has little left to give
            fractions = [1 - (1 - f) ** 3 for f in fractions]
        return cls(steps, tuple(target * f for f in fractions))

    @classmethod
    def default(cls, target: float, max_steps: int) -> "PruningSchedule":
        """One shot after the first 10% of `max_steps` (at least one step): what `HyWIACallback(config)` uses when
        given neither `prune_at_step` nor `prune_steps`.

        Example:
            >>> PruningSchedule.default(0.2, max_steps=200).steps
            (20,)
        """
        return cls((max(1, math.ceil(DEFAULT_PRUNE_FRACTION * max_steps)),), (target,))

    def check(self, max_steps: int) -> None:
        if self.steps[-1] > max_steps:
            raise ValueError(f"The pruning schedule ends at step {self.steps[-1]}, after the last training step "
                             f"(max_steps={max_steps}); allowed steps: 0..{max_steps}.")


def check_training_arguments(args: TrainingArguments) -> None:
    """Refuse, before training starts, the settings under which masks and statistics would be wrong."""
    env = lambda name: os.environ.get(name, "").lower() in ("1", "true", "yes")  # noqa: E731
    backend = getattr(getattr(getattr(args, "distributed_state", None), "distributed_type", None), "name", "")
    unsupported = [
        (bool(args.deepspeed) or env("ACCELERATE_USE_DEEPSPEED") or backend == "DEEPSPEED",
         f"DeepSpeed (deepspeed={args.deepspeed!r}): its ZeRO partitions hide full weights and gradients"),
        (bool(args.fsdp) or env("ACCELERATE_USE_FSDP") or backend == "FSDP",
         f"FSDP (fsdp={args.fsdp!r}): sharded parameters cannot be masked or cut per unit"),
        (backend == "MEGATRON_LM" or getattr(args, "parallelism_config", None) is not None,
         "tensor/context parallelism (`parallelism_config`, Megatron-LM)"),
        (bool(args.torch_compile), "torch_compile=True: compiled graphs would not see the pruning masks"),
        (bool(args.load_best_model_at_end),
         "load_best_model_at_end=True: the best checkpoint may come from before pruning"),
    ]
    for bad, what in unsupported:
        if bad:
            raise ValueError(f"HyWIACallback does not support {what}. Supported: one process, DDP (accelerate launch, "
                             "torchrun), gradient accumulation, peft models. A model too big for one device is pruned "
                             "sharded with FSDP2 by `torchrun --nproc_per_node N --no-python hywia prune ... --fsdp`, "
                             "then trained.")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and args.world_size == 1:
        logger.warning("WORLD_SIZE=%s but the Trainer runs without DDP: every process trains (and prunes) a copy of "
                       "its own. On CPU, pass `use_cpu=True` to TrainingArguments.", os.environ["WORLD_SIZE"])
