"""Recovery after pruning: LoRA (LLM-Pruner's recipe, merged afterwards), full fine-tuning or distillation from the
dense model (`optimum_hywia.training.distillation`, LoRA or all weights), with a `Trainer`.

`prune_and_recover` is the one-call route: HyWIA pruning on calibration windows, then recovery training, then the
adapters merged so the result is a plain pruned model (`save_pretrained` writes a model that loads by name).
"""

from __future__ import annotations

import contextlib
import tempfile
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..configuration import HyWIAConfig
from ..data import load_text, tokenize_text
from .distillation import (
    DistillationConfig,
    WithTeacherTargets,
    copy_teacher,
    precompute_teacher_targets,
    rows_within_budget,
    recipe,
)
from ..hub.trainer import HyWIATrainer
from ..pruner import CalibrationInput, HyWIAPruner

# LLM-Pruner's recovery: LoRA r=8, alpha=16, dropout 0.05 on every linear projection of the decoder (q, k, v, o,
# gate, up, down in the Llama family; peft's "all-linear" finds the same set in every family, lm_head excluded).
LLM_PRUNER_LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "all-linear"}
LLM_PRUNER_LEARNING_RATE = 1e-4
# Recovery text by default: the calibration texts (Emma, Persuasion, the Jargon File's calibration slice), disjoint
# from every validation and evaluation text (perplexity sets and the offline zero-shot tasks).
DEFAULT_RECOVERY_DATA = "builtin:mixed"


def lora_config(**overrides: Any):
    """A `peft.LoraConfig` with LLM-Pruner's recipe; keyword arguments override single fields.

    Example:
        >>> config = lora_config(r=16)  # doctest: +SKIP
    """
    try:
        from peft import LoraConfig
    except ImportError as error:  # pragma: no cover - peft is a declared extra
        raise ImportError("LoRA recovery needs peft: pip install peft") from error
    return LoraConfig(task_type="CAUSAL_LM", **{**LLM_PRUNER_LORA, **overrides})


def text_dataset(tokenizer: Any, text: str | None = None, source: str | None = None, seq_len: int = 128,
                 max_windows: int | None = None) -> list[dict[str, torch.Tensor]]:
    """Non-overlapping windows of `seq_len` tokens of `text` (or of `source`, anything `load_text` accepts) as
    `{"input_ids", "labels"}` rows, ready for a causal-LM `Trainer`.

    Example:
        >>> rows = text_dataset(tokenizer, source="builtin:austen", seq_len=128)  # doctest: +SKIP
    """
    if (text is None) == (source is None):
        raise ValueError(f"Pass exactly one of `text` or `source`; got text={type(text).__name__}, source={source!r}.")
    if seq_len < 2:
        raise ValueError(f"`seq_len` must be >= 2, got {seq_len!r}.")
    raw = text if text is not None else load_text(source)
    ids = tokenize_text(raw, tokenizer, max_tokens=None if max_windows is None else max_windows * seq_len)
    count = ids.numel() // seq_len if max_windows is None else min(ids.numel() // seq_len, max_windows)
    if count == 0:
        raise ValueError(f"The text has {ids.numel()} tokens, fewer than one window of seq_len={seq_len}.")
    windows = ids[: count * seq_len].view(count, seq_len)
    return [{"input_ids": row, "labels": row} for row in windows]


