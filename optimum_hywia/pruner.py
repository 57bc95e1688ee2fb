"""HyWIAPruner: calibrate → score → allocate and select → surgery → pruned-model type."""

from __future__ import annotations

import os
from typing import Any, Iterable

import torch
from torch import nn

from .allocation.strategies import plan_pruning
from .architectures import UNIT_KINDS, UnitGroup, get_architecture_spec
from .configuration import CONFIG_NAME, HyWIAConfig, recipe_json
from .data import load_calibration_data
from .data.checkpoint import check_tokenizer_fits
from .training.distributed import broadcast_object
from .finite import check_scores, check_weights
from .fsdp import gather_pruned
from .importance import ImportanceResult, ScoringContext, get_importance
from .importance.gradients import GradientAccumulator
from .importance.sharded import is_fully_sharded
from .importance.statistics import Need
from .modeling import save_pruned_model, to_pruned_model
from .modeling.modeling_hywia_base import FORMAT_VERSION
from .placement import check_placement
from .summary import PruningSummary
from .surgery.cut import apply_plan
from .version import __version__

CalibrationInput = torch.Tensor | Iterable[Any] | None


def count_parameters(model: nn.Module) -> int:
    """Parameters of `model`, tied weights counted once."""
    return sum(parameter.numel() for parameter in model.parameters())


def calibration_batches(data: CalibrationInput, batch_size: int = 4) -> list[torch.Tensor]:
    """Normalise calibration input to a list of LongTensor batches [b, L].

    Accepts a LongTensor [N, L] (split into batches) or an iterable of batches, each a LongTensor or a mapping
    with `input_ids`.
    """
    if isinstance(data, torch.Tensor):
        if data.dim() != 2 or data.dtype != torch.long:
            raise ValueError(f"Calibration tensor must be a LongTensor [N, L], got {data.dtype} {tuple(data.shape)}.")
        return list(data.split(batch_size))
    batches = []
    for batch in data:
        ids = batch["input_ids"] if isinstance(batch, dict) or hasattr(batch, "keys") else batch
        ids = torch.as_tensor(ids)
        batches.append(ids.unsqueeze(0) if ids.dim() == 1 else ids)
    if not batches:
        raise ValueError("Calibration data is empty.")
    return batches


