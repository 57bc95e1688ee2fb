"""What every importance criterion works with (`ScoringContext`) and what it hands on (`ImportanceResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from ..architectures import UnitGroup
from ..configuration import HyWIAConfig
from ..architectures.base import GroupKey
from .gradients import GradientAccumulator
from .statistics import CalibrationStatistics
from .units import Scores


@dataclass
class ScoringContext:
    """Everything a criterion may read. Criteria never change the model's weights.

    `statistics` computes gradient and activation statistics on demand, once per context, so several criteria and
    allocations share one pass; `accumulate` replaces the single-process gradient pass (e.g. sharded over ranks).
    `selection`: held-out windows [N, L] of another text (`config.calibration.selection_data`), never used for
    statistics or training; HyWIA picks its fusion step and its plan on them (None: it holds calibration windows out instead).

    Example:
        >>> context = HyWIAPruner(config).scoring_context(model, calibration, None)  # doctest: +SKIP
        >>> result = get_importance("element1").run(context)  # doctest: +SKIP
    """

    model: nn.Module
    layers: nn.ModuleList
    groups: list[UnitGroup]
    config: HyWIAConfig
    calibration: list[torch.Tensor] | None = None
    accumulate: GradientAccumulator | None = field(default=None, repr=False)
    selection: torch.Tensor | None = field(default=None, repr=False)
    statistics: CalibrationStatistics = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.statistics = CalibrationStatistics(self, self.accumulate)

    def layer_of(self, group: UnitGroup) -> nn.Module:
        return self.layers[group.layer]

    def sharing_statistics(self, config: HyWIAConfig) -> "ScoringContext":
        """The same model, groups and calibration under `config` (another ratio, allocation or criterion), sharing
        this context's statistics: what one computed, the other reads. The statistics keep the settings of this
        context's config (seed, `statistics_dtype`, gradient-pass options).

        Example:
            >>> at_half = context.sharing_statistics(dataclasses.replace(context.config, pruning_ratio=0.5))  # doctest: +SKIP
        """
        other = ScoringContext(self.model, self.layers, self.groups, config, self.calibration, self.accumulate,
                               self.selection)
        other.statistics = self.statistics
        return other


@dataclass
class ImportanceResult:
    """What a criterion hands to allocation and selection.

    `scores`: one float64 score per unit and group (higher: more important); selection keeps each group's
    highest. `budget_scores`: scores comparable *across* groups, which allocations that rank units over groups read
    (None: `scores`); a criterion whose scores are normalised within each group (HyWIA's learned fusion) gives its
    raw ones here. `removal`: the fraction of each group's units the criterion itself would remove (HyWIA's learned
    allocation; None for most criteria), read by allocations that take it. `report`: what the run learned,
    JSON-ready, for the summary; `metadata`: the part of it saved in the pruned model's `hywia` block.

    Example:
        >>> result = ImportanceResult({(0, "mlp"): torch.tensor([0.2, 0.9], dtype=torch.float64)})
        >>> result.removal is None, result.report
        (True, {})
    """

    scores: Scores
    removal: dict[GroupKey, float] | None = None
    report: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    budget_scores: Scores | None = None


Criterion = Callable[[ScoringContext], "ImportanceResult | Scores"]