def recover(model: nn.Module, train_dataset: Sequence | Any, *, lora: bool = True, lora_overrides: dict | None = None,
            max_steps: int = 200, learning_rate: float = LLM_PRUNER_LEARNING_RATE, batch_size: int = 4,
            output_dir: str | None = None, training_args: dict | None = None, callbacks: list | None = None,
            teacher: nn.Module | None = None, distillation: DistillationConfig | None = None,
            teacher_name: str | None = None) -> nn.Module:
    """Train `model` on `train_dataset` (LoRA adapters, or every weight with `lora=False`) and return it plain:
    adapters merged (`merge_and_unload`), eval mode, same class as given.

    With `teacher` (a frozen dense model, `distillation.copy_teacher`) or `distillation` settings and a dataset that
    carries precomputed teacher logits (`distillation.WithTeacherTargets`), the loss is the distillation loss of
    `DistillationConfig` instead of the language-model loss alone. The recipe lands in `config.hywia["recovery"]`.

    Example:
        >>> model = recover(pruned, text_dataset(tokenizer, source="builtin:austen"), max_steps=100)  # doctest: +SKIP
        >>> model = recover(pruned, rows, teacher=copy_teacher(dense), lora=False)                 # doctest: +SKIP
    """
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"`max_steps` must be an integer >= 1, got {max_steps!r}.")
    distil = teacher is not None or distillation is not None
    if distil and distillation is None:
        distillation = DistillationConfig()
    trained = model
    if lora:
        from peft import get_peft_model

        trained = get_peft_model(model, lora_config(**(lora_overrides or {})))
    with contextlib.ExitStack() as stack:  # without output_dir, the Trainer's folder is removed afterwards
        from transformers import TrainingArguments

        folder = output_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="hywia-recovery-"))
        arguments = dict(output_dir=folder, max_steps=max_steps, learning_rate=learning_rate,
                         per_device_train_batch_size=batch_size, save_strategy="no", report_to=[],
                         logging_steps=max(1, max_steps // 10), disable_tqdm=True, remove_unused_columns=False)
        trainer = HyWIATrainer(trained, TrainingArguments(**{**arguments, **(training_args or {})}),
                               train_dataset=train_dataset, callbacks=callbacks, teacher_model=teacher,
                               distillation=distillation)
        trainer.train()
    merged = trained.merge_and_unload() if lora else trained
    if getattr(getattr(merged, "config", None), "hywia", None) is not None:
        seq_len = len(train_dataset[0]["input_ids"]) if len(train_dataset) else 0
        merged.config.hywia["recovery"] = {
            "method": "distill" if distil else ("lora" if lora else "full"), "lora": lora, "max_steps": max_steps,
            "learning_rate": learning_rate, "batch_size": batch_size, "tokens": max_steps * batch_size * seq_len,
            **({**LLM_PRUNER_LORA, **(lora_overrides or {})} if lora else {}),
            **(recipe(distillation, teacher_name) if distil else {}),
        }
    return merged.eval()


def prune_and_recover(model: nn.Module, tokenizer: Any, config: HyWIAConfig, train_dataset: Sequence | Any = None, *,
                      text: str | None = None, source: str | None = None, lora: bool = True, max_steps: int = 200,
                      learning_rate: float = LLM_PRUNER_LEARNING_RATE, batch_size: int = 4, seq_len: int = 128,
                      calibration_data: CalibrationInput = None, lora_overrides: dict | None = None,
                      training_args: dict | None = None, save_directory: str | None = None,
                      on_pruned: Callable[[nn.Module], None] | None = None,
                      distillation: DistillationConfig | None = None) -> nn.Module:
    """Prune `model` with HyWIA, recover it (LoRA by default) and return the merged, plain pruned model.

    With `distillation`, recovery distils from `model` as it was before pruning: a frozen copy taken now (teacher
    logits on the fly), or its top-k logits written to a temporary folder before pruning for the rows the budget reads
    (`teacher_logits="precomputed"`: `max_steps` x `batch_size` rows drawn with the training seed, each read once).

    Training data: `train_dataset` (rows with `input_ids`, `labels`), or `text` / `source` cut into windows of
    `seq_len` tokens. Calibration for pruning: `calibration_data`, else `config.calibration.data` via `tokenizer`.
    With `save_directory`, the result is also saved there (with the tokenizer and `hywia_config.json`).
    `on_pruned(model)` is called between pruning and recovery (e.g. to score the pruned model before recovery).

    Example:
        >>> from optimum_hywia import HyWIAConfig
        >>> from optimum_hywia.training.recovery import prune_and_recover
        >>> model = prune_and_recover(model, tokenizer, HyWIAConfig(pruning_ratio=0.2, importance="hywia"),
        ...                           source="builtin:austen", max_steps=200)  # doctest: +SKIP
    """
    given = [name for name, value in (("train_dataset", train_dataset), ("text", text), ("source", source))
             if value is not None]
    if len(given) != 1:
        raise ValueError(f"Pass exactly one of train_dataset, text or source; got {given or 'none'}.")
    if train_dataset is None:
        train_dataset = text_dataset(tokenizer, text=text, source=source, seq_len=seq_len)
    with contextlib.ExitStack() as stack:
        teacher = None
        if distillation is not None and distillation.teacher_logits == "on_the_fly":
            teacher = copy_teacher(model)
        elif distillation is not None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="hywia-teacher-"))
            arguments = training_args or {}
            train_dataset = rows_within_budget(train_dataset, max_steps,
                                               batch_size * arguments.get("gradient_accumulation_steps", 1),
                                               arguments.get("seed", 0))
            path = precompute_teacher_targets(model, train_dataset, folder, distillation.top_k, batch_size)
            train_dataset = WithTeacherTargets(train_dataset, path)
        pruner = HyWIAPruner(config)
        model = pruner.prune(model, calibration_data, tokenizer)
        if on_pruned is not None:
            on_pruned(model)
        model = recover(model, train_dataset, lora=lora, lora_overrides=lora_overrides, max_steps=max_steps,
                        learning_rate=learning_rate, batch_size=batch_size, training_args=training_args,
                        teacher=teacher, distillation=distillation)
    if save_directory is not None:
        pruner.save_pretrained(model, save_directory, tokenizer=tokenizer)
    return model
