"""`CalibrationStatistics`: what criteria and allocations read about the model's behaviour, computed on demand.

A criterion declares what it needs (`Need`); the statistics are computed the first time someone asks, once per
scoring context, from the calibration batches (`gradients.taylor_statistics`, `activation_stats.activation_statistics`),
from gradients summed elsewhere (`provide_taylor`: the callback's training gradients), or through a different
gradient pass (`accumulate`: `distributed` shards the batches over ranks).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from .activation_stats import ActivationSums, activation_statistics
from .gradients import GradientAccumulator, Statistics, taylor_statistics
from ..architectures.base import GroupKey

if TYPE_CHECKING:
    from .base import ScoringContext


class Need(enum.Enum):
    """What a criterion or allocation reads besides the weights."""

    TAYLOR = "taylor"  # first-order Taylor statistics: one gradient pass (or summed training gradients)
    TAYLOR2 = "taylor2"  # second-order Taylor statistics: per-sequence passes, diagonal Fisher
    ACTIVATIONS = "activations"  # per-feature input sums of the output projections
    WINDOWS = "windows"  # the calibration windows themselves (e.g. to train on)
    SELECTION = "selection"  # held-out windows of `config.calibration.selection_data` (HyWIA picks step and plan)


# what summed training gradients can stand in for (the callback's `statistics="training"`)
FROM_TRAINING_GRADIENTS = frozenset({Need.TAYLOR})


class CalibrationStatistics:
    """The statistics of one scoring context, each computed at most once.

    Example:
        >>> context = pruner.scoring_context(model, calibration, None)  # doctest: +SKIP
        >>> context.statistics.taylor()[(3, "mlp")].fine1  # doctest: +SKIP
        >>> context.statistics.computed() == {Need.TAYLOR}  # doctest: +SKIP
        True
    """

    def __init__(self, context: "ScoringContext", accumulate: GradientAccumulator | None = None):
        self._context, self._accumulate = context, accumulate
        self._taylor: dict[Need, Statistics] = {}
        self._activations: dict[GroupKey, ActivationSums] | None = None

    def taylor(self, second_order: bool = False) -> Statistics:
        """Per-group `TaylorStatistics`; `second_order=True`: from the per-sequence pass, with the Fisher terms."""
        need = Need.TAYLOR2 if second_order else Need.TAYLOR
        if need not in self._taylor:
            self._taylor[need] = taylor_statistics(self._context, second_order, accumulate=self._accumulate)
        return self._taylor[need]

    def activations(self) -> dict[GroupKey, ActivationSums]:
        """Per-group `ActivationSums` of the output projections' inputs."""
        if self._activations is None:
            self._activations = activation_statistics(self._context)
        return self._activations

    def provide_taylor(self, statistics: Statistics) -> None:
        """Use `statistics` (e.g. from training gradients, `gradients.statistics_from_gradients`) as first order."""
        self._taylor[Need.TAYLOR] = statistics

    def computed(self) -> set[Need]:
        """The statistics held so far."""
        return set(self._taylor) | ({Need.ACTIVATIONS} if self._activations is not None else set())
