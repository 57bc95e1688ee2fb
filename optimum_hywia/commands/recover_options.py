"""`--recover lora` for `hywia prune`: LoRA recovery (LLM-Pruner's recipe) right after pruning, merged before saving."""

from __future__ import annotations

import argparse
from typing import Any

from ..recovery import DEFAULT_RECOVERY_DATA, LLM_PRUNER_LEARNING_RATE

RECOVERY_METHODS = ("lora",)


def add_recovery_arguments(parser: argparse.ArgumentParser) -> None:
    """The `--recover*` options of `hywia prune`."""
    group = parser.add_argument_group("recovery after pruning")
    group.add_argument("--recover", choices=RECOVERY_METHODS, default=None,
                       help="Recover after pruning: `lora` trains LoRA adapters (r=8, alpha=16, dropout 0.05 on every "
                            "linear projection, LLM-Pruner's recipe) and merges them into the pruned model.")
    group.add_argument("--recover-steps", type=int, default=200, help="Optimizer steps of recovery (default: 200).")
    group.add_argument("--recover-data", default=DEFAULT_RECOVERY_DATA,
                       help=f"Training text for recovery: a builtin text, a file or hub:<dataset> (default: "
                            f"{DEFAULT_RECOVERY_DATA}, the calibration texts, disjoint from every evaluation text).")
    group.add_argument("--recover-lr", type=float, default=LLM_PRUNER_LEARNING_RATE,
                       help=f"Learning rate of recovery (default: {LLM_PRUNER_LEARNING_RATE}).")
    group.add_argument("--recover-batch-size", type=int, default=4, help="Windows per step (default: 4).")
    group.add_argument("--recover-seq-len", type=int, default=128, help="Tokens per window (default: 128).")


def check_recovery_arguments(args: argparse.Namespace) -> str | None:
    """Validate the `--recover*` options before any model is loaded; returns the recovery text (None: no recovery)."""
    if args.recover is None:
        return None
    from ..data import load_text

    for name in ("recover_steps", "recover_batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"`--{name.replace('_', '-')}` must be an integer >= 1, got {getattr(args, name)}.")
    if args.recover_seq_len < 2:
        raise ValueError(f"`--recover-seq-len` must be >= 2, got {args.recover_seq_len}.")
    if not args.recover_lr > 0:
        raise ValueError(f"`--recover-lr` must be positive, got {args.recover_lr}.")
    return load_text(args.recover_data)


def recover_from_arguments(model: Any, tokenizer: Any, text: str, args: argparse.Namespace) -> Any:
    """Recover `model` on `text` as the `--recover*` options say; returns the merged model (Trainer progress bar)."""
    from ..recovery import recover, text_dataset

    dataset = text_dataset(tokenizer, text=text, seq_len=args.recover_seq_len)
    print(f"Recovery ({args.recover}): {args.recover_steps} steps x {args.recover_batch_size} windows x "
          f"{args.recover_seq_len} tokens of {args.recover_data} ({len(dataset)} windows available)", flush=True)
    model = recover(model, dataset, lora=args.recover == "lora", max_steps=args.recover_steps,
                    learning_rate=args.recover_lr, batch_size=args.recover_batch_size,
                    training_args={"disable_tqdm": False})
    if getattr(model.config, "hywia", None) is not None:
        model.config.hywia["recovery"]["data"] = args.recover_data
    return model
