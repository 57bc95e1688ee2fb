"""Recovery by distillation from the dense model: KL(teacher ‖ student) on the logits at a temperature.

The teacher is the model as it was before pruning, frozen (eval mode, no gradients), in bfloat16 where the hardware
has it. Its logits are computed on the fly (the default: teacher and student both in memory), or computed once
before pruning and kept on disk as their top-k (values and token ids, safetensors), so that the two never share
memory. The loss per predicted token is ``T² · KL(softmax(t / T) ‖ softmax(s / T))`` (Hinton's scaling, so that the
gradient keeps its size across temperatures) plus, optionally, ``lm_weight`` times the language-model loss. With
top-k targets the teacher's distribution is its top-k renormalised, and the student's log-probabilities are read at
those k tokens.

Example:
    >>> config = DistillationConfig(temperature=2.0)
    >>> teacher = frozen_teacher(copy.deepcopy(dense))                                   # doctest: +SKIP
    >>> loss = distillation_loss(student_logits, teacher_targets(teacher_logits), config)   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from ..hardware import fast_bfloat16

TEACHER_LOGITS = ("on_the_fly", "precomputed")
TEACHER_FILE = "teacher_topk.safetensors"
DEFAULT_TOP_K = 64
VALUES_KEY, INDICES_KEY = "teacher_values", "teacher_indices"


@dataclass
class DistillationConfig:
    """How the pruned model learns from the dense one.

    Example:
        >>> DistillationConfig(temperature=2.0, lm_weight=0.1).temperature
        2.0
    """

    temperature: float = 2.0
    lm_weight: float = 0.0  # weight of the language-model loss added to the distillation loss
    teacher_logits: str = "on_the_fly"  # or "precomputed": top-k teacher logits computed once, kept on disk
    top_k: int | None = None  # teacher logits kept per token (None: the whole vocabulary; precomputed: 64)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"`temperature` must be positive, got {self.temperature!r}.")
        if not self.lm_weight >= 0:
            raise ValueError(f"`lm_weight` must be >= 0, got {self.lm_weight!r}.")
        if self.teacher_logits not in TEACHER_LOGITS:
            raise ValueError(f"`teacher_logits` must be one of {', '.join(TEACHER_LOGITS)}, got "
                             f"{self.teacher_logits!r}.")
        if self.top_k is None and self.teacher_logits == "precomputed":
            self.top_k = DEFAULT_TOP_K
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int)
                                       or self.top_k < 1):
            raise ValueError(f"`top_k` must be a positive integer or None, got {self.top_k!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TeacherTargets:
    """The teacher's logits for a batch: ``values [B, L, k]`` at token ids ``indices [B, L, k]`` (None: every token
    of the vocabulary, in order)."""

    values: torch.Tensor
    indices: torch.Tensor | None = None


def teacher_targets(logits: torch.Tensor, top_k: int | None = None) -> TeacherTargets:
    """The targets of ``logits [B, L, V]``: all of them, or their ``top_k`` largest."""
    if top_k is None or top_k >= logits.shape[-1]:
        return TeacherTargets(logits)
    values, indices = logits.topk(top_k, dim=-1)
    return TeacherTargets(values, indices)


def kl_per_token(student_logits: torch.Tensor, targets: TeacherTargets, temperature: float) -> torch.Tensor:
    """``KL(teacher ‖ student)`` at ``temperature`` for every position, ``[B, L]`` (not yet scaled by T²)."""
    student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    if targets.indices is not None:
        student = student.gather(-1, targets.indices)
    teacher = F.log_softmax(targets.values.float() / temperature, dim=-1)
    return (teacher.exp() * (teacher - student)).sum(-1)


def distillation_loss(student_logits: torch.Tensor, targets: TeacherTargets, config: DistillationConfig,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """``T² ·`` the mean KL over the predicted positions (``mask [B, L]``: which positions count; default all).

    The logits are those of the model's own positions: position ``i`` predicts token ``i + 1``, for teacher and student
    alike, so no shift is needed.
    """
    kl = kl_per_token(student_logits, targets, config.temperature)
    if mask is None:
        mean = kl.mean()
    else:
        mask = mask.to(kl.dtype)
        mean = (kl * mask).sum() / mask.sum().clamp(min=1)
    return mean * config.temperature**2


def frozen_teacher(model: nn.Module, dtype: str = "auto") -> nn.Module:
    """``model`` as a teacher: eval mode, no gradients, in bfloat16 where the device has fast bfloat16
    (``dtype="auto"``), else in ``dtype`` (``"float32"``: as it is)."""
    model.eval().requires_grad_(False)
    device = next(model.parameters()).device
    if dtype == "auto":
        dtype = "bfloat16" if fast_bfloat16(device) else None
    if dtype not in (None, "float32"):
        model.to(getattr(torch, dtype))
    return model


def teacher_logits_of(teacher: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
                      ) -> torch.Tensor:
    with torch.no_grad():
        return teacher(input_ids=input_ids.to(next(teacher.parameters()).device), attention_mask=attention_mask,
                       use_cache=False).logits


def rows_within_budget(rows: Sequence[dict], max_steps: int, batch_size: int, seed: int = 0) -> list[dict]:
    """The rows a run of `max_steps` x `batch_size` reads: a seeded draw of that many (all of them when the budget
    covers the dataset), so that precomputing the teacher's logits costs what the budget costs, not the dataset."""
    needed = min(len(rows), max_steps * batch_size)
    return random.Random(seed).sample(list(rows), needed)