class HyWIAPruner:
    """Structured pruning of a causal LM in place.

    Example:
        >>> from optimum_hywia import HyWIAConfig, HyWIAPruner
        >>> pruner = HyWIAPruner(HyWIAConfig(pruning_ratio=0.2))  # doctest: +SKIP
        >>> model = pruner.prune(model, tokenizer=tokenizer)  # doctest: +SKIP
        >>> print(pruner.summary)  # doctest: +SKIP
        >>> pruner.save_pretrained(model, "pruned", tokenizer=tokenizer)  # doctest: +SKIP
    """

    def __init__(self, config: HyWIAConfig | None = None, **config_kwargs: Any):
        if config is not None and config_kwargs:
            raise ValueError("Pass either a HyWIAConfig or keyword arguments for one, not both.")
        self.config = config if config is not None else HyWIAConfig(**config_kwargs)
        self.summary: PruningSummary | None = None

    def prune(
        self, model: nn.Module, calibration_data: CalibrationInput = None, tokenizer: Any = None
    ) -> nn.Module | None:
        """Prune `model` in place and return it as the pruned-model type; `self.summary` says what changed.

        A model sharded with FSDP2 (`fsdp.shard_model`; every rank calls `prune`) is scored where it lies and
        gathered, pruned, on rank 0, which gets the pruned model; the other ranks get None. The sharded model is used
        up by the gathering (its shards are freed as they are gathered), as one process's model is cut in place."""
        context = self.scoring_context(model, calibration_data, tokenizer)
        return self.apply(model, context, self.score(context))

    def score(self, context: ScoringContext) -> ImportanceResult:
        """Run the configured criterion on `context`; non-finite scores are one clear error."""
        result = get_importance(self.config.importance).run(context)
        check_scores(result.scores, self.config.importance)
        return result

    def plan(
        self, context: ScoringContext, result: ImportanceResult, previous: dict | None = None
    ) -> dict[tuple[int, str], torch.Tensor]:
        """Kept unit indices per group under the configured allocation; `previous`: what an earlier stage kept
        (each stage keeps a subset of it)."""
        return plan_pruning(context, result.scores, self.config.resolved_allocation, result.removal, previous,
                            result.budget_scores)

    def apply(self, model: nn.Module, context: ScoringContext, result: ImportanceResult) -> nn.Module:
        """Allocate, select and cut `model` from `result` computed on `context` (the same model or an identical copy).

        Splitting scoring from applying lets one scoring pass serve several allocations.
        """
        return self.cut(model, context.groups, self.plan(context, result), result.report, result.metadata)

    def cut(
        self,
        model: nn.Module,
        groups: list[UnitGroup],
        plan: dict,
        extras: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> nn.Module | None:
        """Remove every unit not in `plan` (kept unit indices per group), make `model` the pruned-model type and
        record `self.summary`; `extras` (e.g. the learned blend) go into the summary, `metadata` into the config's
        `hywia` block. An FSDP2-sharded `model` is cut while it is gathered on rank 0 (rank 0's plan for every
        rank); the other ranks get None and no summary."""
        extras = extras or {}
        spec = get_architecture_spec(model)
        params_before = count_parameters(model)
        widths_before = [spec.read_widths(layer) for layer in spec.layers(model)]
        if is_fully_sharded(model):
            plan = broadcast_object(plan)
            model = gather_pruned(model, spec, groups, plan)
            if model is None:
                self.summary = None
                return None
            widths_after = apply_plan(model, spec, [], {})  # the layers are cut already: widths read and set
        else:
            widths_after = apply_plan(model, spec, groups, plan)
        pruned_layers = sorted({group.layer for group in groups})
        to_pruned_model(model, widths_after, self._metadata(model, pruned_layers, widths_before))
        self.summary = PruningSummary(
            params_before, count_parameters(model), widths_before, widths_after, pruned_layers, extras
        )
        model.config.hywia.update(params_before=params_before, params_after=self.summary.params_after)
        model.config.hywia.update(metadata or {})
        return model

    def unit_groups(self, model: nn.Module) -> list[UnitGroup]:
        """The unit groups this config prunes in `model` (raises for an unsupported architecture)."""
        config = self.config
        spec = get_architecture_spec(model)
        layers = spec.layers(model)
        kinds = [kind for kind, wanted in zip(UNIT_KINDS, (config.prune_attention, config.prune_mlp)) if wanted]
        return [
            group
            for index in config.pruned_layers(len(layers))
            for group in spec.unit_groups(layers[index], index, model.config, config.gqa_mode)
            if group.kind in kinds
        ]

    def scoring_context(
        self,
        model: nn.Module,
        calibration_data: CalibrationInput,
        tokenizer: Any,
        accumulate: GradientAccumulator | None = None,
    ) -> ScoringContext:
        """The unit groups of the pruned layers and, when the criterion needs it, the calibration batches;
        `accumulate` replaces the single-process gradient pass (e.g. `training.distributed.sharded_gradients`)."""
        groups = self.unit_groups(model)  # first: an unsupported model fails before any calibration work
        check_placement(model)
        check_weights(model)
        if tokenizer is not None:
            check_tokenizer_fits(tokenizer, model.get_input_embeddings().num_embeddings)
        calibration, selection = None, None
        needs = get_importance(self.config.importance).needs(self.config)
        if needs:
            calibration = calibration_batches(self._calibration_input(calibration_data, tokenizer))
        if Need.SELECTION in needs and tokenizer is not None:
            selection = self.selection_windows(tokenizer)
        return self.context(model, groups, calibration, accumulate, selection)

    def selection_windows(self, tokenizer: Any) -> torch.Tensor:
        """`selection_samples` windows of `config.calibration.selection_data` (a text apart from the calibration
        text), as long as the fusion's training windows (`fusion_seq_len`, at most `calibration_seq_len`)."""
        config = self.config
        length = min(config.fusion.seq_len or config.calibration.seq_len, config.calibration.seq_len)
        texts = config.calibration
        return load_calibration_data(texts.selection_data, tokenizer, texts.selection_samples, length, config.seed)

    def context(
        self,
        model: nn.Module,
        groups: list[UnitGroup],
        calibration: list[torch.Tensor] | None,
        accumulate: GradientAccumulator | None = None,
        selection: torch.Tensor | None = None,
    ) -> ScoringContext:
        """A scoring context over `groups` of `model` with this config (`selection`: held-out pick windows)."""
        layers = get_architecture_spec(model).layers(model)
        return ScoringContext(model, layers, groups, self.config, calibration, accumulate, selection)

    def _calibration_input(self, calibration_data: CalibrationInput, tokenizer: Any) -> CalibrationInput:
        if calibration_data is not None:
            return calibration_data
        if tokenizer is None:
            raise ValueError(
                f"Importance `{self.config.importance}` needs calibration data: pass `calibration_data` (token ids) "
                "or a `tokenizer` to sample from `config.calibration.data`."
            )
        config = self.config
        return load_calibration_data(
            config.calibration.data, tokenizer, config.calibration.num_samples, config.calibration.seq_len, config.seed
        )

    def _metadata(self, model: nn.Module, pruned_layers: list[int], widths_before: list[dict]) -> dict[str, Any]:
        """The `hywia` block of the pruned model's config: how it was made, so it can be audited and rebuilt."""
        config = self.config
        return {
            "format_version": FORMAT_VERSION,
            "optimum_hywia_version": __version__,
            "base_model": getattr(model.config, "_name_or_path", None) or None,
            "importance": config.importance,
            "pruning_ratio": config.pruning_ratio,
            "allocation": config.resolved_allocation,
            "gqa_mode": config.gqa_mode,
            "target": config.target,
            "round_to": config.round_to,
            "pruned_layers": pruned_layers,
            "widths_before": widths_before,
            "recipe": config.to_dict(),
        }

    def save_pretrained(
        self,
        model: nn.Module,
        save_directory: str | os.PathLike,
        tokenizer: Any = None,
        as_original_architecture: bool = False,
        extra_files: dict[str, str] | None = None,
        overwrite: bool = False,
    ) -> None:
        """Save the pruned model (safetensors), its tokenizer, `hywia_config.json` and `extra_files`, atomically.

        An existing `save_directory` is replaced only when it is a previous optimum-hywia save or `overwrite=True`.
        """
        save_pruned_model(
            model,
            save_directory,
            tokenizer=tokenizer,
            as_original_architecture=as_original_architecture,
            extra_files={CONFIG_NAME: recipe_json(self.config.to_recipe()), **(extra_files or {})},
            overwrite=overwrite,
        )
