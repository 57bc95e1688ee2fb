"""HyWIACallback: HyWIA structured pruning inside a `transformers.Trainer` run (design: docs/callback.md).

Shapes stay fixed while training runs: a pruning stage only decides the kept units, zeroes the removed rows and
columns (and their optimizer state) and registers forward pre-hooks that zero each removed unit's output. The
optimizer, the DDP buckets and every `checkpoint-N` stay valid. `on_train_end` cuts the model physically and turns it
into the pruned-model type, so `trainer.save_model()` writes a pruned model that loads by name.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from ..architectures import UNIT_KINDS, get_architecture_spec
from ..configuration import HyWIAConfig
from ..data import load_calibration_data
from .distributed import all_gather_objects, broadcast_object, gradient_accumulator
from ..importance import Need, ScoringContext, available_importances, get_importance
from ..importance.gradient_pass import member_parameters
from ..importance.gradients import statistics_from_gradients
from ..surgery.masks import RemovedWeights, UnitMasks
from ..pruner import CalibrationInput, HyWIAPruner, calibration_batches
from ..peft_models import is_peft_model, unwrap_model
from .schedule import PruningSchedule, check_training_arguments, is_step
from ..allocation.budget import GroupKey
from ..summary import PruningSummary
from .state import (
    GRADIENTS_NAME,
    STATE_NAME,
    has_training_state,
    kept_from_json,
    kept_to_json,
    load_gradient_sums,
    load_training_state,
    save_training_state,
)

logger = logging.getLogger(__name__)

__all__ = ["GRADIENTS_NAME", "STATE_NAME", "HyWIACallback"]
STATISTICS = ("training", "calibration")


def training_gradient_criteria(config: HyWIAConfig) -> list[str]:
    """The criteria whose statistics summed training gradients can provide under `config` (declared needs)."""
    return [name for name in available_importances() if get_importance(name).can_use_training_gradients(
        dataclasses.replace(config, importance=name))]


class HyWIACallback(TrainerCallback):
    """Prune with HyWIA while a `Trainer` trains: one-shot at a step or in stages over a step range (by default, one
    shot after 10% of `max_steps`, so the other 90% recover).

    Statistics come from the training steps' gradients (`statistics="training"`, default for first-order Taylor
    criteria on trainable weights) or from calibration windows (`"calibration"`: `calibration_data` — token ids or a
    text source such as `"builtin:austen"` — or, when None, the first training windows since the last stage). Under
    DDP every rank prunes the same units. See docs/callback.md.

    Example:
        >>> from optimum_hywia import HyWIAConfig
        >>> from optimum_hywia.training.callback import HyWIACallback
        >>> callback = HyWIACallback(HyWIAConfig(pruning_ratio=0.2, importance="element1"), prune_at_step=8)
        >>> trainer = Trainer(model, args, train_dataset=data, callbacks=[callback])  # doctest: +SKIP
        >>> trainer.train(); trainer.save_model("pruned")  # doctest: +SKIP
    """

    def __init__(self, config: HyWIAConfig, prune_at_step: int | None = None, prune_steps: tuple | None = None,
                 calibration_data: CalibrationInput | str = None, tokenizer: Any = None, statistics: str | None = None,
                 ratio_schedule: str = "linear", statistics_window: int | None = None, resume_from: str | None = None):
        if not isinstance(config, HyWIAConfig):
            raise TypeError(f"`config` must be a HyWIAConfig, got {type(config).__name__}.")
        if statistics is not None and statistics not in STATISTICS:
            raise ValueError(f"`statistics` must be one of {list(STATISTICS)} or None, got {statistics!r}.")
        if statistics == "training" and not self._training_statistics_apply(config):
            raise ValueError(f"`statistics='training'` gives first-order Taylor statistics: importance must be one of "
                             f"{training_gradient_criteria(config)} (taylor_order={config.taylor_order}), got "
                             f"`{config.importance}`. Use statistics='calibration'.")
        if statistics_window is not None and (not is_step(statistics_window) or statistics_window < 1):
            raise ValueError(f"`statistics_window` must be an integer >= 1 or None, got {statistics_window!r}.")
        self.config, self.schedule = config, PruningSchedule.build(config.pruning_ratio, prune_at_step, prune_steps,
                                                                   ratio_schedule)
        self._default_schedule = self.schedule is None  # built from max_steps in on_train_begin
        if statistics == "training" and not self._default_schedule and self.schedule.steps[0] == 0:
            raise ValueError("`statistics='training'` cannot prune at step 0 (no gradient yet): prune at a step >= 1 "
                             "or use statistics='calibration'.")
        self.calibration_data, self.tokenizer, self.resume_from = calibration_data, tokenizer, resume_from
        self.requested_statistics, self.statistics_window = statistics, statistics_window
        self.statistics: str | None = None
        self.summary: PruningSummary | None = None
        self._reset()

    @property
    def has_pruned(self) -> bool:
        """Whether a pruning stage has run in this training run (units chosen, masks on or the model cut)."""
        return self.kept is not None

    @staticmethod
    def _training_statistics_apply(config: HyWIAConfig) -> bool:
        return get_importance(config.importance).can_use_training_gradients(config)

    def _reset(self) -> None:
        self.kept: dict[GroupKey, torch.Tensor] | None = None
        self._cut = False
        self.history: list[dict] = []
        self._next_stage, self._grads, self._windows, self._local_windows = 0, None, [], []
        self._masks: UnitMasks | None = None
        self._removed: RemovedWeights | None = None
        self._capture_handle, self._report, self._metadata = None, {}, {}

    # ---- Trainer events -------------------------------------------------------------------------------------
    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       model: nn.Module = None, optimizer: Any = None, processing_class: Any = None, **kwargs):
        check_training_arguments(args)
        if self._default_schedule:
            self.schedule = PruningSchedule.default(self.config.pruning_ratio, state.max_steps)
        self.schedule.check(state.max_steps)
        self._reset()
        self._base = unwrap_model(model)
        self._groups = HyWIAPruner(self.config).unit_groups(self._base)
        self._params = member_parameters(self._context(HyWIAPruner(self.config), None))
        self._resolve_statistics()
        self._calibration = self._fixed_calibration(self.tokenizer or processing_class)
        self._capture = self._calibration is None and self._needs_windows()
        if self._capture and self.schedule.steps[0] == 0:
            raise ValueError(f"Pruning at step 0 with `{self.config.importance}` needs calibration windows before any "
                             "training batch: pass `calibration_data` (token ids or a text source such as "
                             "'builtin:austen').")
        if state.global_step > 0:
            self._restore(args, state)
        if self._capture:
            self._capture_handle = model.register_forward_pre_hook(self._capture_windows, with_kwargs=True)
        if self._pending() and self.statistics == "training" and self._grads is None:
            self._grads = [torch.zeros_like(p, dtype=torch.float32) for p in self._params]
        if self._pending() and self.schedule.steps[self._next_stage] == state.global_step:
            self._prune_stage(state, optimizer)

    def on_pre_optimizer_step(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        if self._grads is None or not self._pending():
            return
        steps_left = self.schedule.steps[self._next_stage] - (state.global_step + 1)
        if self.statistics_window is not None and steps_left >= self.statistics_window:
            return
        for accumulated, parameter in zip(self._grads, self._params):
            if parameter.grad is not None:
                accumulated.add_(parameter.grad.detach().to(accumulated.dtype))

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    optimizer: Any = None, **kwargs):
        if self._capture and self._pending() and len(self._windows) < self.config.calibration.num_samples:
            for windows in all_gather_objects(self._local_windows):  # the same list, in rank order, on every rank
                self._windows.extend(windows)
            del self._windows[self.config.calibration.num_samples:]
            self._local_windows = []
        if self._pending() and state.global_step == self.schedule.steps[self._next_stage]:
            self._prune_stage(state, optimizer)
        self._zero_removed()

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if args.should_save and folder.is_dir():
            self.save_state(folder)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     model: nn.Module = None, **kwargs):
        if self._capture_handle is not None:
            self._capture_handle.remove()
        if self._pending():
            logger.warning("Training ended before pruning stage %d (step %d); the model keeps the units of the "
                           "stages done.", self._next_stage, self.schedule.steps[self._next_stage])
        if is_peft_model(model):
            logger.info("HyWIACallback: a peft model keeps its masks; call `callback.finalize(trainer.model)` to merge "
                        "the adapters and cut the model.")
        else:
            self.finalize(model)

    # ---- pruning ----------------------------------------------------------------------------------------------
    def _context(self, pruner: HyWIAPruner, calibration: list[torch.Tensor] | None) -> ScoringContext:
        return pruner.context(self._base, self._groups, calibration, gradient_accumulator())

    def _pending(self) -> bool:
        return self._next_stage < len(self.schedule.steps)

    def _resolve_statistics(self) -> None:
        trainable = all(p.requires_grad for p in self._params)
        if self.requested_statistics == "training" and not trainable:
            raise ValueError("`statistics='training'` needs trainable member weights, but some are frozen (a peft/LoRA "
                             "model?): use statistics='calibration' with calibration_data.")
        applies = trainable and self.schedule.steps[0] > 0 and self._training_statistics_apply(self.config)
        default = "training" if applies else "calibration"
        self.statistics = self.requested_statistics or default

    def _needs_windows(self) -> bool:
        needs = get_importance(self.config.importance).needs(self.config)
        return Need.WINDOWS in needs or (self.statistics == "calibration" and bool(needs))

    def _fixed_calibration(self, tokenizer: Any) -> list[torch.Tensor] | None:
        data, config = self.calibration_data, self.config
        if data is None:
            return None
        if isinstance(data, str):
            if tokenizer is None:
                raise ValueError(f"`calibration_data`={data!r} is text: pass `tokenizer` or give the Trainer one.")
            data = load_calibration_data(data, tokenizer, config.calibration.num_samples, config.calibration.seq_len,
                                         config.seed)
        return calibration_batches(data)

    def _capture_windows(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Keep training rows (without padding) as calibration windows until enough are gathered."""
        wanted = self.config.calibration.num_samples - len(self._windows) - len(self._local_windows)
        ids = kwargs.get("input_ids", args[0] if args else None)
        if not module.training or not self._pending() or wanted <= 0 or not isinstance(ids, torch.Tensor):
            return
        mask = kwargs.get("attention_mask")
        rows = [i for i in range(len(ids)) if mask is None or bool(mask[i].all())][:wanted]
        self._local_windows.extend(ids[i, : self.config.calibration.seq_len].detach().cpu() for i in rows)

    def _stage_calibration(self) -> list[torch.Tensor] | None:
        if self._calibration is not None or not self._capture:
            return self._calibration
        if not self._windows:
            raise RuntimeError("No calibration window was seen in the training batches since the last stage (rows "
                               "with padding are skipped): pass `calibration_data` to HyWIACallback.")
        length = min(len(window) for window in self._windows)
        return calibration_batches(torch.stack([window[:length] for window in self._windows]))

    def _prune_stage(self, state: TrainerState, optimizer: Any) -> None:
        stage = self._next_stage
        pruner = HyWIAPruner(dataclasses.replace(self.config, pruning_ratio=self.schedule.ratios[stage]))
        context = self._context(pruner, self._stage_calibration())
        if self.statistics == "training":
            context.statistics.provide_taylor(statistics_from_gradients(context, self._params, list(self._grads)))
        result = pruner.score(context)
        self.kept = broadcast_object(pruner.plan(context, result, self.kept))  # rank 0 decides for every rank
        self._apply_masks()
        if self._removed is not None:
            self._removed.zero_optimizer_state(optimizer)
        self._report, self._metadata = result.report, result.metadata
        self.history.append(self._stage_record(stage, state.global_step, pruner.config.pruning_ratio))
        self._next_stage += 1
        self._windows, self._local_windows = [], []
        self._grads = [g.zero_() for g in self._grads] if self._grads is not None and self._pending() else None

    def _stage_record(self, stage: int, step: int, ratio: float) -> dict:
        removed = {kind: sum(g.num_units - len(self.kept[g.key]) for g in self._groups if g.kind == kind)
                   for kind in UNIT_KINDS}
        total = sum(g.num_units * g.params_per_unit for g in self._groups)
        kept = sum(len(self.kept[g.key]) * g.params_per_unit for g in self._groups)
        return {"stage": stage, "step": step, "ratio": ratio, "statistics": self.statistics,
                "removed_units": removed, "prunable_params_kept": kept / total}

    # ---- masks ----------------------------------------------------------------------------------------------
    def _apply_masks(self) -> None:
        """Pre-hooks zeroing each removed unit's output; removed rows/columns (and bias entries) set to zero."""
        self._remove_masks()
        layers = get_architecture_spec(self._base).layers(self._base)
        self._masks = UnitMasks.keeping(layers, self._groups, self.kept).attach()
        self._removed = RemovedWeights(layers, self._groups, self.kept)
        self._zero_removed()

    def _remove_masks(self) -> None:
        if self._masks is not None:
            self._masks.detach()
        self._masks = self._removed = None

    def _zero_removed(self) -> None:
        if self._removed is not None:
            self._removed.zero_()

    # ---- the end: a physically smaller model ------------------------------------------------------------------
    def finalize(self, model: nn.Module) -> nn.Module:
        """Merge peft adapters (if any), cut the removed units and return the pruned-model type (in place).

        Example:
            >>> model = callback.finalize(trainer.model)  # doctest: +SKIP
        """
        if is_peft_model(model):
            model = model.merge_and_unload()
        if self.kept is None or self._cut:
            return model
        self._remove_masks()
        pruner = HyWIAPruner(self.config)
        pruner.cut(model, pruner.unit_groups(model), self.kept, {**self._report, "stages": self.history},
                   self._metadata)
        self.summary = pruner.summary
        model.config.hywia.update(pruned_during_training=self.history, statistics=self.statistics)
        self._cut = True
        return model

    # ---- checkpoints ------------------------------------------------------------------------------------------
    def save_state(self, folder: str | os.PathLike) -> None:
        """Write `hywia_state.json` (kept units, stage, windows) and, mid-stage, the gradient sums into `folder`."""
        state = {**self._state_identity(), "statistics": self.statistics, "next_stage": self._next_stage,
                 "history": self.history, "windows": [w.tolist() for w in self._windows],
                 "kept": kept_to_json(self.kept)}
        save_training_state(folder, state, self._grads)

    def _state_identity(self) -> dict[str, Any]:
        """What a resumed run must share with the run that saved the state."""
        return {"config": self.config.to_dict(), "schedule": dataclasses.asdict(self.schedule)}

    def _restore(self, args: TrainingArguments, state: TrainerState) -> None:
        folder = Path(self.resume_from or Path(args.output_dir) / f"checkpoint-{state.global_step}")
        if not has_training_state(folder):
            if state.global_step >= self.schedule.steps[0]:
                raise FileNotFoundError(f"Resuming a pruned run at step {state.global_step}: no {STATE_NAME} in "
                                        f"{folder}. Pass HyWIACallback(..., resume_from=<the checkpoint folder>).")
            logger.warning("No %s in %s: gradient statistics restart at step %d.", STATE_NAME, folder, state.global_step)
            return
        saved = load_training_state(folder, self._state_identity())
        self._next_stage, self.history = saved["next_stage"], saved["history"]
        self._windows = [torch.tensor(w, dtype=torch.long) for w in saved["windows"]]
        self.kept = kept_from_json(saved["kept"])
        if self.kept is not None:
            self._apply_masks()
        grads = load_gradient_sums(folder, [p.device for p in self._params]) if self._pending() else None
        if grads is not None:
            self._grads = grads