def precompute_teacher_targets(teacher: nn.Module, rows: Sequence[dict], folder: str | os.PathLike,
                               top_k: int = DEFAULT_TOP_K, batch_size: int = 4) -> Path:
    """Write the teacher's top-k logits for every row (``{"input_ids"}``, all of one length) to
    ``folder/teacher_topk.safetensors`` (values in bfloat16, token ids in int32) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    values, indices = [], []
    starts = range(0, len(rows), batch_size)
    for start in tqdm(starts, desc="Teacher top-k logits", unit="batch"):
        batch = torch.stack([row["input_ids"] for row in rows[start : start + batch_size]])
        targets = teacher_targets(teacher_logits_of(teacher, batch).float(), top_k)
        values.append(targets.values.to(torch.bfloat16).cpu())
        indices.append(targets.indices.to(torch.int32).cpu())
    path = folder / TEACHER_FILE
    metadata = {"top_k": str(top_k), "rows": str(len(rows))}
    save_file({VALUES_KEY: torch.cat(values), INDICES_KEY: torch.cat(indices)}, str(path), metadata=metadata)
    return path


class WithTeacherTargets(torch.utils.data.Dataset):
    """Training rows with the teacher's precomputed top-k logits added (read from disk row by row)."""

    def __init__(self, rows: Sequence[dict], path: str | os.PathLike):
        self.rows, self.path = rows, str(path)
        with safe_open(self.path, framework="pt") as handle:
            stored = int(handle.metadata()["rows"])
        if stored != len(rows):
            raise ValueError(f"{self.path} holds teacher logits for {stored} rows, the dataset has {len(rows)}.")

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        with safe_open(self.path, framework="pt") as handle:
            values = handle.get_slice(VALUES_KEY)[index]
            indices = handle.get_slice(INDICES_KEY)[index]
        return {**self.rows[index], VALUES_KEY: values, INDICES_KEY: indices.long()}


def batch_targets(inputs: dict, teacher: nn.Module | None, config: DistillationConfig) -> TeacherTargets:
    """The teacher's targets for a training batch: popped from ``inputs`` when precomputed, else computed now."""
    if VALUES_KEY in inputs:
        return TeacherTargets(inputs.pop(VALUES_KEY), inputs.pop(INDICES_KEY))
    if teacher is None:
        raise ValueError("Distillation needs a teacher model or precomputed teacher logits in the batch.")
    logits = teacher_logits_of(teacher, inputs["input_ids"], inputs.get("attention_mask"))
    return teacher_targets(logits, config.top_k)


def recipe(config: DistillationConfig, teacher_name: str | None) -> dict[str, Any]:
    """The distillation part of a recovery recipe, for the config's `hywia` block and the model card."""
    return {**config.to_dict(), "teacher": teacher_name or "the dense model before pruning"}


def describe(recovery: dict[str, Any]) -> str:
    """One line for a model card: how the model was recovered.

    Example:
        >>> describe({"method": "distill", "max_steps": 100, "tokens": 51200, "temperature": 2.0, "lora": True})
        'distill, 100 steps (51,200 tokens), temperature 2.0, LoRA'
    """
    parts = [str(recovery.get("method", "?"))]
    if "max_steps" in recovery:
        tokens = f" ({recovery['tokens']:,} tokens)" if recovery.get("tokens") else ""
        parts.append(f"{recovery['max_steps']} steps{tokens}")
    if recovery.get("method") == "distill":
        parts.append(f"temperature {recovery.get('temperature')}")
        parts.append("LoRA" if recovery.get("lora") else "all weights")
    return ", ".join(parts)


def copy_teacher(model: nn.Module, dtype: str = "auto") -> nn.Module:
    """A frozen copy of ``model`` to distil from, taken before it is pruned."""
    return frozen_teacher(copy.deepcopy(model), dtype)


__all__ = [
    "DistillationConfig",
    "TeacherTargets",
    "WithTeacherTargets",
    "copy_teacher",
    "distillation_loss",
    "frozen_teacher",
    "kl_per_token",
    "precompute_teacher_targets",
    "rows_within_budget",
    "teacher_targets",
]
