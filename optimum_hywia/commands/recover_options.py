"""`--recover lora|full|distill` for `hywia prune`: recovery right after pruning, merged before saving.

Distillation needs the dense model, so its teacher is prepared before pruning: a frozen copy (teacher logits on the
fly, the default) or the teacher's top-k logits for the training windows, written to a temporary folder
(`--recover-teacher-logits precomputed`), so that teacher and student never share memory.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from typing import Any

from ..data import load_text
from ..training.distillation import (
    DEFAULT_TOP_K,
    TEACHER_LOGITS,
    DistillationConfig,
    WithTeacherTargets,
    copy_teacher,
    precompute_teacher_targets,
    rows_within_budget,
)
from ..training.recovery import DEFAULT_RECOVERY_DATA, LLM_PRUNER_LEARNING_RATE, recover, text_dataset

RECOVERY_METHODS = ("lora", "full", "distill")


def add_recovery_arguments(parser: argparse.ArgumentParser) -> None:
    """The `--recover*` options of `hywia prune`."""
    group = parser.add_argument_group("recovery after pruning")
    group.add_argument("--recover", choices=RECOVERY_METHODS, default=None,
                       help="Recover after pruning: `lora` trains LoRA adapters (r=8, alpha=16, dropout 0.05 on every "
                            "linear projection, LLM-Pruner's recipe) on the language-model loss and merges them; "
                            "`full` trains every weight; `distill` trains on KL(dense teacher || pruned student) at "
                            "`--recover-temperature` (every weight, or LoRA with `--recover-lora`).")
    group.add_argument("--recover-steps", type=int, default=200, help="Optimizer steps of recovery (default: 200).")
    group.add_argument("--recover-data", default=DEFAULT_RECOVERY_DATA,
                       help=f"Training text for recovery: a builtin text, a file or hub:<dataset> (default: "
                            f"{DEFAULT_RECOVERY_DATA}, the calibration texts, disjoint from every evaluation text).")
    group.add_argument("--recover-lr", type=float, default=LLM_PRUNER_LEARNING_RATE,
                       help=f"Learning rate of recovery (default: {LLM_PRUNER_LEARNING_RATE}).")
    group.add_argument("--recover-batch-size", type=int, default=4, help="Windows per step (default: 4).")
    group.add_argument("--recover-seq-len", type=int, default=128, help="Tokens per window (default: 128).")
    group.add_argument("--recover-lora", action=argparse.BooleanOptionalAction, default=None,
                       help="Train LoRA adapters (merged afterwards) instead of every weight (default: on for `lora`, "
                            "off for `full` and `distill`).")
    group.add_argument("--recover-temperature", type=float, default=2.0,
                       help="distill: softmax temperature of teacher and student (default: 2.0).")
    group.add_argument("--recover-lm-weight", type=float, default=0.0,
                       help="distill: weight of the language-model loss added to the KL (default: 0).")
    group.add_argument("--recover-teacher-logits", choices=TEACHER_LOGITS, default="on_the_fly",
                       help="distill: run the teacher beside the student (on_the_fly) or write its top-k logits to "
                            "disk before pruning (precomputed: teacher and student never share memory).")
    group.add_argument("--recover-top-k", type=int, default=None,
                       help=f"distill: teacher logits kept per token (default: all on the fly, {DEFAULT_TOP_K} when "
                            "precomputed).")


@dataclass
class RecoveryPlan:
    """What recovery needs, prepared before pruning: the training rows and, for distillation, the teacher."""

    rows: Any
    lora: bool
    distillation: DistillationConfig | None = None
    teacher: Any = None
    workdir: tempfile.TemporaryDirectory | None = None  # holds precomputed teacher logits; removed after recovery


def check_recovery_arguments(args: argparse.Namespace) -> str | None:
    """Validate the `--recover*` options before any model is loaded; returns the recovery text (None: no recovery)."""
    if args.recover is None:
        return None
    for name in ("recover_steps", "recover_batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"`--{name.replace('_', '-')}` must be an integer >= 1, got {getattr(args, name)}.")
    if args.recover_seq_len < 2:
        raise ValueError(f"`--recover-seq-len` must be >= 2, got {args.recover_seq_len}.")
    if not args.recover_lr > 0:
        raise ValueError(f"`--recover-lr` must be positive, got {args.recover_lr}.")
    if args.recover == "distill":
        distillation_config(args)  # one clear error for a bad temperature, weight or top-k
    return load_text(args.recover_data)


def distillation_config(args: argparse.Namespace) -> DistillationConfig:
    try:
        return DistillationConfig(temperature=args.recover_temperature, lm_weight=args.recover_lm_weight,
                                  teacher_logits=args.recover_teacher_logits, top_k=args.recover_top_k)
    except ValueError as error:
        raise ValueError(f"--recover distill: {error}") from error


def plan_recovery(model: Any, tokenizer: Any, text: str, args: argparse.Namespace) -> RecoveryPlan:
    """Training rows and, for `--recover distill`, the teacher: called with the dense model, before pruning."""
    rows = text_dataset(tokenizer, text=text, seq_len=args.recover_seq_len)
    lora = args.recover_lora if args.recover_lora is not None else args.recover == "lora"
    if args.recover != "distill":
        return RecoveryPlan(rows, lora)
    config = distillation_config(args)
    if config.teacher_logits == "on_the_fly":
        return RecoveryPlan(rows, lora, config, teacher=copy_teacher(model))
    rows = rows_within_budget(rows, args.recover_steps, args.recover_batch_size)
    workdir = tempfile.TemporaryDirectory(prefix="hywia-teacher-")
    path = precompute_teacher_targets(model, rows, workdir.name, top_k=config.top_k,
                                      batch_size=args.recover_batch_size)
    return RecoveryPlan(WithTeacherTargets(rows, path), lora, config, workdir=workdir)


def recover_from_arguments(model: Any, plan: RecoveryPlan, args: argparse.Namespace) -> Any:
    """Recover `model` as the `--recover*` options say; returns the merged model (Trainer progress bar, with the
    running KL when distilling)."""
    with_lora = " with LoRA" if plan.lora and args.recover != "lora" else ""
    print(f"Recovery ({args.recover}{with_lora}): {args.recover_steps} steps x "
          f"{args.recover_batch_size} windows x {args.recover_seq_len} tokens of {args.recover_data} "
          f"({len(plan.rows)} windows available)", flush=True)
    try:
        model = recover(model, plan.rows, lora=plan.lora, max_steps=args.recover_steps, learning_rate=args.recover_lr,
                        batch_size=args.recover_batch_size, training_args={"disable_tqdm": False},
                        teacher=plan.teacher, distillation=plan.distillation, teacher_name=args.model)
    finally:
        if plan.workdir is not None:
            plan.workdir.cleanup()
    if getattr(model.config, "hywia", None) is not None:
        model.config.hywia["recovery"]["data"] = args.recover_data
    return model
